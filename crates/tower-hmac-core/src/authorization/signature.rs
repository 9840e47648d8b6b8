//! The 32-byte signature: hex on the wire, compared in constant time.

use std::fmt;

use subtle::ConstantTimeEq;

/// A 32-byte HMAC-SHA256 signature.
///
/// Equality is constant-time; `Debug` does not print it.
#[derive(Clone, Copy)]
pub struct Signature([u8; 32]);

impl Signature {
    /// A signature from its bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A signature from 64 lower-case hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        Self::from_hex_bytes(text.as_bytes())
    }

    pub(super) fn from_hex_bytes(text: &[u8]) -> Option<Self> {
        /// Lower-case hex digit → value; anything else → 0xff.
        const NIBBLE: [u8; 256] = {
            let mut table = [0xffu8; 256];
            let mut i = 0;
            while i < 10 {
                table[b'0' as usize + i] = i as u8;
                i += 1;
            }
            let mut i = 0;
            while i < 6 {
                table[b'a' as usize + i] = 10 + i as u8;
                i += 1;
            }
            table
        };
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        let mut invalid = 0u8;
        for (out, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
            invalid |= hi | lo;
            *out = (hi << 4) | (lo & 0x0f);
        }
        // Valid nibbles are < 16: any 0xff marks a bad digit.
        (invalid & 0xf0 == 0).then_some(Self(bytes))
    }

    /// The signature's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The signature as 64 lower-case hex digits (as sent on the wire).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Signature {}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature([redacted])")
    }
}
