//! Kong's and APISIX's `hmac-auth` parsers and signing strings: never panic, and a request the
//! project's own signer re-signs over the same names verifies.
//!
//! The check itself is `tower_hmac_integration::fuzz::gateway_credentials`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::gateway_credentials(data));
