//! The demo's schemes, each as the demo serves it, and the routes kept to some of them.

use tower_hmac::HmacAuthBuilder;
use tower_hmac::server::Schemes;

use crate::keys::{DEMO_GITHUB_KEY_ID, DEMO_KEY_ID, DEMO_SLACK_KEY_ID, DEMO_STRIPE_KEY_ID};

/// The demo's schemes, in the layer's order (the first of a request's candidates names the
/// challenge of a request that carries no credentials):
///
/// 1. protocol v1;
/// 2. softaware's ASP.NET `Hmac` ([`softaware`]);
/// 3. RFC 9421 HTTP Message Signatures, `hmac-sha256` ([`rfc9421`]);
/// 4. AWS SigV4, region `us-east-1`, service `demo` ([`sigv4`]);
/// 5. Kong's `hmac-auth` ([`kong`]);
/// 6. APISIX's `hmac-auth` ([`apisix`]);
/// 7. the ID:TS:HMAC token (30 s window), on [`TOKEN_ROUTE`] only;
/// 8. GitHub's `X-Hub-Signature-256`, on [`GITHUB_ROUTE`] only;
/// 9. Stripe's `Stripe-Signature`, on [`STRIPE_ROUTE`] only;
/// 10. Slack's `X-Slack-Signature`, on [`SLACK_ROUTE`] only.
///
/// The last four are kept to their routes by [`reserve_routes`]; the first six verify every
/// other signed route.
pub fn demo_schemes() -> Schemes {
    demo_schemes_with_sigv4(sigv4())
}

/// [`demo_schemes`] with this SigV4 in place of the demo's [`sigv4`] (a test that changes one of
/// its settings: `demo_schemes_with_sigv4(sigv4().query_order(QueryOrder::Sorted))`).
pub fn demo_schemes_with_sigv4(sigv4: tower_hmac::protocol::sigv4::SigV4) -> Schemes {
    use tower_hmac::protocol::webhooks::{GitHub, Slack, Stripe};
    Schemes::v1()
        .with(softaware())
        .with(rfc9421())
        .with(sigv4)
        .with(kong())
        .with(apisix())
        .with(tower_hmac::protocol::token::Token::default())
        .with(GitHub::new(DEMO_GITHUB_KEY_ID))
        .with(Stripe::new(DEMO_STRIPE_KEY_ID))
        .with(Slack::new(DEMO_SLACK_KEY_ID))
}

/// The route that accepts the ID:TS:HMAC token, and the only one (the token is not bound to the
/// request).
pub const TOKEN_ROUTE: &str = "/token/whoami";
/// GitHub's webhook route (`POST`).
pub const GITHUB_ROUTE: &str = "/webhooks/github";
/// Stripe's webhook route (`POST`).
pub const STRIPE_ROUTE: &str = "/webhooks/stripe";
/// Slack's webhook route (`POST`).
pub const SLACK_ROUTE: &str = "/webhooks/slack";

/// The demo's route reservations on `builder`: the token on [`TOKEN_ROUTE`], each webhook
/// provider on its route. On those paths only that scheme's credentials are looked for (a
/// protocol v1 signature there is `401 unsupported_scheme`); on every other path those four
/// schemes are not looked for (a token or a webhook signature there is `401
/// missing_authorization`). The set must hold the four (`build()` refuses an unknown id).
///
/// The paths are compared exactly, as the router matches them.
pub fn reserve_routes(builder: HmacAuthBuilder) -> HmacAuthBuilder {
    builder
        .reserve(["token"], |head| head.uri.path() == TOKEN_ROUTE)
        .reserve(["github"], |head| head.uri.path() == GITHUB_ROUTE)
        .reserve(["stripe"], |head| head.uri.path() == STRIPE_ROUTE)
        .reserve(["slack"], |head| head.uri.path() == SLACK_ROUTE)
}

/// The SigV4 region the demo serves.
pub const DEMO_SIGV4_REGION: &str = "us-east-1";
/// The SigV4 service the demo serves (the generic path rule).
pub const DEMO_SIGV4_SERVICE: &str = "demo";

/// AWS SigV4 as the demo serves it: region `us-east-1`, service `demo` (the generic path rule);
/// also service `s3` with S3's path rule, for S3 clients. A body may go unsigned
/// (`UNSIGNED-PAYLOAD`, presigned uploads) only on the S3 routes, under `/objects/`.
pub fn sigv4() -> tower_hmac::protocol::sigv4::SigV4 {
    use tower_hmac::protocol::sigv4::{SigV4, UnsignedPayload};
    SigV4::new(DEMO_SIGV4_REGION, DEMO_SIGV4_SERVICE)
        .s3_service("s3")
        .unsigned_payload(UnsignedPayload::under_paths([DEMO_S3_PREFIX]))
}

/// The demo's S3 routes: the only paths where a body may go unsigned.
pub const DEMO_S3_PREFIX: &str = "/objects/";

/// The softaware scheme as the demo serves it: plain `http` (the demo has no TLS).
pub fn softaware() -> tower_hmac::protocol::softaware::Softaware {
    tower_hmac::protocol::softaware::Softaware::new()
        .uri_scheme(tower_hmac::protocol::UriScheme::Http)
}

/// RFC 9421 as the demo serves it: plain `http`, the default coverage (`@method`,
/// `@authority`, `@path`, `@query` with a query, `content-digest` with a body).
pub fn rfc9421() -> tower_hmac::protocol::rfc9421::Rfc9421 {
    tower_hmac::protocol::rfc9421::Rfc9421::new().uri_scheme(tower_hmac::protocol::UriScheme::Http)
}

/// The algorithms the demo key may use with the gateway formats: hmac-sha1 too, which Kong's and
/// APISIX's own test suites sign with (every other key: hmac-sha256 and up).
const DEMO_GATEWAY_ALGORITHMS: [tower_hmac::protocol::gateway::Algorithm; 4] = [
    tower_hmac::protocol::gateway::Algorithm::HmacSha1,
    tower_hmac::protocol::gateway::Algorithm::HmacSha256,
    tower_hmac::protocol::gateway::Algorithm::HmacSha384,
    tower_hmac::protocol::gateway::Algorithm::HmacSha512,
];

/// Kong's `hmac-auth` as the demo serves it: `username` = the key id, secret = the key's text
/// form (its Base64); hmac-sha1 for the demo key only.
pub fn kong() -> tower_hmac::protocol::gateway::Kong {
    tower_hmac::protocol::gateway::Kong::new().key_algorithms(DEMO_KEY_ID, &DEMO_GATEWAY_ALGORITHMS)
}

/// APISIX's `hmac-auth` (3.11+) as the demo serves it: `keyId` = the key id, secret = the key's
/// text form; hmac-sha1 for the demo key only.
pub fn apisix() -> tower_hmac::protocol::gateway::Apisix {
    // APISIX has no hmac-sha384.
    tower_hmac::protocol::gateway::Apisix::new().key_algorithms(
        DEMO_KEY_ID,
        &[
            DEMO_GATEWAY_ALGORITHMS[0],
            DEMO_GATEWAY_ALGORITHMS[1],
            DEMO_GATEWAY_ALGORITHMS[3],
        ],
    )
}
