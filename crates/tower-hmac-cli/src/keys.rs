//! `tower-hmac keys`: the PostgreSQL registry's keys (tower-hmac-postgres).

use std::path::PathBuf;

use crate::import::Provider;

#[cfg(feature = "postgres")]
pub(crate) use admin::run;

/// The environment variable of the master key (standard Base64 of 32 bytes).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const MASTER_KEY_ENV: &str = "TOWER_HMAC_MASTER_KEY";

#[derive(Debug, clap::Args)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
    /// The database. Default: $DATABASE_URL.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", global = true)]
    database_url: Option<String>,
    /// The schema of the tables (default: the connection's search_path).
    #[arg(long, value_name = "NAME", global = true)]
    schema: Option<String>,
    /// A file holding the master key (standard Base64). Default: $TOWER_HMAC_MASTER_KEY.
    #[arg(long, value_name = "PATH", global = true)]
    master_key_file: Option<PathBuf>,
    /// Who makes the change, for the audit trail. Default: $USER.
    #[arg(long, value_name = "NAME", global = true)]
    actor: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
enum Command {
    /// Add a new random key to an app (created when new); print its secret once.
    Add {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// The key id. Default: the app id, a dash and 8 random characters.
        #[arg(long, value_name = "ID")]
        key_id: Option<String>,
    },
    /// Import a provider's secret (Stripe's whsec_…, Slack's, GitHub's) from standard input or
    /// --from: its form is checked, it is stored encrypted as issued and kept to the provider's
    /// scheme. Never echoed.
    Import {
        /// Whose secret it is (its form is checked; the key is kept to its scheme).
        #[arg(long, value_name = "PROVIDER")]
        provider: Provider,
        /// The app (created when new). Default: the provider's name.
        #[arg(long, value_name = "ID")]
        app: Option<String>,
        /// The key id. Default: the app id, a dash and 8 random characters.
        #[arg(long, value_name = "ID")]
        key_id: Option<String>,
        /// The file holding the secret. Default: standard input.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        /// Never a secret: refused, without repeating it (use standard input or --from).
        #[arg(hide = true)]
        argument: Option<String>,
    },
    /// A new key for an app; its other active keys stay valid for --grace more, then expire.
    Rotate {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// The new key's id. Default: the app id, a dash and 8 random characters.
        #[arg(long, value_name = "ID")]
        key_id: Option<String>,
        /// How long the previous keys stay valid, in seconds.
        #[arg(long, default_value_t = 86_400, value_name = "SECONDS")]
        grace: u64,
    },
    /// Revoke a key: refused on every instance within a second.
    Revoke {
        /// The key id.
        key_id: String,
    },
    /// List the keys (never their secrets).
    List,
    /// Set an app's scopes (what `RequireScope` routes it may call), on every instance within a
    /// second; no scope at all with none given.
    Scopes {
        /// The app.
        #[arg(long, value_name = "ID")]
        app: String,
        /// The scopes, e.g. orders:read orders:write.
        scopes: Vec<String>,
    },
    /// Re-encrypt every key under the master key (--master-key-file / $TOWER_HMAC_MASTER_KEY),
    /// decrypting with the previous one (--previous-master-key-file).
    Reencrypt {
        /// A file holding the previous master key (standard Base64).
        #[arg(long, value_name = "PATH")]
        previous_master_key_file: PathBuf,
    },
    /// Print a new random master key (standard Base64) to store in $TOWER_HMAC_MASTER_KEY.
    MasterKey,
}

/// Without the `postgres` feature the command is listed but says how to get it.
#[cfg(not(feature = "postgres"))]
pub(crate) fn run(_: &Args) -> Result<u8, String> {
    Err(
        "`keys` manages a PostgreSQL registry, which this build leaves out: \
         cargo install tower-hmac-cli --features postgres"
            .into(),
    )
}

#[cfg(feature = "postgres")]
mod admin {
    use std::time::Duration;

    use tower_hmac_core::{SecretKey, generate_nonce, is_valid_key_id, is_valid_scope};
    use tower_hmac_postgres::{KeyAdmin, Keyring, MasterKey};

    use super::{Args, Command, MASTER_KEY_ENV};
    use crate::import::{ARGUMENT_REFUSED, read_secret};

