//! The file's shape as read (before any secret is resolved), and where in the text an error is.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Deserialize;
use zeroize::Zeroize as _;

use super::RegistryFileError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) apps: Vec<RawApp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub(super) id: toml::Spanned<String>,
    /// What the app may call (every key of it, unless a key lists its own).
    pub(super) scopes: Option<Vec<String>>,
    #[serde(default)]
    pub(super) keys: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    pub(super) id: toml::Spanned<String>,
    pub(super) secret: Option<String>,
    pub(super) secret_env: Option<String>,
    pub(super) secret_file: Option<PathBuf>,
    pub(super) secret_text: Option<String>,
    pub(super) secret_text_env: Option<String>,
    pub(super) secret_text_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) revoked: bool,
    pub(super) schemes: Option<Vec<String>>,
    pub(super) not_before: Option<RawTime>,
    pub(super) not_after: Option<RawTime>,
    /// This key's scopes, instead of its app's.
    pub(super) scopes: Option<Vec<String>>,
}

/// A validity bound: an RFC 3339 string, or TOML's own offset date-time.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawTime {
    Text(String),
    Toml(toml::value::Datetime),
}

impl RawTime {
    pub(super) fn parse(
        &self,
        app: &str,
        key: &str,
        field: &'static str,
    ) -> Result<SystemTime, RegistryFileError> {
        let text = match self {
            Self::Text(text) => text.clone(),
            Self::Toml(datetime) => datetime.to_string(),
        };
        let invalid = |message: &str| RegistryFileError::InvalidTime {
            app: app.to_owned(),
            key: key.to_owned(),
            field,
            message: message.to_owned(),
        };
        let parsed =
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    invalid(
                        "expected an RFC 3339 date-time with an offset, e.g. 2026-12-01T00:00:00Z",
                    )
                })?;
        Ok(SystemTime::from(parsed))
    }
}

impl Drop for RawKey {
    fn drop(&mut self) {
        for secret in [self.secret.as_mut(), self.secret_text.as_mut()]
            .into_iter()
            .flatten()
        {
            secret.zeroize();
        }
    }
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

pub(super) fn parse_raw(text: &str) -> Result<RawFile, RegistryFileError> {
    toml::from_str(text).map_err(|e| RegistryFileError::Syntax {
        line: e.span().map_or(0, |s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })
}

impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawKey")
            .field("id", self.id.get_ref())
            .finish_non_exhaustive()
    }
}
