//! The app and key ids of a file, checked without resolving any secret.

use std::path::Path;

use tower_hmac_core::is_valid_key_id;
use zeroize::Zeroize as _;

use super::RegistryFileError;
use super::raw::{RawFile, line_of, parse_raw};

/// The app and key ids of a registry file, read without resolving any secret (no environment
/// variable or secret file is read), checked as loading checks them: the file's shape, the id
/// grammar, no app id with two `[[apps]]` blocks, no key id twice.
///
/// For tools that add to a file: `tower-hmac keygen --registry FILE` prints only the
/// `[[apps.keys]]` entry for an app the file already has.
///
/// ```
/// use tower_hmac::registry::RegistryFileOutline;
///
/// let outline = RegistryFileOutline::from_toml_str(
///     "[[apps]]\nid = \"partner\"\n\n[[apps.keys]]\nid = \"partner-1\"\nsecret_env = \"KEY\"\n",
/// )?;
/// assert_eq!(outline.app_line("partner"), Some(2));
/// assert_eq!(outline.app_of_key("partner-1"), Some("partner"));
/// assert_eq!(outline.app_line("other"), None);
/// # Ok::<(), tower_hmac::RegistryFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryFileOutline {
    /// Each app: its id, the line of its `id`, its key ids.
    apps: Vec<OutlineApp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OutlineApp {
    id: String,
    line: usize,
    keys: Vec<(String, usize)>,
}

impl RegistryFileOutline {
    /// Reads the outline of registry TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, RegistryFileError> {
        Self::of(&parse_raw(text)?, text)
    }

    /// Reads the outline of a registry file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, RegistryFileError> {
        let path = path.as_ref();
        let mut text = std::fs::read_to_string(path).map_err(|source| RegistryFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let outline = Self::from_toml_str(&text);
        text.zeroize();
        outline
    }

    /// The line (1-based) of the `id` of this app's `[[apps]]` block, if the file has the app.
    pub fn app_line(&self, app_id: &str) -> Option<usize> {
        self.apps.iter().find(|a| a.id == app_id).map(|a| a.line)
    }

    /// The app that has this key id, if the file has the key.
    pub fn app_of_key(&self, key_id: &str) -> Option<&str> {
        self.key(key_id).map(|(app, _)| app)
    }

    /// The line (1-based) of this key's `id`, if the file has the key.
    pub fn key_line(&self, key_id: &str) -> Option<usize> {
        self.key(key_id).map(|(_, line)| line)
    }

    /// Whether this app's block is the file's last `[[apps]]` block (an `[[apps.keys]]` entry
    /// appended at the end of the file joins the last block).
    pub fn is_last_app(&self, app_id: &str) -> bool {
        self.apps.last().is_some_and(|a| a.id == app_id)
    }

    fn key(&self, key_id: &str) -> Option<(&str, usize)> {
        self.apps.iter().find_map(|app| {
            app.keys
                .iter()
                .find(|(id, _)| id == key_id)
                .map(|(_, line)| (app.id.as_str(), *line))
        })
    }

    /// The ids of a parsed file, checked (the one place where id errors are found).
    pub(super) fn of(raw: &RawFile, text: &str) -> Result<Self, RegistryFileError> {
        let mut outline = Self {
            apps: Vec::with_capacity(raw.apps.len()),
        };
        for app in &raw.apps {
            let app_id = app.id.get_ref();
            if !is_valid_key_id(app_id) {
                return Err(RegistryFileError::InvalidId {
                    what: "app",
                    id: app_id.clone(),
                });
            }
            let line = line_of(text, app.id.span().start);
            if let Some(first_line) = outline.app_line(app_id) {
                return Err(RegistryFileError::DuplicateAppId {
                    app: app_id.clone(),
                    first_line,
                    line,
                });
            }
            let mut keys = Vec::with_capacity(app.keys.len());
            for key in &app.keys {
                let key_id = key.id.get_ref();
                if !is_valid_key_id(key_id) {
                    return Err(RegistryFileError::InvalidId {
                        what: "key",
                        id: key_id.clone(),
                    });
                }
                let key_line = line_of(text, key.id.span().start);
                let earlier = outline
                    .key_line(key_id)
                    .or_else(|| keys.iter().find(|(id, _)| id == key_id).map(|(_, l)| *l));
                if let Some(first_line) = earlier {
                    return Err(RegistryFileError::DuplicateKeyId {
                        key: key_id.clone(),
                        first_line,
                        line: key_line,
                    });
                }
                keys.push((key_id.clone(), key_line));
            }
            outline.apps.push(OutlineApp {
                id: app_id.clone(),
                line,
                keys,
            });
        }
        Ok(outline)
    }
}
