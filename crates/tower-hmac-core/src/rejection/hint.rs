//! What a refusal may tell a client: the server's time, and diagnostics of what it signed.

use std::fmt;

/// The server's clock, sent with a `stale_timestamp` rejection so that a client can correct its
/// own offset. `tsm` proves the time came from a server that holds the client's key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimeHint {
    ts: u64,
    tsm: Option<[u8; 32]>,
}

impl TimeHint {
    /// A time hint: the server's Unix time and, when the key was known, its MAC.
    pub fn new(ts: u64, tsm: Option<[u8; 32]>) -> Self {
        Self { ts, tsm }
    }

    /// The server's Unix time in seconds.
    pub fn ts(&self) -> u64 {
        self.ts
    }

    /// `HMAC(key, "HMAC-SHA256-TIME-2\n" + ts + "\n" + nonce)` when the key was known.
    pub fn tsm(&self) -> Option<&[u8; 32]> {
        self.tsm.as_ref()
    }
}

impl fmt::Debug for TimeHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeHint")
            .field("ts", &self.ts)
            .field("tsm", &self.tsm.map(|_| "[present]"))
            .finish()
    }
}

/// What an `invalid_signature` answer tells of the server's signed text.
///
/// The default, [`Keyed`](Self::Keyed), is what protocol v1 revision 2 sends for every scheme:
/// an 8-byte digest of each line, keyed with the key being verified, which only a holder of the
/// key can compare with its own lines (`tower-hmac explain --problem`). The text in clear would
/// reflect whatever the request carried — including headers a proxy injected — to anyone, and
/// an unkeyed hash of it is an offline oracle for low-entropy values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Diagnostics {
    /// No diagnostics at all.
    Off,
    /// Keyed line digests (the default).
    #[default]
    Keyed,
    /// **Unsafe outside development**: the signed text in clear besides the keyed digests (S3
    /// clients' `<StringToSign>` and `<CanonicalRequest>`). Anyone can then read back what the
    /// request's covered headers held after every proxy on the way, including values a proxy
    /// injected; and the text is the same for unknown key ids.
    Clear,
}
