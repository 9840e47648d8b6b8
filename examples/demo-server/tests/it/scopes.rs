//! Scopes on the demo over TCP: `GET /admin/whoami` requires the scope `admin`, which the demo
//! key's app does not grant (`403 insufficient_scope`, the scope named in `WWW-Authenticate` and
//! the problem body) and the operator app's key does.

use tower_hmac::SecretKey;
use tower_hmac_integration::authorization_now;

use crate::common::{send, start_demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_whoami_requires_the_admin_scope() {
    let server = start_demo(&[("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0")]).await;
    let host = server.addr.to_string();
    let call = |key_id: &'static str, secret: &'static str, path: &'static str| {
        let host = host.clone();
        async move {
            let key = SecretKey::from_base64(secret).unwrap();
            let auth = authorization_now(key_id, &key, &http::Method::GET, &host, path, b"");
            send(server.addr, &crate::common::get(path, &host, &auth)).await
        }
    };
    let demo = (demo_server::DEMO_KEY_ID, demo_server::demo_secret_base64());
    let admin = (
        demo_server::DEMO_ADMIN_KEY_ID,
        demo_server::DEMO_ADMIN_SECRET,
    );

    let (status, text) = call(demo.0, demo.1, "/admin/whoami").await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains(
            "WWW-Authenticate: HMAC-SHA256 error=\"insufficient_scope\", scope=\"admin\""
        ) || text.contains(
            "www-authenticate: HMAC-SHA256 error=\"insufficient_scope\", scope=\"admin\""
        ),
        "{text}"
    );
    assert!(
        text.contains("\"code\":\"insufficient_scope\"") && text.contains("\"scope\":\"admin\""),
        "{text}"
    );

    let (status, text) = call(admin.0, admin.1, "/admin/whoami").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("\"app_id\":\"demo-admin\"") && text.contains("\"scopes\":[\"admin\"]"),
        "{text}"
    );

    // The demo key still reaches the routes that need no scope, and shows its app's scopes.
    let (status, text) = call(demo.0, demo.1, "/whoami").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("\"scopes\":[\"orders:read\",\"orders:write\"]"),
        "{text}"
    );
    // An unsigned request to the admin route is a 401 (the signature first), not a 403.
    let (status, _) = send(
        server.addr,
        format!("GET /admin/whoami HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 401);
}
