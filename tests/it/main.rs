//! The integration tests of tower-hmac, in one binary (one link instead of one per file): each
//! file beside this one is a module of it, run in parallel with the others. So none of them may
//! rely on process-wide state: metrics go to a per-test local recorder, logs to a subscriber of
//! the test's own thread, services a test stops or changes are its own (a private `redis-server`,
//! a proxy), every listener keeps the port the OS gave it (a port once released is never assumed
//! free), and every Redis key prefix is unique. Nothing waits for time to pass: a test sets the
//! layer's clock, or waits for the event itself with a generous deadline (`support::PATIENCE`).

mod abuse;
mod cluster;
mod concurrency;
mod every_scheme;
mod fuzz_regressions;
mod gateways;
mod metrics;
mod nonce_stores;
mod redis_cluster;
mod redis_cluster_loss;
mod redis_horizon;
mod redis_recovery;
mod reqwest;
mod rfc9421_window;
mod secrets;
mod sessions_cluster;
mod sessions_stores;
mod sigv4_clients;
mod support;
mod tcp;
mod throttle_cluster;
mod throttle_shared;
