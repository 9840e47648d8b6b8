//! Loading the key: from a file or the environment, never from an argument.

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
    secret_as(args, KeyForm::Base64)
}

/// How a secret is written where it is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyForm {
    /// Standard Base64 of the key's bytes, as `tower-hmac keygen` prints it.
    Base64,
    /// A provider's secret used as issued (an AWS secret access key, a `whsec_…`): its text is
    /// the key.
    Text,
}

/// The secret in the given form: from `--key-file`, else from `TOWER_HMAC_SECRET`.
pub(crate) fn secret_as(args: &KeyArgs, form: KeyForm) -> Result<SecretKey, String> {
    let parse = |text: &str| match form {
        KeyForm::Base64 => SecretKey::from_base64(text),
        KeyForm::Text => SecretKey::from_text(text),
    };
    match &args.key_file {
        Some(path) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
            );
            parse(&text).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => {
            let text = Zeroizing::new(std::env::var(SECRET_ENV).map_err(|_| match form {
                KeyForm::Base64 => {
                    format!("no key: set {SECRET_ENV} (standard Base64) or pass --key-file PATH")
                }
                KeyForm::Text => {
                    format!(
                        "no key: set {SECRET_ENV} (the secret as issued) or pass --key-file PATH"
                    )
                }
            })?);
            parse(&text).map_err(|e| format!("{SECRET_ENV}: {e}"))
        }
    }
}

pub(crate) fn signer(args: &KeyArgs) -> Result<Signer, String> {
    let key_id = key_id(args)?;
    Signer::new(key_id, secret(args)?).map_err(|e| format!("--key-id: {e}"))
}
