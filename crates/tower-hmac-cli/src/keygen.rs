//! `tower-hmac keygen`.

use std::io::Write;
use std::path::PathBuf;

use tower_hmac_core::{SecretKey, generate_nonce, is_valid_key_id};

use crate::credentials::SECRET_ENV;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The application the key belongs to.
    #[arg(long, default_value = "my-app", value_name = "ID")]
    app_id: String,
    /// The key id. Default: the app id, a dash and 8 random characters.
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// Write the secret to this file (mode 0600) and reference it with secret_file, instead of
    /// printing it inline.
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    if !is_valid_key_id(&args.app_id) {
        return Err("--app-id: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -".into());
    }
    let key_id = match &args.key_id {
        Some(id) => id.clone(),
        None => {
            let suffix = generate_nonce().map_err(|e| e.to_string())?;
            format!("{}-{}", args.app_id, &suffix[..8])
        }
    };
    if !is_valid_key_id(&key_id) {
        return Err("--key-id: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -".into());
    }
    let key = SecretKey::generate().map_err(|e| e.to_string())?;
    let secret = key.to_base64();

    let secret_line = match &args.secret_file {
        Some(path) => {
            write_private(path, secret.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            format!("secret_file = {:?}", path.display().to_string())
        }
        None => format!("secret = \"{}\"", secret.as_str()),
    };
    let client_secret = match &args.secret_file {
        Some(path) => format!(
            "# the client reads the key with --key-file {}",
            path.display()
        ),
        None => format!("{SECRET_ENV}={}", secret.as_str()),
    };

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# Server: add to the registry file (move the secret to secret_env or secret_file in production).\n\
         [[apps]]\n\
         id = \"{app}\"\n\
         \n\
         [[apps.keys]]\n\
         id = \"{key_id}\"\n\
         {secret_line}\n\
         \n\
         # Client: environment.\n\
         TOWER_HMAC_KEY_ID={key_id}\n\
         {client_secret}\n\
         \n\
         # AWS SigV4 clients (a layer with the sigv4 scheme): access key id {key_id},\n\
         # secret access key the secret above, exactly as printed (its Base64 text).",
        app = args.app_id
    )
    .map_err(|e| e.to_string())
}

fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.write_all(b"\n")
}
