//! Replays the fuzz inputs kept in `fuzz/regressions/<target>/` through the fuzz targets'
//! checks, so that the ordinary test suite guards what the fuzzers found.

use std::path::Path;

use tower_hmac_integration::fuzz;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check(&data);
        count += 1;
    }
    assert!(count > 0, "no inputs kept for {target}");
    println!("{target}: {count} inputs replayed");
}

#[test]
fn parse_authorization_regressions() {
    replay("parse_authorization", fuzz::parse_authorization);
}

#[test]
fn parse_challenge_regressions() {
    replay("parse_challenge", fuzz::parse_challenge);
}

#[test]
fn parse_registry_regressions() {
    replay("parse_registry", fuzz::parse_registry);
}

#[test]
fn string_to_sign_regressions() {
    replay("string_to_sign", fuzz::string_to_sign);
}

#[test]
fn verify_request_regressions() {
    replay("verify_request", fuzz::verify_request);
}

#[test]
fn verify_schemes_regressions() {
    replay("verify_schemes", fuzz::verify_schemes);
}

#[test]
fn parse_scheme_credentials_regressions() {
    replay("parse_scheme_credentials", fuzz::parse_scheme_credentials);
}

#[test]
fn gateway_credentials_regressions() {
    replay("gateway_credentials", fuzz::gateway_credentials);
}
