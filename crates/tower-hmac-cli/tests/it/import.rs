//! `keygen`'s forms of a generated key, and `keygen --import`: a provider's secret read from
//! standard input or a file, checked, written as the registry entry that verifies the provider's
//! webhooks (a Stripe delivery over real TCP through the demo's layer), never taken from an
//! argument and never repeated in an error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use tower_hmac::InMemoryRegistry;
use tower_hmac::protocol::SecretKey;

use super::e2e::start_demo;

const BIN: &str = env!("CARGO_BIN_EXE_tower-hmac");

/// A Stripe webhook signing secret of this test's own (the form Stripe issues).
const STRIPE: &str = "whsec_ImportedByTheCliTest0123456789abcdef";

/// Runs the command with `stdin` on its standard input.
fn cli_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("TOWER_HMAC_REGISTRY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses early may close its input first: a broken pipe is its answer.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-hmac-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The value after `label` on its comment line.
fn form<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
        .trim()
}

#[test]
fn keygen_prints_the_key_in_each_schemes_form() {
    let out = cli_with_stdin(
        &["keygen", "--app-id", "partner", "--key-id", "partner-1"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let env_secret = form(&text, "TOWER_HMAC_SECRET=");
    let base64 = form(&text, "#   the Base64 text:");
    assert_eq!(base64, env_secret);
    let key = SecretKey::from_base64(base64).unwrap();
    let bytes = form(&text, "#   the bytes:");
    assert_eq!(
        bytes,
        format!("{} (32 bytes, hex)", hex::encode(key.expose_secret()))
    );
    // The registry entry holds the same key.
    let (server, _) = text.split_once("# Client").unwrap();
    let registry = InMemoryRegistry::from_toml_str(server).unwrap();
    assert_eq!(
        registry.get("partner-1").unwrap().secret().expose_secret(),
        key.expose_secret()
    );
    // Every scheme is named with what its client is given.
    for scheme in [
        "v1 (this CLI",
        "AWS SigV4",
        "aws_secret_access_key",
        "softaware (ASP.NET Hmac): AppId partner-1, ApiKey the Base64 text",
        "RFC 9421 (hmac-sha256): keyid \"partner-1\", the key the bytes",
        "ID:TS:HMAC token",
        "Kong / APISIX hmac-auth",
        "keygen --import",
        "Which form of the",
    ] {
        assert!(text.contains(scheme), "{scheme:?} in {text}");
    }
}

#[test]
fn keygen_with_a_secret_file_prints_no_form_of_the_secret() {
    let dir = temp_dir("forms-file");
    let file = dir.join("partner.key");
    let out = cli_with_stdin(
        &[
            "keygen",
            "--app-id",
            "partner",
            "--secret-file",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let key = SecretKey::from_base64(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(!text.contains(&*key.to_base64()), "{text}");
    assert!(!text.contains(&hex::encode(key.expose_secret())), "{text}");
    assert!(
        form(&text, "#   the Base64 text:").contains(file.to_str().unwrap()),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Stripe secret imported from standard input makes the entry that verifies Stripe's
/// deliveries: through the demo's layer over real TCP, a delivery signed with it is accepted and
/// one signed with another secret refused. The key equals `SecretKey::from_text` of the secret
/// and is kept to the `stripe` scheme.
#[test]
fn an_imported_stripe_secret_verifies_a_stripe_webhook() {
    let out = cli_with_stdin(
        &[
            "keygen",
            "--import",
            "stripe",
            "--app-id",
            "demo-stripe",
            "--key-id",
            demo_server::DEMO_STRIPE_KEY_ID,
        ],
        &format!("{STRIPE}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("schemes = [\"stripe\"]"), "{text}");
    assert!(
        text.contains(
            ".with_scheme(tower_hmac::protocol::webhooks::Stripe::new(\"demo-stripe-webhooks\"))"
        ),
        "{text}"
    );
    // The whole output is TOML: the entry and comments.
    let registry = InMemoryRegistry::from_toml_str(&text).unwrap();
    let record = registry.get(demo_server::DEMO_STRIPE_KEY_ID).unwrap();
    let expected = SecretKey::from_text(STRIPE).unwrap();
    assert_eq!(record.secret().expose_secret(), expected.expose_secret());
    assert_eq!(&*record.secret().text_form(), STRIPE);
    assert!(record.allows_scheme("stripe") && !record.allows_scheme("v1"));

    let addr = start_demo(registry);
    let body = r#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let deliver = |secret: &SecretKey| {
        let signature =
            tower_hmac::protocol::webhooks::stripe_signature(secret, now, body.as_bytes());
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Stripe-Signature: {signature}"))
            .args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ])
            .arg(format!("http://{addr}/webhooks/stripe"))
            .output()
            .expect("curl is installed (apt-get install curl)");
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_owned(), body.to_owned())
    };
    let (code, answer) = deliver(&expected);
    assert_eq!(code, "200", "{answer}");
    assert!(answer.contains("\"scheme\":\"stripe\""), "{answer}");
    let other = SecretKey::from_text("whsec_AnotherSecretNotImported0123456789").unwrap();
    let (code, answer) = deliver(&other);
    assert_eq!(code, "401", "{answer}");
}

/// From a file, into a registry file that has the app: only the key's entry, the secret in a
/// file of mode 0600 (`secret_text_file`), never on standard output; a GitHub secret with quotes
/// and a backslash is written as TOML reads it back.
#[test]
fn an_import_from_a_file_into_a_registry_that_has_the_app() {
    let dir = temp_dir("from-file");
    let registry_path = dir.join("registry.toml");
    std::fs::write(
        &registry_path,
        "[[apps]]\nid = \"github\"\n\n[[apps.keys]]\nid = \"github-old\"\nsecret_text = \"an-older-github-secret-0001\"\n",
    )
    .unwrap();
    let github = "It's a \"Secret\" to Everybody \\ 2026";
    let input = dir.join("github.txt");
    std::fs::write(&input, format!("{github}\n")).unwrap();
    let secret_file = dir.join("github.key");
    let out = cli_with_stdin(
        &[
            "keygen",
            "--import",
            "github",
            "--key-id",
            "github-new",
            "--from",
            input.to_str().unwrap(),
            "--registry",
            registry_path.to_str().unwrap(),
            "--secret-file",
            secret_file.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("[[apps]]\n"), "{text}");
    assert!(!text.contains("Secret\" to"), "{text}");
    assert!(text.contains("secret_text_file = "), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Pasted where it says (the app is the last: at the end of the file), it loads.
    let mut file = std::fs::read_to_string(&registry_path).unwrap();
    file.push('\n');
    file.push_str(&text);
    std::fs::write(&registry_path, file).unwrap();
    let registry = InMemoryRegistry::from_toml_file(&registry_path).unwrap();
    let record = registry.get("github-new").unwrap();
    assert_eq!(
        record.secret().expose_secret(),
        SecretKey::from_text(github).unwrap().expose_secret()
    );
    assert!(record.allows_scheme("github") && !record.allows_scheme("stripe"));

    // Inline: the escapes read back to the same text.
    let out = cli_with_stdin(&["keygen", "--import", "github", "--key-id", "gh"], github);
    assert!(out.status.success(), "{}", stderr(&out));
    let registry = InMemoryRegistry::from_toml_str(&stdout(&out)).unwrap();
    assert_eq!(&*registry.get("gh").unwrap().secret().text_form(), github);
    assert_eq!(registry.get("gh").unwrap().app_id(), "github");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_import_refuses_a_bad_value_without_repeating_it() {
    for (provider, value, says) in [
        ("stripe", "sk_live_0123456789abcdefghijklmnop", "API key"),
        (
            "stripe",
            "0123456789abcdefghijklmnopqrstuvwxyz",
            "starts with whsec_",
        ),
        ("stripe", "whsec_tooShort", "24 to 128"),
        (
            "stripe",
            "whsec_0123456789abcdefghijkl-mnopqrstuv",
            "letters or digits",
        ),
        (
            "slack",
            "xoxb-0123456789-0123456789-abcdefghij",
            "Slack token",
        ),
        ("slack", "0123456789abcdefghijklmn", "verification token"),
        (
            "slack",
            "8f742231b10e8888abcd99aaabbb85a",
            "32 letters and digits",
        ),
        ("github", "short-secret", "too short"),
        ("github", STRIPE, "--provider stripe"),
        ("github", "two lines\nof a secret, pasted", "several lines"),
    ] {
        let out = cli_with_stdin(&["keygen", "--import", provider], value);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{provider} {value:?}: {err}");
        assert!(err.contains(says), "{provider} {value:?}: {err}");
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        for part in value.lines() {
            assert!(!err.contains(part), "the value in {err}");
        }
    }
    // Nothing read at all.
    let out = cli_with_stdin(&["keygen", "--import", "stripe"], "\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no secret read"), "{}", stderr(&out));
}

#[test]
fn a_secret_given_as_an_argument_is_refused_without_repeating_it() {
    for args in [
        &["keygen", "--import", "stripe", STRIPE][..],
        &["keygen", "--import", "stripe", "--from", STRIPE][..],
        &["keygen", STRIPE][..],
        &["keys", "import", "--provider", "stripe", STRIPE][..],
    ] {
        let out = cli_with_stdin(args, "");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains(STRIPE), "{args:?}: the secret in {err}");
        assert!(!stdout(&out).contains(STRIPE));
        // Without the postgres feature `keys` says how to get it instead.
        if args[0] == "keygen" || cfg!(feature = "postgres") {
            assert!(
                err.contains("never taken as an argument"),
                "{args:?}: {err}"
            );
        }
    }
}

#[test]
fn a_from_value_that_is_no_file_is_not_repeated_whatever_its_form() {
    // A GitHub secret from `openssl rand -base64 32` holds `/`; a mistyped one fails the form
    // check: neither may come back on stderr as "cannot read <value>".
    for value in [
        "u3L/q9+Zk0Tw1x7yPq/2mN5vB8cD4eF6gH0jK1lM2n=",
        "not/a-file-4Yc7",
    ] {
        let out = cli_with_stdin(&["keygen", "--import", "github", "--from", value], "");
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{value}: {err}");
        assert!(!err.contains(value), "the value in {err}");
        assert!(!stdout(&out).contains(value));
        assert!(err.contains("--from"), "{err}");
    }
}
