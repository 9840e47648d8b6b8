//! The registry file parser: never panics, never reads without bound.
//!
//! The check itself is `tower_hmac_integration::fuzz::parse_registry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::parse_registry(data));