    pub(crate) fn run(args: &Args) -> Result<u8, String> {
        // A provider's secret is read and checked before anything else: a bad value is refused
        // whatever the database.
        let imported = match &args.command {
            Command::Import {
                argument: Some(_), ..
            } => return Err(ARGUMENT_REFUSED.into()),
            Command::Import { provider, from, .. } => {
                Some(read_secret(*provider, from.as_deref())?)
            }
            _ => None,
        };
        if let Command::MasterKey = args.command {
            let key = MasterKey::generate().map_err(|e| e.to_string())?;
            println!("{}", key.to_base64().as_str());
            return Ok(0);
        }
        let url = args
            .database_url
            .as_deref()
            .ok_or("no database: set DATABASE_URL or pass --database-url URL")?;
        let keyring = match &args.master_key_file {
            Some(path) => Keyring::from_file(path),
            None => Keyring::from_env(MASTER_KEY_ENV),
        }
        .map_err(|e| format!("{e} (set {MASTER_KEY_ENV} or pass --master-key-file PATH)"))?;
        let actor = args
            .actor
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "tower-hmac-cli".into());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        runtime.block_on(async {
        let keyring = match &args.command {
            Command::Reencrypt {
                previous_master_key_file,
            } => {
                let previous =
                    Keyring::from_file(previous_master_key_file).map_err(|e| e.to_string())?;
                keyring.with_previous(previous.current().clone())
            }
            _ => keyring,
        };
        let admin = KeyAdmin::connect(url, keyring, args.schema.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        match &args.command {
            Command::Add { app, key_id } => {
                let key_id = key_id_or_new(app, key_id.as_deref())?;
                let secret = admin
                    .generate_key(app, &key_id, &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                print_new(app, &key_id, &secret);
            }
            Command::Import {
                provider,
                app,
                key_id,
                ..
            } => {
                let app = app.as_deref().unwrap_or(provider.scheme());
                let key_id = key_id_or_new(app, key_id.as_deref())?;
                let secret = imported.as_ref().ok_or("no secret read")?;
                admin
                    .add_key_for_schemes(app, &key_id, secret, &[provider.scheme()], &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "imported {key_id} (app {app}): {}, stored encrypted as issued, kept to the \
                     scheme {}; it is not shown.\n\
                     # The layer verifies it with .with_scheme({}::new(\"{key_id}\")) (feature \
                     `webhooks`) on the route the provider calls.",
                    provider.secret_name(),
                    provider.scheme(),
                    provider.scheme_type(),
                );
            }
            Command::Rotate { app, key_id, grace } => {
                let key_id = key_id_or_new(app, key_id.as_deref())?;
                let secret = admin
                    .rotate(app, &key_id, Duration::from_secs(*grace), &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                print_new(app, &key_id, &secret);
                println!("# the app's other active keys expire in {grace} s");
            }
            Command::Revoke { key_id } => {
                admin
                    .revoke(key_id, &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("revoked {key_id}");
            }
            Command::List => {
                println!("app\tkey id\tstate\tnot before\tnot after\tmaster key");
                for key in admin.list().await.map_err(|e| e.to_string())? {
                    let when = |t: Option<std::time::SystemTime>| {
                        t.map_or("-".to_owned(), httpdate::fmt_http_date)
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        key.app_id,
                        key.key_id,
                        key.state,
                        when(key.not_before),
                        when(key.not_after),
                        key.master_key
                    );
                }
            }
            Command::Scopes { app, scopes } => {
                if let Some(bad) = scopes.iter().find(|s| !is_valid_scope(s)) {
                    return Err(format!(
                        "scope {bad:?}: 1 to 128 visible ASCII characters, no spaces, quotes or backslashes"
                    ));
                }
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                admin
                    .set_app_scopes(app, &scopes, &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                println!("app {app}: scopes {}", scopes.join(" "));
            }
            Command::Reencrypt { .. } => {
                let n = admin.reencrypt(&actor).await.map_err(|e| e.to_string())?;
                println!("re-encrypted {n} keys");
            }
            Command::MasterKey => {}
        }
        Ok(0)
    })
    }

    fn key_id_or_new(app: &str, key_id: Option<&str>) -> Result<String, String> {
        if !is_valid_key_id(app) {
            return Err("--app: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -".into());
        }
        let id = match key_id {
            Some(id) => id.to_owned(),
            None => {
                let suffix = generate_nonce().map_err(|e| e.to_string())?;
                format!("{app}-{}", &suffix[..8])
            }
        };
        if !is_valid_key_id(&id) {
            return Err("--key-id: 1 to 128 characters of A-Z a-z 0-9 . _ ~ -".into());
        }
        Ok(id)
    }

    /// The new secret, once, in the form each scheme needs (it is stored only encrypted).
    fn print_new(app: &str, key_id: &str, secret: &SecretKey) {
        let text = secret.text_form();
        println!(
            "# New key of app {app}: shown once, stored only encrypted. Give it to the client now.\n\
         TOWER_HMAC_KEY_ID={key_id}\n\
         TOWER_HMAC_SECRET={text}\n\
         # v1, softaware (ApiKey), the token, AWS SigV4 (secret access key), Kong and APISIX: the\n\
         # secret above as is; RFC 9421 (hmac-sha256): its Base64-decoded bytes (docs/PROTOCOL.md,\n\
         # \"Which form of the secret each scheme uses\").",
            text = text.as_str()
        );
    }
}
