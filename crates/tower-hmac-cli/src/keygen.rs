//! `tower-hmac keygen`.

use std::io::Write;
use std::path::PathBuf;

use tower_hmac::registry::RegistryFileOutline;
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
    /// The registry file the key is for. When it already has the app, only the key's
    /// [[apps.keys]] entry is printed (a second [[apps]] block for the app is refused); a key id
    /// it already has is an error. No secret in it is read.
    #[arg(long, env = "TOWER_HMAC_REGISTRY", value_name = "PATH")]
    registry: Option<PathBuf>,
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
    // Where the entry goes: the app's existing block (its line), or a new block.
    let existing = match &args.registry {
        Some(path) => existing_app(path, &args.app_id, &key_id)?,
        None => None,
    };
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

    let server = match existing {
        None => format!(
            "# Server: add to the registry file (move the secret to secret_env or secret_file in production).\n\
             [[apps]]\n\
             id = \"{app}\"\n",
            app = args.app_id
        ),
        Some(Existing { path, line, last }) => format!(
            "# Server: app \"{app}\" is already in {path} (its [[apps]] block, id at line {line}):\n\
             # paste this entry inside that block, after its keys{where_}\n\
             # (a second [[apps]] block for \"{app}\" is refused).\n\
             # Move the secret to secret_env or secret_file in production.\n",
            app = args.app_id,
            where_ = if last {
                ", at the end of the file"
            } else {
                " and before the next [[apps]] line"
            },
        ),
    };

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{server}\
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
         # secret access key the secret above, exactly as printed (its Base64 text)."
    )
    .map_err(|e| e.to_string())
}

/// The app's place in the registry file, when the file has it.
struct Existing {
    path: String,
    line: usize,
    last: bool,
}

/// Reads the registry file's ids (no secret): `Some` when it has the app, an error when it has
/// the key id or does not load.
fn existing_app(
    path: &std::path::Path,
    app_id: &str,
    key_id: &str,
) -> Result<Option<Existing>, String> {
    let outline =
        RegistryFileOutline::from_toml_file(path).map_err(|e| format!("--registry: {e}"))?;
    if let (Some(app), Some(line)) = (outline.app_of_key(key_id), outline.key_line(key_id)) {
        return Err(format!(
            "--key-id: key id {key_id:?} is already in {} (app {app:?}, line {line})",
            path.display()
        ));
    }
    Ok(outline.app_line(app_id).map(|line| Existing {
        path: path.display().to_string(),
        line,
        last: outline.is_last_app(app_id),
    }))
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
