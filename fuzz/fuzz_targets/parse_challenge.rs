//! The client's `WWW-Authenticate` parser: never panics.
//!
//! The check itself is `tower_hmac_integration::fuzz::parse_challenge`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::parse_challenge(data));
