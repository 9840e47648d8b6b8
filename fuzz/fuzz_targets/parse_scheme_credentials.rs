//! Each new scheme's parser alone (token, softaware, Stripe, Slack, GitHub, RFC 9421, SigV4): never
//! panics, and what it accepts is usable.
//!
//! The check itself is `tower_hmac_integration::fuzz::parse_scheme_credentials`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tower_hmac_integration::fuzz::parse_scheme_credentials(data));
