//! Loading the key: from a file or the environment, never from an argument.

use std::path::Path;

use tower_hmac_core::{SecretKey, Signer};
use zeroize::Zeroizing;

use crate::KeyArgs;

/// The environment variable holding the secret (standard Base64).
pub(crate) const SECRET_ENV: &str = "TOWER_HMAC_SECRET";

/// The key id, which signing commands require.
pub(crate) fn key_id(args: &KeyArgs) -> Result<&str, String> {
    args.key_id
        .as_deref()
        .ok_or_else(|| "no key id: set TOWER_HMAC_KEY_ID or pass --key-id ID".to_owned())
}

/// The secret: from `--key-file`, else from `TOWER_HMAC_SECRET`.
pub(crate) fn secret(args: &KeyArgs) -> Result<SecretKey, String> {
    match &args.key_file {
        Some(path) => from_file(path),
        None => from_env(),
    }
}

pub(crate) fn signer(args: &KeyArgs) -> Result<Signer, String> {
    let key_id = key_id(args)?;
    Signer::new(key_id, secret(args)?).map_err(|e| format!("--key-id: {e}"))
}

fn from_file(path: &Path) -> Result<SecretKey, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    SecretKey::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn from_env() -> Result<SecretKey, String> {
    let text = Zeroizing::new(std::env::var(SECRET_ENV).map_err(|_| {
        format!("no key: set {SECRET_ENV} (standard Base64) or pass --key-file PATH")
    })?);
    SecretKey::from_base64(&text).map_err(|e| format!("{SECRET_ENV}: {e}"))
}
