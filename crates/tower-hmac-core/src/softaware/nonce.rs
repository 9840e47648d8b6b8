//! The nonce: what the server accepts, and what the handler sends.

/// The longest nonce any syntax accepts ([`NonceSyntax::Legacy`]'s cap).
pub(super) const MAX_NONCE_LEN: usize = 54;

/// What the server accepts as a nonce. The signed string puts the nonce between the time and
/// the body hash with no separator, so the nonce's syntax is what tells the three apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NonceSyntax {
    /// Exactly 32 lower-case hex digits: `Guid.NewGuid().ToString("N")`, what softaware's
    /// `ApiKeyDelegatingHandler` sends (the default). Every field of the signed string then has
    /// a fixed width or a fixed alphabet, and no two requests sign the same string.
    #[default]
    Guid,
    /// **Weakens security**: 1 to 54 of `A-Z a-z 0-9 - _`, for clients of other implementations
    /// (upper-case or hyphenated GUIDs, Base64url nonces). The nonce's width is then not fixed,
    /// so syntax alone no longer tells where the time ends and the body hash starts, and two
    /// requests can sign the same string when characters shifted across those bounds still
    /// parse (docs/SECURITY.md). The cap keeps the replay the red team found out: the time and
    /// the nonce together are at most 64 characters, the length of a SHA384 body hash in
    /// Base64 (the one digest without `=` padding, a character no nonce has), so a resend with
    /// no body cannot carry a captured body's hash in its nonce; what it could move there is
    /// hash only, and 10 random Base64 characters of it must then read as an acceptable time
    /// (about 1 in 10^10 per captured request).
    Legacy,
}

impl NonceSyntax {
    pub(super) fn accepts(self, nonce: &str) -> bool {
        match self {
            Self::Guid => {
                nonce.len() == 32
                    && nonce
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            }
            Self::Legacy => {
                !nonce.is_empty()
                    && nonce.len() <= MAX_NONCE_LEN
                    && nonce
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }
        }
    }

    pub(super) fn rule(self) -> &'static str {
        match self {
            Self::Guid => "the nonce is 32 lower-case hex digits (a GUID, .NET format \"N\")",
            Self::Legacy => "the nonce is 1 to 54 of A-Z a-z 0-9 - _",
        }
    }
}

/// A fresh nonce as softaware's handler makes it (`Guid.NewGuid().ToString("N")`): 128 random
/// bits from the OS CSPRNG as 32 lower-case hex digits, what [`NonceSyntax::Guid`] accepts.
pub fn generate_nonce() -> Result<String, crate::KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| crate::KeyError::RandomUnavailable)?;
    Ok(hex::encode(bytes))
}
