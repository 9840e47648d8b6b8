//! The server's challenge (`WWW-Authenticate`) as a client reads it, and the clock offset it may
//! teach.

use std::fmt;

use subtle::ConstantTimeEq;

use crate::authorization::SCHEME;
use crate::key::SecretKey;
use crate::policy::time_mac;

/// The longest challenge a client parses.
const MAX_CHALLENGE_LEN: usize = 1024;

/// A parsed `WWW-Authenticate: HMAC-SHA256 error="…"[, ts="…", tsm="…"]` challenge.
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    error: String,
    ts: Option<u64>,
    tsm: Option<[u8; 32]>,
}

impl Challenge {
    /// Parses a challenge of protocol v1; `None` for another scheme or a malformed value.
    pub fn parse(value: &[u8]) -> Option<Self> {
        if value.len() > MAX_CHALLENGE_LEN {
            return None;
        }
        let text = std::str::from_utf8(value).ok()?;
        let (scheme, rest) = text.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return None;
        }
        let mut error = None;
        let mut ts = None;
        let mut tsm = None;
        for item in rest.split(',') {
            let (name, value) = item.trim_matches([' ', '\t']).split_once('=')?;
            let value = value.strip_prefix('"')?.strip_suffix('"')?;
            match name {
                "error" => error = Some(value.to_owned()),
                "ts" if value.len() <= 12 && value.bytes().all(|b| b.is_ascii_digit()) => {
                    ts = Some(value.parse().ok()?);
                }
                "tsm" => {
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(value, &mut bytes).ok()?;
                    tsm = Some(bytes);
                }
                _ => {}
            }
        }
        Some(Self {
            error: error?,
            ts,
            tsm,
        })
    }

    /// The rejection code (`stale_timestamp`, `invalid_signature`, …).
    pub fn error(&self) -> &str {
        &self.error
    }

    /// The server's time as sent, verified or not.
    pub fn unverified_ts(&self) -> Option<u64> {
        self.ts
    }

    /// The server's time, only if `tsm` proves it came from a holder of `key` in answer to the
    /// request that carried `nonce` (an answer captured for another request does not verify).
    pub fn verified_server_time(&self, key: &SecretKey, nonce: &str) -> Option<u64> {
        let (ts, tsm) = (self.ts?, self.tsm?);
        bool::from(time_mac(key, ts, nonce).ct_eq(&tsm)).then_some(ts)
    }
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenge")
            .field("error", &self.error)
            .field("ts", &self.ts)
            .field("tsm", &self.tsm.map(|_| "[present]"))
            .finish()
    }
}

/// `server_ts − local_now`, in seconds, saturating.
pub fn clock_offset(server_ts: u64, local_now: u64) -> i64 {
    if server_ts >= local_now {
        i64::try_from(server_ts - local_now).unwrap_or(i64::MAX)
    } else {
        i64::try_from(local_now - server_ts).map_or(i64::MIN, |d| -d)
    }
}

/// `local_now + offset`, saturating at 0 and `u64::MAX`.
pub fn apply_offset(local_now: u64, offset: i64) -> u64 {
    if offset >= 0 {
        local_now.saturating_add(offset.unsigned_abs())
    } else {
        local_now.saturating_sub(offset.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "9b2Zr0Vq3kYH1xQmU5aWcA";

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[3; 32]).unwrap()
    }

    #[test]
    fn parses_a_stale_timestamp_challenge_and_verifies_its_time() {
        let tsm = hex::encode(time_mac(&key(), 1_700_000_600, NONCE));
        let value =
            format!("HMAC-SHA256 error=\"stale_timestamp\", ts=\"1700000600\", tsm=\"{tsm}\"");
        let challenge = Challenge::parse(value.as_bytes()).unwrap();
        assert_eq!(challenge.error(), "stale_timestamp");
        assert_eq!(
            challenge.verified_server_time(&key(), NONCE),
            Some(1_700_000_600)
        );
        let other = SecretKey::from_bytes(&[4; 32]).unwrap();
        assert_eq!(challenge.verified_server_time(&other, NONCE), None);
    }

    #[test]
    fn an_answer_for_another_request_is_not_verified() {
        // Captured in answer to one request, replayed to the client for another: refused.
        let tsm = hex::encode(time_mac(&key(), 1_700_000_600, "captured-nonce-0000000"));
        let value =
            format!("HMAC-SHA256 error=\"stale_timestamp\", ts=\"1700000600\", tsm=\"{tsm}\"");
        let challenge = Challenge::parse(value.as_bytes()).unwrap();
        assert_eq!(challenge.verified_server_time(&key(), NONCE), None);
    }

    #[test]
    fn a_forged_ts_is_not_verified() {
        let tsm = hex::encode(time_mac(&key(), 1_700_000_600, NONCE));
        let value =
            format!("HMAC-SHA256 error=\"stale_timestamp\", ts=\"1800000000\", tsm=\"{tsm}\"");
        let challenge = Challenge::parse(value.as_bytes()).unwrap();
        assert_eq!(challenge.unverified_ts(), Some(1_800_000_000));
        assert_eq!(challenge.verified_server_time(&key(), NONCE), None);
        let without =
            Challenge::parse(b"HMAC-SHA256 error=\"stale_timestamp\", ts=\"1800000000\"").unwrap();
        assert_eq!(without.verified_server_time(&key(), NONCE), None);
    }

    #[test]
    fn ignores_other_schemes_and_garbage() {
        assert!(Challenge::parse(b"Bearer error=\"invalid_token\"").is_none());
        assert!(Challenge::parse(b"HMAC-SHA256 error=unquoted").is_none());
        assert!(Challenge::parse(b"HMAC-SHA256").is_none());
        assert!(Challenge::parse(&[b'x'; 2000]).is_none());
    }

    #[test]
    fn offsets_saturate() {
        assert_eq!(clock_offset(1600, 1000), 600);
        assert_eq!(clock_offset(1000, 1600), -600);
        assert_eq!(apply_offset(1000, -600), 400);
        assert_eq!(apply_offset(100, -600), 0);
        assert_eq!(apply_offset(u64::MAX, 5), u64::MAX);
    }
}
