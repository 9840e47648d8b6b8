//! Item 7: the webhook routes use the demo's one replay store (that of its one layer) — with
//! Redis, webhook deliveries are replays through every instance and after a restart.

use tower_hmac::SecretKey;
use tower_hmac::protocol::webhooks::{github_signature, slack_signature, stripe_signature};

use super::stripe::{ahead, post};
use crate::common::{Instance, send, start_demo};

async fn instance(redis: &str, prefix: &str) -> Instance {
    start_demo(&[
        ("TOWER_HMAC_DEMO_ADDR", "127.0.0.1:0"),
        ("TOWER_HMAC_DEMO_THROTTLE", "off"),
        ("TOWER_HMAC_DEMO_REPLAY_STORE", redis),
        ("TOWER_HMAC_DEMO_REDIS_PREFIX", prefix),
    ])
    .await
}

/// The three providers' deliveries of one body, as (path, headers).
fn deliveries(body: &str) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let t = ahead();
    let stripe = SecretKey::from_text(demo_server::DEMO_STRIPE_SECRET).unwrap();
    let slack = SecretKey::from_text(demo_server::DEMO_SLACK_SECRET).unwrap();
    let github = SecretKey::from_text(demo_server::DEMO_GITHUB_SECRET).unwrap();
    vec![
        (
            "/webhooks/stripe",
            vec![(
                "Stripe-Signature",
                stripe_signature(&stripe, t, body.as_bytes()),
            )],
        ),
        (
            "/webhooks/slack",
            vec![
                ("X-Slack-Request-Timestamp", t.to_string()),
                (
                    "X-Slack-Signature",
                    slack_signature(&slack, t, body.as_bytes()),
                ),
            ],
        ),
        (
            "/webhooks/github",
            vec![
                ("X-GitHub-Delivery", "d-1".to_owned()),
                (
                    "X-Hub-Signature-256",
                    github_signature(&github, body.as_bytes()),
                ),
            ],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_accepted_by_one_instance_is_a_replay_on_another_and_after_a_restart() {
    let redis = tower_hmac_integration::require_redis().await;
    let prefix = tower_hmac_integration::unique_prefix("red-team-webhooks");
    let a = instance(&redis, &prefix).await;
    let b = instance(&redis, &prefix).await;
    let body = format!("{{\"id\":\"{prefix}\"}}");
    for (path, headers) in deliveries(&body) {
        let raw_a = post(&a.addr.to_string(), path, &headers, &body);
        let (status, text) = send(a.addr, &raw_a).await;
        assert_eq!(status, 200, "{path} on the first instance: {text}");
        let raw_b = post(&b.addr.to_string(), path, &headers, &body);
        let (status, text) = send(b.addr, &raw_b).await;
        assert_eq!(
            status, 401,
            "{path} accepted again by another instance: {text}"
        );
        assert!(text.contains("replayed_nonce"), "{text}");
    }
    // GitHub signs no time: only the shared store remembers its delivery across a restart.
    drop(a);
    let c = instance(&redis, &prefix).await;
    let (path, headers) = deliveries(&body).pop().unwrap();
    let (status, text) = send(c.addr, &post(&c.addr.to_string(), path, &headers, &body)).await;
    assert_eq!(
        status, 401,
        "a GitHub delivery replayed after a restart: {text}"
    );
}
