//! A key's secret, from the file, an environment variable or a file of its own.

use std::path::Path;

use tower_hmac_core::SecretKey;
use zeroize::Zeroize as _;

use super::RegistryFileError;
use super::raw::RawKey;

/// How `secret_env` variables are read: the process environment, or a test's own.
pub(super) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

pub(super) fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

pub(super) fn load_secret(
    app: &str,
    key: &RawKey,
    base: &Path,
    env: &Env<'_>,
) -> Result<SecretKey, RegistryFileError> {
    let invalid = |source| RegistryFileError::InvalidSecret {
        app: app.to_owned(),
        key: key.id.get_ref().clone(),
        source,
    };
    let from_env = |var: &String| {
        env(var).ok_or_else(|| RegistryFileError::MissingEnv {
            app: app.to_owned(),
            key: key.id.get_ref().clone(),
            var: var.clone(),
        })
    };
    let given = [
        key.secret.is_some(),
        key.secret_env.is_some(),
        key.secret_file.is_some(),
        key.secret_text.is_some(),
        key.secret_text_env.is_some(),
        key.secret_text_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(RegistryFileError::SecretSource {
            app: app.to_owned(),
            key: key.id.get_ref().clone(),
        });
    }
    // The secret's text, and whether it is a provider's string rather than Base64.
    let first: Result<(String, bool), RegistryFileError> =
        match (&key.secret, &key.secret_env, &key.secret_file) {
            (Some(inline), _, _) => Ok((inline.clone(), false)),
            (_, Some(var), _) => from_env(var).map(|s| (s, false)),
            (_, _, Some(file)) => read_secret_file(&base.join(file)).map(|s| (s, false)),
            _ => match (
                &key.secret_text,
                &key.secret_text_env,
                &key.secret_text_file,
            ) {
                (Some(inline), _, _) => Ok((inline.clone(), true)),
                (_, Some(var), _) => from_env(var).map(|s| (s, true)),
                (_, _, Some(file)) => read_secret_file(&base.join(file)).map(|s| (s, true)),
                _ => Err(RegistryFileError::SecretSource {
                    app: app.to_owned(),
                    key: key.id.get_ref().clone(),
                }),
            },
        };
    let (mut value, text) = first?;
    let secret = if text {
        SecretKey::from_text(&value)
    } else {
        SecretKey::from_base64(&value)
    }
    .map_err(invalid);
    value.zeroize();
    secret
}

/// The most a `secret_file` may hold: a Base64 key of the longest length with room for white
/// space. A larger file (or `/dev/zero`) is refused instead of read without bound.
const MAX_SECRET_FILE: u64 = 4096;

fn read_secret_file(path: &Path) -> Result<String, RegistryFileError> {
    use std::io::Read as _;
    let io = |source| RegistryFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_SECRET_FILE {
        text.zeroize();
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "secret file larger than 4096 bytes",
        )));
    }
    Ok(text)
}
