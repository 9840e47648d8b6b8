//! `tower-hmac request`: sign and send, like curl.

use std::io::Write;

use tower_hmac::client::{RequestSigner, SigningMiddleware};

use crate::KeyArgs;
use crate::input::RequestArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// Print the status line and the response headers before the body.
    #[arg(short = 'i', long = "include")]
    include: bool,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) fn run(args: &Args) -> Result<u8, String> {
    let key_id = crate::credentials::key_id(&args.key)?;
    let secret = crate::credentials::secret(&args.key)?;
    let given = args.request.given()?;
    let mut signer = RequestSigner::new(key_id, secret).map_err(|e| format!("--key-id: {e}"))?;
    for name in crate::sign::signed_names(&given) {
        signer = signer.sign_header(name);
    }
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(SigningMiddleware::new(signer))
        .build();
    let request = client
        .request(given.method, &given.url)
        .headers(given.headers)
        .body(given.body.bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let response = request
            .send()
            .await
            .map_err(|e| format!("request failed: {e:#}"))?;
        let status = response.status();
        let mut out = std::io::stdout().lock();
        if args.include {
            let mut head = format!("{:?} {status}\r\n", response.version());
            for (name, value) in response.headers() {
                head.push_str(&format!(
                    "{name}: {}\r\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
            head.push_str("\r\n");
            out.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        out.write_all(&bytes).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        if status.is_client_error() || status.is_server_error() {
            eprintln!("tower-hmac: HTTP {status}");
            return Ok(1);
        }
        Ok(0)
    })
}
