//! The demo's keys: the embedded registry and the published demo secrets.

use tower_hmac::InMemoryRegistry;

/// The demo registry, embedded: **published demo keys**, for this demo only.
pub const DEMO_REGISTRY: &str = include_str!("../demo-registry.toml");
/// The key id the demo prints instructions for.
pub const DEMO_KEY_ID: &str = "demo-2026";
/// The key id of the demo's operator app (`demo-admin`, scope `admin`).
pub const DEMO_ADMIN_KEY_ID: &str = "demo-admin-2026";
/// Its secret (Base64; published: never use it elsewhere).
pub const DEMO_ADMIN_SECRET: &str = "ZGVtby1hZG1pbi0yMDI2LS1ub3QtYS1zZWNyZXQtLWRvLW5vdC11c2UtaXQ=";
/// The registry key of the demo's GitHub webhook route (its secret: [`DEMO_GITHUB_SECRET`]).
pub const DEMO_GITHUB_KEY_ID: &str = "demo-github-webhooks";
/// The demo's GitHub webhook secret (published: never use it).
pub const DEMO_GITHUB_SECRET: &str = "demo_github_webhook_secret_published_0001";
/// The registry key of the demo's Stripe webhook route (its secret: [`DEMO_STRIPE_SECRET`]).
pub const DEMO_STRIPE_KEY_ID: &str = "demo-stripe-webhooks";
/// The demo's Stripe signing secret (published: never use it).
pub const DEMO_STRIPE_SECRET: &str = "whsec_demo_stripe_secret_published_do_not_use";
/// The registry key of the demo's Slack webhook route (its secret: [`DEMO_SLACK_SECRET`]).
pub const DEMO_SLACK_KEY_ID: &str = "demo-slack-signing";
/// The demo's Slack signing secret (published: never use it).
pub const DEMO_SLACK_SECRET: &str = "demo_slack_signing_secret_published_0001";

/// The demo registry.
pub fn demo_registry() -> Result<InMemoryRegistry, tower_hmac::RegistryFileError> {
    InMemoryRegistry::from_toml_str(DEMO_REGISTRY)
}

/// The secret of [`DEMO_KEY_ID`] as Base64, for printing the demo's instructions.
pub fn demo_secret_base64() -> &'static str {
    DEMO_REGISTRY
        .lines()
        .skip_while(|l| !l.contains(DEMO_KEY_ID))
        .find_map(|l| l.strip_prefix("secret = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_registry_loads() {
        let registry = demo_registry().unwrap();
        assert_eq!(registry.len(), 7);
        // The operator app's key grants `admin`; the demo key's app does not.
        let admin = registry.get(DEMO_ADMIN_KEY_ID).unwrap();
        assert_eq!(admin.scopes(), [Box::<str>::from("admin")]);
        assert_eq!(&*admin.secret().text_form(), DEMO_ADMIN_SECRET);
        let demo = registry.get(DEMO_KEY_ID).unwrap();
        assert!(!demo.scopes().iter().any(|s| &**s == "admin"));
        // The webhook secrets are the providers' strings, limited to their schemes.
        let stripe = registry.get(DEMO_STRIPE_KEY_ID).unwrap();
        assert_eq!(&*stripe.secret().text_form(), DEMO_STRIPE_SECRET);
        assert!(stripe.allows_scheme("stripe") && !stripe.allows_scheme("v1"));
        let slack = registry.get(DEMO_SLACK_KEY_ID).unwrap();
        assert_eq!(&*slack.secret().text_form(), DEMO_SLACK_SECRET);
        assert!(registry.get(DEMO_KEY_ID).is_some());
    }

    #[test]
    fn the_printed_secret_is_the_demo_keys() {
        // The printed value is the registry's secret for DEMO_KEY_ID: a request signed with it
        // verifies against the embedded registry's key for that id.
        let printed = tower_hmac::SecretKey::from_base64(demo_secret_base64()).unwrap();
        let registry = demo_registry().unwrap();
        let record = registry.get(DEMO_KEY_ID).unwrap();
        let uri: http::Uri = "/whoami".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, "h".parse().unwrap());
        let auth = tower_hmac::protocol::Signer::new(DEMO_KEY_ID, printed)
            .unwrap()
            .sign(
                &(&http::Method::GET, &uri, &headers),
                &tower_hmac::protocol::EMPTY_BODY_SHA256,
                &tower_hmac::protocol::SignParams::new(1, "AAAAAAAAAAAAAAAAAAAAAA"),
            )
            .unwrap();
        let canonical =
            tower_hmac::protocol::CanonicalRequest::new(&auth, &http::Method::GET, &uri, &headers)
                .unwrap();
        assert!(
            canonical
                .verify(
                    record.secret(),
                    &tower_hmac::protocol::EMPTY_BODY_SHA256,
                    auth.signature()
                )
                .is_ok()
        );
    }
}
