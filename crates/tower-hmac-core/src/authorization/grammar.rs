//! The grammar of each parameter: key id, timestamp, nonce, signed header names.

use super::{
    MAX_KEY_ID_LEN, MAX_NONCE_LEN, MAX_SIGNED_HEADERS, MAX_TIMESTAMP_DIGITS, MIN_NONCE_LEN,
};

fn as_ascii(bytes: &[u8]) -> &str {
    // Only called after every byte was checked to be ASCII.
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Whether `id` is a valid key id: 1 to 128 characters of `A-Z a-z 0-9 . _ ~ -` (the same
/// grammar serves for application ids).
pub fn is_valid_key_id(id: &str) -> bool {
    validate_key_id(id.as_bytes()).is_ok()
}

/// Byte classes, one bit each: a value is checked with one table look-up per byte and no branch
/// (the `Authorization` header is parsed on every request).
const KEY_ID: u8 = 1;
const NONCE: u8 = 2;
const LOWER_TCHAR: u8 = 4;
const DIGIT: u8 = 8;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'-') {
            class |= KEY_ID;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-') {
            class |= NONCE;
        }
        if is_lower_tchar(c) {
            class |= LOWER_TCHAR;
        }
        if c.is_ascii_digit() {
            class |= DIGIT;
        }
        table[b] = class;
        b += 1;
    }
    table
};

/// Whether every byte of `value` is in `class`.
fn all_in(value: &[u8], class: u8) -> bool {
    value
        .iter()
        .fold(class, |acc, &b| acc & CLASSES[b as usize])
        == class
}

pub(super) fn validate_key_id(value: &[u8]) -> Result<&str, &'static str> {
    if value.is_empty() || value.len() > MAX_KEY_ID_LEN {
        return Err("Credential must be 1 to 128 characters");
    }
    if !all_in(value, KEY_ID) {
        return Err("Credential has a character outside A-Z a-z 0-9 . _ ~ -");
    }
    Ok(as_ascii(value))
}

pub(super) fn validate_timestamp(value: &[u8]) -> Result<(&str, u64), &'static str> {
    if value.is_empty() || value.len() > MAX_TIMESTAMP_DIGITS || !all_in(value, DIGIT) {
        return Err("Timestamp must be 1 to 12 decimal digits");
    }
    if value.len() > 1 && value[0] == b'0' {
        // One time, one spelling: `0<now>` would otherwise verify as a second signature.
        return Err("Timestamp must not have leading zeros");
    }
    // At most 12 digits: no overflow.
    let secs = value
        .iter()
        .fold(0u64, |n, &digit| n * 10 + u64::from(digit - b'0'));
    Ok((as_ascii(value), secs))
}

pub(super) fn validate_nonce(value: &[u8]) -> Result<&str, &'static str> {
    if value.len() < MIN_NONCE_LEN || value.len() > MAX_NONCE_LEN {
        return Err("Nonce must be 16 to 128 characters");
    }
    if !all_in(value, NONCE) {
        return Err("Nonce has a character outside A-Z a-z 0-9 _ -");
    }
    Ok(as_ascii(value))
}

const fn is_lower_tchar(b: u8) -> bool {
    b.is_ascii_lowercase()
        || b.is_ascii_digit()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// The longest header name `http` accepts ([`http::HeaderName::from_bytes`] refuses longer ones).
const MAX_HEADER_NAME_LEN: usize = u16::MAX as usize;

/// Checks `SignedHeaders` and returns it as text, without building a [`http::HeaderName`]: a
/// name of 1 to [`MAX_HEADER_NAME_LEN`] lower-case tchars is exactly what
/// `HeaderName::from_bytes` accepts unchanged (a test keeps the two in step).
pub(super) fn validate_signed_headers(value: &[u8]) -> Result<&str, &'static str> {
    let mut previous: Option<&[u8]> = None;
    let mut has_host = false;
    for (count, name) in value.split(|&b| b == b';').enumerate() {
        if name.is_empty() {
            return Err("SignedHeaders has an empty name");
        }
        if !all_in(name, LOWER_TCHAR) {
            return Err("SignedHeaders names must be lower-case header names");
        }
        if let Some(prev) = previous
            && prev >= name
        {
            return Err("SignedHeaders must be strictly ascending with no duplicates");
        }
        previous = Some(name);
        if name == b"authorization" {
            return Err("SignedHeaders must not contain authorization");
        }
        has_host |= name == b"host";
        if count == MAX_SIGNED_HEADERS {
            return Err("SignedHeaders names more than 32 headers");
        }
        if name.len() > MAX_HEADER_NAME_LEN {
            return Err("SignedHeaders has an invalid name");
        }
    }
    if !has_host {
        return Err("SignedHeaders must contain host");
    }
    Ok(as_ascii(value))
}

#[cfg(test)]
mod tests {
    use http::HeaderName;

    use super::*;

    /// `validate_signed_headers` no longer builds `HeaderName`s: what it accepts must still be
    /// exactly what `HeaderName::from_bytes` accepts as it is (lower-case tchars, 1 to 65535).
    #[test]
    fn lower_tchar_names_are_exactly_the_header_names_http_keeps_as_sent() {
        for b in 0..=u8::MAX {
            let parsed = HeaderName::from_bytes(&[b]);
            let kept = parsed.as_ref().is_ok_and(|n| n.as_str().as_bytes() == [b]);
            assert_eq!(is_lower_tchar(b), kept, "byte {b:#04x}");
        }
        let longest = vec![b'a'; MAX_HEADER_NAME_LEN];
        assert!(HeaderName::from_bytes(&longest).is_ok());
        let one_more = vec![b'a'; MAX_HEADER_NAME_LEN + 1];
        assert!(HeaderName::from_bytes(&one_more).is_err());
    }

    #[test]
    fn the_class_table_says_what_each_rule_says() {
        for b in 0..=u8::MAX {
            let class = |bit| CLASSES[b as usize] & bit != 0;
            let key_id = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-');
            assert_eq!(class(KEY_ID), key_id, "{b:#04x}");
            assert_eq!(
                class(NONCE),
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
            );
            assert_eq!(class(LOWER_TCHAR), is_lower_tchar(b), "{b:#04x}");
            assert_eq!(class(DIGIT), b.is_ascii_digit(), "{b:#04x}");
        }
        assert!(all_in(b"", NONCE));
        assert!(all_in(b"abc-_09", NONCE));
        assert!(!all_in(b"abc.", NONCE));
        assert!(!all_in(b"ab\xffc", KEY_ID));
    }

    #[test]
    fn refuses_a_signed_header_name_http_would_refuse_as_too_long() {
        let longest = format!("{};host", "a".repeat(MAX_HEADER_NAME_LEN));
        assert!(validate_signed_headers(longest.as_bytes()).is_ok());
        let too_long = format!("{};host", "a".repeat(MAX_HEADER_NAME_LEN + 1));
        assert_eq!(
            validate_signed_headers(too_long.as_bytes()),
            Err("SignedHeaders has an invalid name")
        );
    }
}
