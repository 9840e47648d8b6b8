//! The tower-hmac demo server: an Axum app with open and signed routes.
//!
//! `cargo run -p demo-server` listens on 127.0.0.1:8080 with the demo registry embedded in the
//! binary (`demo-registry.toml`), so it needs no file and no other service.

// One concern per module; every public item is re-exported here, at the crate's root.
pub mod delegation;
mod keys;
mod layer;
mod routes;
mod schemes;
mod serve;
pub mod sessions;
mod settings;

pub use keys::{
    DEMO_ADMIN_KEY_ID, DEMO_ADMIN_SECRET, DEMO_GITHUB_KEY_ID, DEMO_GITHUB_SECRET, DEMO_KEY_ID,
    DEMO_REGISTRY, DEMO_SLACK_KEY_ID, DEMO_SLACK_SECRET, DEMO_STRIPE_KEY_ID, DEMO_STRIPE_SECRET,
    demo_registry, demo_secret_base64,
};
pub use layer::{
    SharedNonceStore, demo_builder, hosts_for, layer, layer_checked, open_replay_store,
    replay_store,
};
pub use routes::app;
pub use schemes::{
    DEMO_S3_PREFIX, DEMO_SIGV4_REGION, DEMO_SIGV4_SERVICE, GITHUB_ROUTE, SLACK_ROUTE, STRIPE_ROUTE,
    TOKEN_ROUTE, apisix, demo_schemes, demo_schemes_with_sigv4, kong, reserve_routes, rfc9421,
    sigv4, softaware,
};
pub use serve::{
    DEFAULT_ADDR, DEFAULT_HEADER_READ_TIMEOUT, SECURITY_HEADERS, SHUTDOWN_GRACE, serve, serve_all,
    serve_with, serve_with_timeout, served,
};
pub use settings::{
    DEMO_THROTTLE, DemoClock, RedisTarget, ReplayStore, Settings, SharedPolicy, StoreTarget,
    Throttle,
};
