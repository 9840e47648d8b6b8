//! The string-to-sign builder over arbitrary request parts: never panics, and what a signer
//! signs, the verifier accepts.
//!
//! Input: NUL-separated fields — method, target, host, then `name: value` header lines; the rest
//! after a second NUL run is the body.
//!
//! The check itself is `tower_hmac_integration::fuzz::string_to_sign`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::string_to_sign(data));
