//! `tower-hmac presign`: an AWS SigV4 presigned URL.

use tower_hmac_core::clock::{Clock, SystemClock};
use tower_hmac_core::sigv4::{PathRule, PresignParams, presign_url};

use crate::KeyArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// GET or HEAD (a download) or PUT (an upload).
    method: String,
    /// The absolute URL, e.g. http://127.0.0.1:8080/whoami.
    url: String,
    /// How long the URL is valid, in seconds (at most 604800, 7 days).
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    expires: u64,
    /// The region of the credential scope.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The service of the credential scope (`demo` for the demo server).
    #[arg(long)]
    service: String,
    /// Sign the path as sent (S3's rule); the default for service `s3`.
    #[arg(long)]
    s3_paths: bool,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) fn run(args: &Args) -> Result<u8, String> {
    let method: http::Method = match args.method.to_ascii_uppercase().as_str() {
        m @ ("GET" | "HEAD" | "PUT") => m.parse().map_err(|_| "invalid method".to_owned())?,
        _ => return Err("METHOD: presigned URLs are for GET, HEAD or PUT".into()),
    };
    let url: http::Uri = args
        .url
        .parse()
        .map_err(|e| format!("URL {:?}: {e}", args.url))?;
    let key_id = crate::credentials::key_id(&args.key)?;
    let key = crate::credentials::secret(&args.key)?;
    let rule = if args.s3_paths || args.service == "s3" {
        PathRule::S3
    } else {
        PathRule::Generic
    };
    let params = PresignParams {
        region: &args.region,
        service: &args.service,
        rule,
        time: SystemClock.unix_seconds(),
        expires: args.expires,
    };
    let signed = presign_url(&method, &url, key_id, &key, &params).map_err(|e| e.to_string())?;
    println!("{signed}");
    Ok(0)
}
