//! The whole verification over arbitrary request parts: never panics. When the first byte is odd
//! the request is first signed correctly, so the fuzzer also explores accepted requests, and a
//! correctly signed request must be accepted.
//!
//! Input: first byte (mode), then NUL-separated: method, target, Authorization (when not signed),
//! `name: value` header lines; the last field is the body.
//!
//! The check itself is `tower_hmac_integration::fuzz::verify_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::verify_request(data));
