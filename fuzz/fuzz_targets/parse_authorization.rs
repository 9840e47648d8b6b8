//! The `Authorization` parser: never panics; whatever it accepts formats back to itself.
//!
//! The check itself is `tower_hmac_integration::fuzz::parse_authorization`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::parse_authorization(data));
