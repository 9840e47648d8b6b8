//! The PostgreSQL key registry behind an `HmacAuthLayer`: `PostgresRegistry` serves the keys to
//! the layer from memory, a key added with `KeyAdmin` (as `tower-hmac keys add` does) while the
//! service runs is accepted at once, and its revocation is in force within a second
//! (`LISTEN`/`NOTIFY`). Needs PostgreSQL at `$DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; the tables go to the schema `tower_hmac_example`)
//! and a master key in `$TOWER_HMAC_MASTER_KEY`, standard Base64 of 32 bytes. The keys are stored
//! encrypted under it: keep the same one for the next runs.
//!
//! ```sh
//! export TOWER_HMAC_MASTER_KEY=$(openssl rand -base64 32)   # or: tower-hmac keys master-key
//! cargo run -p tower-hmac-postgres --example registry
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant};

use tower::{ServiceBuilder, ServiceExt};
use tower_hmac::client::{RequestSigner, SignRequestLayer};
use tower_hmac::protocol::generate_nonce;
use tower_hmac::server::VerifiedBody;
use tower_hmac::{AllowedHosts, HmacAuthLayer, Rejection};
use tower_hmac_postgres::{KeyAdmin, Keyring, PostgresRegistry, RegistryOptions};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let keyring = Keyring::from_env("TOWER_HMAC_MASTER_KEY")?;
    let schema = "tower_hmac_example";

    // The service: every key in memory, kept in step with the database. It refuses to start
    // when a stored key does not decrypt with this master key.
    let options = RegistryOptions::default().schema(schema);
    let registry = PostgresRegistry::connect(&url, keyring.clone(), options).await?;
    let hmac = HmacAuthLayer::builder(registry, AllowedHosts::new(["api.example.com"])?).build()?;
    let server = ServiceBuilder::new().layer(hmac).service_fn(
        |_request: http::Request<VerifiedBody>| async {
            Ok::<_, Infallible>(http::Response::new(String::from("hello")))
        },
    );

    // The admin side, while the service runs (`tower-hmac keys add --app backoffice`): a new
    // key, returned once and stored encrypted.
    let admin = KeyAdmin::connect(&url, keyring, Some(schema)).await?;
    let key_id = format!("backoffice-{}", generate_nonce()?);
    let key = admin.generate_key("backoffice", &key_id, "example").await?;

    // A client with the new key.
    let client = ServiceBuilder::new()
        .layer(SignRequestLayer::new(RequestSigner::new(&key_id, key)?))
        .service(server);
    let call = || async {
        let request = http::Request::get("http://api.example.com/whoami").body(String::new())?;
        let response = client.clone().oneshot(request).await?;
        let rejection = response.extensions().get::<Rejection>();
        let code = rejection.map_or("accepted", Rejection::code);
        Ok::<_, Error>((response.status(), code))
    };
    let (status, code) = call().await?;
    println!("{key_id}: {status} {code}");

    // Revoked in the database: every registry hears of it through LISTEN/NOTIFY, and the key is
    // refused — as `invalid_signature`, unless the layer's `reveal_key_errors` is on.
    admin.revoke(&key_id, "example").await?;
    let revoked = Instant::now();
    loop {
        let (status, code) = call().await?;
        let after = revoked.elapsed();
        if status != http::StatusCode::OK {
            println!("revoked: {status} {code}, {after:?} after the revocation");
            return Ok(());
        }
        if after > Duration::from_secs(5) {
            return Err("the revocation did not arrive within 5 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
