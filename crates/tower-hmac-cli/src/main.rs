//! `tower-hmac`: generate keys, sign and send requests, and explain signature mismatches for
//! every scheme the layer verifies; presign AWS SigV4 URLs.
//!
//! Key material is read from the environment (`TOWER_HMAC_SECRET`), a file (`--key-file`) or, for
//! a provider's secret imported (`keygen --import`, `keys import`), standard input or `--from`:
//! never from an argument that `ps` would show.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod credentials;
mod explain;
mod import;
mod input;
mod keygen;
mod keys;
mod presign;
mod request;
mod shell;
mod sign;

/// HMAC-SHA256 request signing for tower-hmac (protocol v1, docs/PROTOCOL.md).
///
/// Exit status: 0 on success, 1 for an HTTP error answer (request) or a difference found
/// (explain), 2 for a usage, key or network error.
#[derive(Debug, Parser)]
#[command(name = "tower-hmac", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a new 32-byte key (OS CSPRNG); print a registry entry, the client's environment
    /// and the key in the form each scheme uses. With --import, a provider's secret instead.
    #[command(
        after_help = "With --import stripe|slack|github the provider's secret is read from \
        standard input (or --from PATH), never from an argument; its form is checked and the entry \
        printed uses it as issued (secret_text, or secret_text_file with --secret-file) and keeps \
        it to the provider's scheme.\n\n\
        Examples:\n  \
        tower-hmac keygen --app-id backoffice\n  \
        tower-hmac keygen --app-id backoffice --key-id backoffice-2026-11 --secret-file bo.key\n  \
        tower-hmac keygen --app-id backoffice --registry registry.toml   # a key for an app it has\n  \
        tower-hmac keygen --import stripe --registry registry.toml --secret-file stripe.key < whsec.txt"
    )]
    Keygen(keygen::Args),
    /// Sign a request: print its Authorization header, or with --curl a complete curl command.
    #[command(
        after_help = "The key is read from --key-file or TOWER_HMAC_SECRET (standard Base64), the key id \
        from --key-id or TOWER_HMAC_KEY_ID. Every -H header is signed, and the host always.\n\n\
        Examples:\n  \
        tower-hmac sign GET https://api.example.com/orders?id=7\n  \
        tower-hmac sign POST http://127.0.0.1:8080/echo -H 'Content-Type: application/json' -d '{\"a\":1}' --curl | sh\n  \
        tower-hmac sign PUT https://api.example.com/files/1 -d @report.pdf --key-file ./app.key --curl"
    )]
    Sign(sign::Args),
    /// Sign and send a request, like curl; print the response body. Recovers from clock skew.
    #[command(
        after_help = "Exit status 1 when the server answers with an HTTP error (4xx, 5xx).\n\n\
        Examples:\n  \
        tower-hmac request GET http://127.0.0.1:8080/whoami\n  \
        tower-hmac request POST https://api.example.com/orders -H 'Content-Type: application/json' -d @order.json -i"
    )]
    Request(request::Args),
    /// Show the exact text a scheme signs (v1's string to sign, SigV4's canonical request and
    /// string to sign, RFC 9421's signature base, softaware's, Kong's or APISIX's signing string,
    /// the token's) and the expected signature; with the request's credentials, say whether they
    /// match; with the server's problem+json, which line it signed differently.
    #[command(
        after_help = "The scheme is detected from the request's credentials (or given with \
        --scheme); SigV4's region and service come from its credential scope, RFC 9421's \
        components from Signature-Input.\n\n\
        Examples:\n  \
        tower-hmac explain POST http://127.0.0.1:8080/echo -H 'Content-Type: application/json' -d '{\"a\":1}'\n  \
        tower-hmac explain POST http://127.0.0.1:8080/echo -H 'Content-Type: application/json' -d '{\"a\":1}' \\\n      \
        -H 'Authorization: HMAC-SHA256 Credential=…' --problem answer.json\n  \
        tower-hmac explain --request-file captured.http --problem answer.json\n  \
        tower-hmac explain GET https://api.example.com/orders -H 'X-Amz-Date: 20261204T101500Z' \\\n      \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=…' --key-form text --problem answer.json"
    )]
    Explain(explain::Args),
    /// Print an AWS SigV4 presigned URL (X-Amz-* query parameters, `host` signed,
    /// UNSIGNED-PAYLOAD): a bearer link for a download (GET, HEAD) or an upload (PUT).
    #[command(
        after_help = "The access key id is the key id, the secret access key the key's Base64 \
        (TOWER_HMAC_SECRET or --key-file), as for sign.\n\n\
        Examples:\n  \
        tower-hmac presign GET http://127.0.0.1:8080/whoami --service demo\n  \
        curl -T report.pdf \"$(tower-hmac presign PUT https://files.example.com/reports/1.pdf --service s3 --expires 600)\""
    )]
    Presign(presign::Args),
    /// Manage the keys of a PostgreSQL registry (tower-hmac-postgres): add, import a provider's
    /// secret, rotate, revoke, list, re-encrypt under a new master key.
    #[command(
        after_help = "The database from --database-url or DATABASE_URL; the master key from \
        --master-key-file or TOWER_HMAC_MASTER_KEY (standard Base64 of 32 bytes; `keys master-key` \
        makes one). A new secret is printed once and stored only encrypted; an imported one (keys \
        import) is read from standard input or --from and never printed.\n\n\
        Examples:\n  \
        tower-hmac keys add --app partner\n  \
        tower-hmac keys import --provider stripe --app stripe < whsec.txt\n  \
        tower-hmac keys rotate --app partner --grace 86400\n  \
        tower-hmac keys revoke partner-1a2b3c4d\n  \
        tower-hmac keys list\n  \
        tower-hmac keys reencrypt --master-key-file new.key --previous-master-key-file old.key"
    )]
    Keys(keys::Args),
}

/// Where the key comes from (shared by every command that signs).
#[derive(Debug, clap::Args)]
struct KeyArgs {
    /// The key id (Credential). Default: $TOWER_HMAC_KEY_ID.
    #[arg(long, env = "TOWER_HMAC_KEY_ID", value_name = "ID")]
    key_id: Option<String>,
    /// A file holding the secret as standard Base64. Default: the secret in $TOWER_HMAC_SECRET.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(&args).map(|()| 0),
        Command::Sign(args) => sign::run(&args),
        Command::Request(args) => request::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Presign(args) => presign::run(&args),
        Command::Keys(args) => keys::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("tower-hmac: {e}");
            ExitCode::from(2)
        }
    }
}
