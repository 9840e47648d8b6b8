//! `tower-hmac keygen`.

use std::io::Write;
use std::path::PathBuf;

use tower_hmac::registry::RegistryFileOutline;
use tower_hmac_core::{SecretKey, generate_nonce, is_valid_key_id};
use zeroize::Zeroizing;

use crate::credentials::SECRET_ENV;
use crate::import::{ARGUMENT_REFUSED, Provider, read_secret, toml_string};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The application the key belongs to. Default: my-app, or with --import the provider's
    /// name (stripe, slack, github).
    #[arg(long, value_name = "ID")]
    app_id: Option<String>,
    /// The key id. Default: the app id, a dash and 8 random characters.
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// Write the secret to this file (mode 0600) and reference it with secret_file (with
    /// --import: secret_text_file), instead of printing it inline.
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// The registry file the key is for. When it already has the app, only the key's
    /// [[apps.keys]] entry is printed (a second [[apps]] block for the app is refused); a key id
    /// it already has is an error. No secret in it is read.
    #[arg(long, env = "TOWER_HMAC_REGISTRY", value_name = "PATH")]
    registry: Option<PathBuf>,
    /// Instead of generating a key, import this provider's secret (read from standard input, or
    /// --from): its form is checked, it is used as issued (secret_text) and kept to the
    /// provider's scheme (schemes = ["stripe"], …).
    #[arg(long, value_name = "PROVIDER")]
    import: Option<Provider>,
    /// With --import: the file holding the secret. Default: standard input.
    #[arg(long, value_name = "PATH", requires = "import")]
    from: Option<PathBuf>,
    /// Never a secret: refused, without repeating it (use standard input or --from).
    #[arg(hide = true)]
    argument: Option<String>,
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    if args.argument.is_some() {
        return Err(ARGUMENT_REFUSED.into());
    }
    let app_id = args
        .app_id
        .clone()
        .unwrap_or_else(|| args.import.map_or("my-app", Provider::scheme).to_owned());
    if !is_valid_key_id(&app_id) {
        return Err("--app-id: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -".into());
    }
    let key_id = match &args.key_id {
        Some(id) => id.clone(),
        None => {
            let suffix = generate_nonce().map_err(|e| e.to_string())?;
            format!("{app_id}-{}", &suffix[..8])
        }
    };
    if !is_valid_key_id(&key_id) {
        return Err("--key-id: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -".into());
    }
    // Where the entry goes: the app's existing block (its line), or a new block.
    let existing = match &args.registry {
        Some(path) => existing_app(path, &app_id, &key_id)?,
        None => None,
    };
    let key = match args.import {
        Some(provider) => read_secret(provider, args.from.as_deref())?,
        None => SecretKey::generate().map_err(|e| e.to_string())?,
    };
    // The Base64 of a generated key, the provider's text of an imported one.
    let secret = key.text_form();
    let (inline_field, file_field, production) = match args.import {
        Some(_) => (
            "secret_text",
            "secret_text_file",
            "secret_text_env or secret_text_file",
        ),
        None => ("secret", "secret_file", "secret_env or secret_file"),
    };

    let secret_line = match &args.secret_file {
        Some(path) => {
            write_private(path, secret.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Zeroizing::new(format!("{file_field} = {:?}", path.display().to_string()))
        }
        None => Zeroizing::new(format!(
            "{inline_field} = {}",
            toml_string(&secret).as_str()
        )),
    };
    let schemes_line = match args.import {
        Some(provider) => format!("schemes = [\"{}\"]\n", provider.scheme()),
        None => String::new(),
    };

    let server = match existing {
        None => format!(
            "# Server: add to the registry file (in production, move the secret to\n\
             # {production}).\n\
             [[apps]]\n\
             id = \"{app}\"\n",
            app = app_id
        ),
        Some(Existing { path, line, last }) => format!(
            "# Server: app \"{app}\" is already in {path} (its [[apps]] block, id at line {line}):\n\
             # paste this entry inside that block, after its keys{where_}\n\
             # (a second [[apps]] block for \"{app}\" is refused).\n\
             # Move the secret to {production} in production.\n",
            app = app_id,
            where_ = if last {
                ", at the end of the file"
            } else {
                " and before the next [[apps]] line"
            },
        ),
    };
    let client = match args.import {
        Some(provider) => {
            let who = match provider {
                Provider::Stripe => "Stripe",
                Provider::Slack => "Slack",
                Provider::Github => "GitHub",
            };
            Zeroizing::new(format!(
                "# {who} signs with this secret as issued: no client to set up. The key is kept to\n\
                 # the scheme {scheme}, which the layer needs for it, on the route {who} calls:\n\
                 #   .with_scheme({scheme_type}::new(\"{key_id}\"))\n\
                 # (feature `webhooks`; docs/PROTOCOL.md §5b).",
                scheme = provider.scheme(),
                scheme_type = provider.scheme_type(),
            ))
        }
        None => client_forms(&key, &key_id, args.secret_file.as_deref())?,
    };

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{server}\
         \n\
         [[apps.keys]]\n\
         id = \"{key_id}\"\n\
         {secret_line}\n\
         {schemes_line}\
         \n\
         {client}",
        secret_line = secret_line.as_str(),
        client = client.as_str(),
    )
    .map_err(|e| e.to_string())
}

