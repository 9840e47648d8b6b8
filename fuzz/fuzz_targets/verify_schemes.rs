//! The token, softaware, webhook, RFC 9421 and SigV4 schemes behind one layer: never panics, never a 5xx, and a
//! correctly signed request is accepted.
//!
//! The check itself is `tower_hmac_integration::fuzz::verify_schemes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::verify_schemes(data));
