//! Lower-case hex, as SigV4 writes hashes and signatures, on the stack.

/// The hex SHA-256 of the empty payload.
pub(super) const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Lower-case hex of a SHA-256 (or HMAC-SHA256) output, on the stack.
pub(super) fn hex32(bytes: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    // 32 bytes into 64: cannot fail for the outputs this module passes.
    let _ = hex::encode_to_slice(bytes, &mut out);
    out
}

/// 64 lower-case hex digits → 32 bytes, in one pass (`None` for anything else).
pub(super) fn unhex32(text: &[u8]) -> Option<[u8; 32]> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// The text of [`hex32`]'s output (always ASCII).
pub(super) fn hex_str(hex: &[u8; 64]) -> &str {
    std::str::from_utf8(hex).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_strict_lower_case() {
        let text = "00ff10ab".repeat(8);
        assert_eq!(
            unhex32(text.as_bytes()).unwrap()[..4],
            [0x00, 0xff, 0x10, 0xab]
        );
        assert!(unhex32(text.to_uppercase().as_bytes()).is_none());
        assert!(unhex32(&text.as_bytes()[..62]).is_none());
        assert!(unhex32(format!("{}g0", &text[..62]).as_bytes()).is_none());
        assert_eq!(hex_str(&hex32(&unhex32(text.as_bytes()).unwrap())), text);
    }

    #[test]
    fn the_empty_payload_hash_is_sha256_of_nothing() {
        use sha2::{Digest as _, Sha256};
        assert_eq!(hex_str(&hex32(&Sha256::digest(b""))), EMPTY_SHA256_HEX);
    }
}