/// The client's environment, then the generated key in the form each scheme uses (the table of
/// docs/PROTOCOL.md, "Which form of the secret each scheme uses").
fn client_forms(
    key: &SecretKey,
    key_id: &str,
    secret_file: Option<&std::path::Path>,
) -> Result<Zeroizing<String>, String> {
    let base64 = key.to_base64();
    let (client_secret, text, bytes) = match secret_file {
        Some(path) => (
            Zeroizing::new(format!(
                "# the client reads the key with --key-file {}",
                path.display()
            )),
            Zeroizing::new(format!("in {}", path.display())),
            Zeroizing::new(format!("that text decoded ({} bytes)", key.len())),
        ),
        None => (
            Zeroizing::new(format!("{SECRET_ENV}={}", base64.as_str())),
            Zeroizing::new(base64.as_str().to_owned()),
            Zeroizing::new(format!(
                "{} ({} bytes, hex)",
                Zeroizing::new(hex::encode(key.expose_secret())).as_str(),
                key.len()
            )),
        ),
    };
    Ok(Zeroizing::new(format!(
        "# Client: environment.\n\
         TOWER_HMAC_KEY_ID={key_id}\n\
         {client_secret}\n\
         \n\
         # The same key in the form each scheme uses (docs/PROTOCOL.md, \"Which form of the\n\
         # secret each scheme uses\"):\n\
         #   the Base64 text:  {text}\n\
         #   the bytes:        {bytes}\n\
         #   v1 (this CLI, tower-hmac clients): TOWER_HMAC_SECRET is the Base64 text; the MAC is\n\
         #     keyed by the bytes.\n\
         #   AWS SigV4 (a layer with the sigv4 scheme): access key id {key_id},\n\
         #     secret access key the Base64 text, exactly as printed (aws_secret_access_key).\n\
         #   softaware (ASP.NET Hmac): AppId {key_id}, ApiKey the Base64 text (the client decodes\n\
         #     it: the MAC is keyed by the bytes).\n\
         #   RFC 9421 (hmac-sha256): keyid \"{key_id}\", the key the bytes (not the text).\n\
         #   ID:TS:HMAC token: client id {key_id}, the MAC keyed by the Base64 text itself.\n\
         #   Kong / APISIX hmac-auth: username / keyId {key_id}, secret the Base64 text as is.\n\
         #   GitHub, Stripe, Slack webhooks: the provider issues the secret: keygen --import.",
        client_secret = client_secret.as_str(),
        text = text.as_str(),
        bytes = bytes.as_str(),
    )))
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
