//! `tower-hmac`: generate keys and sign requests for tower-hmac protocol v1.
//!
//! Key material is read from the environment (`TOWER_HMAC_SECRET`) or a file (`--key-file`),
//! never from an argument that `ps` would show.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod credentials;
mod keygen;
mod shell;
mod sign;

/// HMAC-SHA256 request signing for tower-hmac (protocol v1, docs/PROTOCOL.md).
#[derive(Debug, Parser)]
#[command(name = "tower-hmac", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a new 32-byte key (OS CSPRNG); print a registry entry and the client's environment.
    #[command(after_help = "Examples:\n  \
        tower-hmac keygen --app-id backoffice\n  \
        tower-hmac keygen --app-id backoffice --key-id backoffice-2026-11 --secret-file bo.key")]
    Keygen(keygen::Args),
    /// Sign a request: print its Authorization header, or with --curl a complete curl command.
    #[command(
        after_help = "The key is read from --key-file or TOWER_HMAC_SECRET (standard Base64), the key id \
        from --key-id or TOWER_HMAC_KEY_ID.\n\n\
        Examples:\n  \
        tower-hmac sign GET https://api.example.com/orders?id=7\n  \
        tower-hmac sign POST http://127.0.0.1:8080/echo -H 'Content-Type: application/json' -d '{\"a\":1}' --curl | sh\n  \
        tower-hmac sign PUT https://api.example.com/files/1 -d @report.pdf --key-file ./app.key --curl"
    )]
    Sign(sign::Args),
}

/// Where the key comes from (shared by every command that signs).
#[derive(Debug, clap::Args)]
struct KeyArgs {
    /// The key id (Credential). Default: $TOWER_HMAC_KEY_ID.
    #[arg(long, env = "TOWER_HMAC_KEY_ID", value_name = "ID")]
    key_id: String,
    /// A file holding the secret as standard Base64. Default: the secret in $TOWER_HMAC_SECRET.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Sign(args) => sign::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tower-hmac: {e}");
            ExitCode::from(2)
        }
    }
}
