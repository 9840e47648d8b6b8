//! `tower-hmac keys` against the machine's PostgreSQL (`TOWER_HMAC_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), in a schema of this test's own: a new secret is
//! printed once and works, `list` never shows a secret, `scopes`, `revoke` and `reencrypt` take
//! effect; `keys import` stores a provider's secret as issued, kept to its scheme.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use tower_hmac::protocol::{KeyRegistry, KeyState, SecretKey};
use tower_hmac_postgres::{Keyring, MasterKey, PostgresRegistry, RegistryOptions};

const BIN: &str = env!("CARGO_BIN_EXE_tower-hmac");

fn url() -> String {
    std::env::var("TOWER_HMAC_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn keys(args: &[&str], schema: &str, master: &str) -> Output {
    let out = Command::new(BIN)
        .arg("keys")
        .args(args)
        .args(["--schema", schema, "--actor", "ci"])
        .env("DATABASE_URL", url())
        .env("TOWER_HMAC_MASTER_KEY", master)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_added_once_listed_without_secrets_revoked_and_reencrypted() {
    let schema = format!("th_cli_{}", std::process::id());
    let master = text(&keys(&["master-key"], &schema, "")).trim().to_owned();
    assert_eq!(
        MasterKey::from_base64(&master)
            .unwrap()
            .to_base64()
            .as_str(),
        master
    );

    let added = text(&keys(
        &["add", "--app", "partner", "--key-id", "partner-1"],
        &schema,
        &master,
    ));
    let secret_line = added
        .lines()
        .find(|l| l.starts_with("TOWER_HMAC_SECRET="))
        .unwrap_or_else(|| panic!("{added}"));
    let secret = SecretKey::from_base64(&secret_line["TOWER_HMAC_SECRET=".len()..]).unwrap();
    assert!(
        added.contains("shown once") && added.contains("SigV4"),
        "{added}"
    );

    let registry = PostgresRegistry::connect(
        &url(),
        Keyring::new(MasterKey::from_base64(&master).unwrap()),
        RegistryOptions::default().schema(&schema),
    )
    .await
    .unwrap();
    let record = registry.lookup("partner-1").await.unwrap().unwrap();
    assert_eq!(record.secret().expose_secret(), secret.expose_secret());

    let list = text(&keys(&["list"], &schema, &master));
    assert!(list.contains("partner\tpartner-1\tactive"), "{list}");
    assert!(!list.contains(&*secret.to_base64()), "a secret in the list");

    // Scopes: set for the app, read by the registry, refused when they cannot be named.
    let out = text(&keys(
        &["scopes", "--app", "partner", "orders:read", "orders:write"],
        &schema,
        &master,
    ));
    assert!(out.contains("orders:read orders:write"), "{out}");
    registry.refresh().await.unwrap();
    let record = registry.lookup("partner-1").await.unwrap().unwrap();
    assert_eq!(
        record.scopes().iter().map(|s| &**s).collect::<Vec<_>>(),
        ["orders:read", "orders:write"]
    );
    let bad = Command::new(BIN)
        .args([
            "keys",
            "scopes",
            "--app",
            "partner",
            "has space",
            "--schema",
            &schema,
        ])
        .env("DATABASE_URL", url())
        .env("TOWER_HMAC_MASTER_KEY", &master)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("scope \"has space\""));

    keys(&["revoke", "partner-1"], &schema, &master);
    registry.refresh().await.unwrap();
    let record = registry.lookup("partner-1").await.unwrap().unwrap();
    assert_eq!(record.state(), KeyState::Revoked);

    let rotated = text(&keys(
        &["rotate", "--app", "partner", "--grace", "60"],
        &schema,
        &master,
    ));
    assert!(rotated.contains("TOWER_HMAC_KEY_ID=partner-"), "{rotated}");

    // A new master key: re-encrypt with the old one as the previous.
    let new_master = MasterKey::generate().unwrap();
    let dir = std::env::temp_dir().join(format!("tower-hmac-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (old_file, new_file) = (dir.join("old.key"), dir.join("new.key"));
    std::fs::write(&old_file, &master).unwrap();
    std::fs::write(&new_file, new_master.to_base64().as_str()).unwrap();
    let out = keys(
        &[
            "reencrypt",
            "--master-key-file",
            new_file.to_str().unwrap(),
            "--previous-master-key-file",
            old_file.to_str().unwrap(),
        ],
        &schema,
        &master,
    );
    assert!(text(&out).contains("re-encrypted 2 keys"), "{}", text(&out));
    let list = text(&keys(
        &["list", "--master-key-file", new_file.to_str().unwrap()],
        &schema,
        "",
    ));
    assert!(
        list.lines().skip(1).all(|l| l.ends_with(new_master.id())),
        "{list}"
    );

    // Without a master key: a clear error.
    let out = Command::new(BIN)
        .args(["keys", "list", "--schema", &schema])
        .env("DATABASE_URL", url())
        .env_remove("TOWER_HMAC_MASTER_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TOWER_HMAC_MASTER_KEY"));

    let _ = std::fs::remove_dir_all(&dir);
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await;
}

/// `keys import` against PostgreSQL: a Stripe secret from standard input, then a Slack one from
/// a file, stored as issued (`SecretKey::from_text`) and kept to their schemes; the secret is in
/// no output; a bad value is refused before anything is written, without repeating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_import_stores_a_provider_secret_kept_to_its_scheme() {
    use std::io::Write as _;
    use std::process::Stdio;

    let schema = format!("th_cli_import_{}", std::process::id());
    let master = MasterKey::generate().unwrap().to_base64().to_string();
    let import = |args: &[&str], stdin: &str| {
        let mut child = Command::new(BIN)
            .args(["keys", "import"])
            .args(args)
            .args(["--schema", &schema, "--actor", "ci"])
            .env("DATABASE_URL", url())
            .env("TOWER_HMAC_MASTER_KEY", &master)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    };
    let stripe = "whsec_KeysImportTest0123456789abcdefABCDEF";
    let out = import(&["--provider", "stripe", "--key-id", "stripe-1"], stripe);
    let (stdout, stderr) = (
        text(&out),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("imported stripe-1 (app stripe)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("with_scheme(tower_hmac::protocol::webhooks::Stripe::new(\"stripe-1\"))"),
        "{stdout}"
    );
    assert!(!stdout.contains(stripe) && !stderr.contains(stripe));

    let slack = "8f742231b10e8888abcd99aaabbb85a5";
    let dir = std::env::temp_dir().join(format!("tower-hmac-keys-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slack.txt");
    std::fs::write(&file, format!("{slack}\n")).unwrap();
    let out = import(
        &[
            "--provider",
            "slack",
            "--app",
            "chatops",
            "--key-id",
            "slack-1",
            "--from",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text(&out).contains(slack));

    let registry = PostgresRegistry::connect(
        &url(),
        Keyring::new(MasterKey::from_base64(&master).unwrap()),
        RegistryOptions::default().schema(&schema),
    )
    .await
    .unwrap();
    let record = registry.lookup("stripe-1").await.unwrap().unwrap();
    assert_eq!(record.app_id(), "stripe");
    assert_eq!(
        record.secret().expose_secret(),
        SecretKey::from_text(stripe).unwrap().expose_secret()
    );
    assert_eq!(&*record.secret().text_form(), stripe);
    assert!(record.allows_scheme("stripe") && !record.allows_scheme("v1"));
    let record = registry.lookup("slack-1").await.unwrap().unwrap();
    assert_eq!(record.app_id(), "chatops");
    assert_eq!(&*record.secret().text_form(), slack);
    assert!(record.allows_scheme("slack") && !record.allows_scheme("stripe"));

    // A bad value: refused (exit 2), not repeated, nothing written.
    let bad = "whsec_short";
    let out = import(&["--provider", "stripe", "--key-id", "stripe-2"], bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("24 to 128") && !stderr.contains(bad),
        "{stderr}"
    );
    registry.refresh().await.unwrap();
    assert!(registry.lookup("stripe-2").await.unwrap().is_none());
    // A duplicate key id: the database's refusal, no secret in it.
    let out = import(&["--provider", "stripe", "--key-id", "stripe-1"], stripe);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains(stripe), "{stderr}");

    let list = text(&keys(&["list"], &schema, &master));
    assert!(list.contains("stripe\tstripe-1\tactive"), "{list}");
    assert!(!list.contains(stripe) && !list.contains(slack), "{list}");

    let _ = std::fs::remove_dir_all(&dir);
    let pool = sqlx::PgPool::connect(&url()).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await;
}
