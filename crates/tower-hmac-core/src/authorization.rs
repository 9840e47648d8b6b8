//! The protocol v1 `Authorization` header: strict parsing and formatting.

use std::fmt;

use http::HeaderName;
use subtle::ConstantTimeEq;

use crate::rejection::{Rejection, RejectionKind};

/// The scheme name of protocol v1 (matched case-insensitively).
pub const SCHEME: &str = "HMAC-SHA256";

/// The default limit on the `Authorization` header's length in bytes.
pub const DEFAULT_MAX_HEADER_LEN: usize = 4096;
/// The longest key id, in characters.
pub const MAX_KEY_ID_LEN: usize = 128;
/// The shortest nonce, in characters.
pub const MIN_NONCE_LEN: usize = 16;
/// The longest nonce, in characters.
pub const MAX_NONCE_LEN: usize = 128;
/// The most digits a timestamp may have.
pub const MAX_TIMESTAMP_DIGITS: usize = 12;
/// The most headers `SignedHeaders` may name.
pub const MAX_SIGNED_HEADERS: usize = 32;

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

    fn from_hex_bytes(text: &[u8]) -> Option<Self> {
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

/// A parsed protocol v1 `Authorization` header.
///
/// `Display` writes the header value in its canonical form (the order of [`Authorization::PARAMETERS`]).
/// `Debug` leaves out the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Key id, timestamp, nonce and signed headers as sent, one after the other (one allocation).
    text: String,
    /// Where each of the four ends in `text`.
    ends: [u32; 4],
    timestamp_secs: u64,
    header_names: Vec<HeaderName>,
    signature: Signature,
}

impl Authorization {
    /// The parameter names, in the order [`Display`](fmt::Display) writes them.
    pub const PARAMETERS: [&'static str; 5] = [
        "Credential",
        "Timestamp",
        "Nonce",
        "SignedHeaders",
        "Signature",
    ];

    /// Parses a header value strictly, with `max_len` as the limit on its length in bytes.
    ///
    /// Errors are `unsupported_scheme` for another scheme and `malformed_authorization` for
    /// anything else, with a fixed explanation in [`Rejection::detail`].
    pub fn parse(value: &[u8], max_len: usize) -> Result<Self, Rejection> {
        if value.len() > max_len {
            return Err(malformed("the Authorization header is too long"));
        }
        let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
            Some(i) => (&value[..i], &value[i + 1..]),
            None => (value, &[][..]),
        };
        if scheme.is_empty() {
            return Err(malformed("the Authorization header has no scheme"));
        }
        if !scheme.eq_ignore_ascii_case(SCHEME.as_bytes()) {
            return Err(Rejection::new(RejectionKind::UnsupportedScheme)
                .with_detail("the Authorization scheme must be HMAC-SHA256"));
        }
        let rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return Err(malformed("the Authorization header has no parameters"));
        }
        let mut key_id = None;
        let mut timestamp = None;
        let mut nonce = None;
        let mut signed_headers = None;
        let mut signature = None;
        // One pass over the bytes: `name=value` items separated by `,` and optional white space.
        let is_ows = |b: u8| b == b' ' || b == b'\t';
        let mut i = 0;
        loop {
            while i < rest.len() && is_ows(rest[i]) {
                i += 1;
            }
            let name_start = i;
            while i < rest.len() && rest[i] != b'=' && rest[i] != b',' {
                i += 1;
            }
            if i == rest.len() || rest[i] == b',' {
                return Err(malformed("a parameter has no '='"));
            }
            let name = &rest[name_start..i];
            i += 1;
            let value_start = i;
            while i < rest.len() && rest[i] != b',' {
                i += 1;
            }
            let mut value_end = i;
            while value_end > value_start && is_ows(rest[value_end - 1]) {
                value_end -= 1;
            }
            let value = &rest[value_start..value_end];
            if name.is_empty() {
                return Err(malformed("a parameter has no name"));
            }
            if value.is_empty() {
                return Err(malformed("a parameter is empty"));
            }
            let slot = match name {
                b"Credential" => &mut key_id,
                b"Timestamp" => &mut timestamp,
                b"Nonce" => &mut nonce,
                b"SignedHeaders" => &mut signed_headers,
                b"Signature" => &mut signature,
                _ => return Err(malformed("unknown parameter")),
            };
            if slot.replace(value).is_some() {
                return Err(malformed("duplicate parameter"));
            }
            if i == rest.len() {
                break;
            }
            i += 1; // the comma; a trailing one leaves an empty item, refused above
        }

        let key_id = key_id.ok_or_else(|| malformed("missing Credential"))?;
        let timestamp = timestamp.ok_or_else(|| malformed("missing Timestamp"))?;
        let nonce = nonce.ok_or_else(|| malformed("missing Nonce"))?;
        let signed_headers = signed_headers.ok_or_else(|| malformed("missing SignedHeaders"))?;
        let signature = signature.ok_or_else(|| malformed("missing Signature"))?;

        let key_id = validate_key_id(key_id).map_err(malformed)?;
        let (timestamp, timestamp_secs) = validate_timestamp(timestamp).map_err(malformed)?;
        let nonce = validate_nonce(nonce).map_err(malformed)?;
        let (signed_headers, header_names) =
            validate_signed_headers(signed_headers).map_err(malformed)?;
        let signature = Signature::from_hex_bytes(signature)
            .ok_or_else(|| malformed("Signature must be 64 lower-case hex digits"))?;

        Ok(Self::assemble(
            [key_id, timestamp, nonce, signed_headers],
            timestamp_secs,
            header_names,
            signature,
        ))
    }

    fn assemble(
        parts: [&str; 4],
        timestamp_secs: u64,
        header_names: Vec<HeaderName>,
        signature: Signature,
    ) -> Self {
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 4];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            // Bounded by the header length limit (at most 64 KiB), so this always fits.
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Self {
            text,
            ends,
            timestamp_secs,
            header_names,
            signature,
        }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// Builds a header from its parts, checking each as [`parse`](Self::parse) would.
    ///
    /// `signed_headers` must already be sorted, unique, lower-case, contain `host` and not
    /// `authorization`.
    pub fn new(
        key_id: &str,
        timestamp: u64,
        nonce: &str,
        signed_headers: &[HeaderName],
        signature: Signature,
    ) -> Result<Self, FormatError> {
        validate_key_id(key_id.as_bytes()).map_err(FormatError)?;
        validate_nonce(nonce.as_bytes()).map_err(FormatError)?;
        let timestamp_text = timestamp.to_string();
        validate_timestamp(timestamp_text.as_bytes()).map_err(FormatError)?;
        let joined = signed_headers
            .iter()
            .map(HeaderName::as_str)
            .collect::<Vec<_>>()
            .join(";");
        let (_, header_names) = validate_signed_headers(joined.as_bytes()).map_err(FormatError)?;
        Ok(Self::assemble(
            [key_id, &timestamp_text, nonce, &joined],
            timestamp,
            header_names,
            signature,
        ))
    }

    /// The key id (`Credential`).
    pub fn key_id(&self) -> &str {
        self.part(0)
    }

    /// The timestamp exactly as sent.
    pub fn timestamp_str(&self) -> &str {
        self.part(1)
    }

    /// The timestamp in Unix seconds.
    pub fn timestamp(&self) -> u64 {
        self.timestamp_secs
    }

    /// The nonce.
    pub fn nonce(&self) -> &str {
        self.part(2)
    }

    /// `SignedHeaders` exactly as sent.
    pub fn signed_headers_str(&self) -> &str {
        self.part(3)
    }

    /// The signed header names, in order.
    pub fn signed_headers(&self) -> &[HeaderName] {
        &self.header_names
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    pub(crate) fn with_signature(mut self, signature: Signature) -> Self {
        self.signature = signature;
        self
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME} Credential={}, Timestamp={}, Nonce={}, SignedHeaders={}, Signature={}",
            self.key_id(),
            self.timestamp_str(),
            self.nonce(),
            self.signed_headers_str(),
            self.signature.to_hex()
        )
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("key_id", &self.key_id())
            .field("timestamp", &self.timestamp_str())
            .field("nonce", &self.nonce())
            .field("signed_headers", &self.signed_headers_str())
            .field("signature", &self.signature)
            .finish()
    }
}

/// A value given to [`Authorization::new`] breaks the protocol's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Authorization parameter: {0}")]
pub struct FormatError(&'static str);

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

fn as_ascii(bytes: &[u8]) -> &str {
    // Only called after every byte was checked to be ASCII.
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Whether `id` is a valid key id: 1 to 128 characters of `A-Z a-z 0-9 . _ ~ -` (the same
/// grammar serves for application ids).
pub fn is_valid_key_id(id: &str) -> bool {
    validate_key_id(id.as_bytes()).is_ok()
}

fn validate_key_id(value: &[u8]) -> Result<&str, &'static str> {
    if value.is_empty() || value.len() > MAX_KEY_ID_LEN {
        return Err("Credential must be 1 to 128 characters");
    }
    if !value
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
    {
        return Err("Credential has a character outside A-Z a-z 0-9 . _ ~ -");
    }
    Ok(as_ascii(value))
}

fn validate_timestamp(value: &[u8]) -> Result<(&str, u64), &'static str> {
    if value.is_empty()
        || value.len() > MAX_TIMESTAMP_DIGITS
        || !value.iter().all(u8::is_ascii_digit)
    {
        return Err("Timestamp must be 1 to 12 decimal digits");
    }
    if value.len() > 1 && value[0] == b'0' {
        // One time, one spelling: `0<now>` would otherwise verify as a second signature.
        return Err("Timestamp must not have leading zeros");
    }
    let text = as_ascii(value);
    let secs = text
        .parse()
        .map_err(|_| "Timestamp must be 1 to 12 decimal digits")?;
    Ok((text, secs))
}

fn validate_nonce(value: &[u8]) -> Result<&str, &'static str> {
    if value.len() < MIN_NONCE_LEN || value.len() > MAX_NONCE_LEN {
        return Err("Nonce must be 16 to 128 characters");
    }
    if !value
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err("Nonce has a character outside A-Z a-z 0-9 _ -");
    }
    Ok(as_ascii(value))
}

fn is_lower_tchar(b: u8) -> bool {
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

fn validate_signed_headers(value: &[u8]) -> Result<(&str, Vec<HeaderName>), &'static str> {
    let mut names = Vec::new();
    let mut previous: Option<&[u8]> = None;
    let mut has_host = false;
    for name in value.split(|&b| b == b';') {
        if name.is_empty() {
            return Err("SignedHeaders has an empty name");
        }
        if !name.iter().all(|&b| is_lower_tchar(b)) {
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
        if names.len() == MAX_SIGNED_HEADERS {
            return Err("SignedHeaders names more than 32 headers");
        }
        let name = HeaderName::from_bytes(name).map_err(|_| "SignedHeaders has an invalid name")?;
        names.push(name);
    }
    if !has_host {
        return Err("SignedHeaders must contain host");
    }
    Ok((as_ascii(value), names))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn header(params: &str) -> String {
        format!("HMAC-SHA256 {params}")
    }

    fn valid() -> String {
        header(&format!(
            "Credential=app-1, Timestamp=1700000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=content-type;host, Signature={SIG}"
        ))
    }

    fn parse(value: &str) -> Result<Authorization, Rejection> {
        Authorization::parse(value.as_bytes(), DEFAULT_MAX_HEADER_LEN)
    }

    fn assert_malformed(value: &str) {
        let err = parse(value).expect_err(value);
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization, "{value}");
    }

    #[test]
    fn parses_a_valid_header() {
        let auth = parse(&valid()).unwrap();
        assert_eq!(auth.key_id(), "app-1");
        assert_eq!(auth.timestamp(), 1_700_000_000);
        assert_eq!(auth.nonce(), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(auth.signed_headers_str(), "content-type;host");
        assert_eq!(auth.signed_headers().len(), 2);
        assert_eq!(auth.signature().to_hex(), SIG);
    }

    #[test]
    fn format_then_parse_is_identity() {
        let auth = parse(&valid()).unwrap();
        assert_eq!(auth.to_string(), valid());
        assert_eq!(parse(&auth.to_string()).unwrap(), auth);
    }

    #[test]
    fn accepts_parameters_in_any_order_and_without_spaces() {
        let value = header(&format!(
            "Signature={SIG},SignedHeaders=host,Nonce=AAAAAAAAAAAAAAAAAAAAAA,Timestamp=1,Credential=k"
        ));
        let auth = parse(&value).unwrap();
        assert_eq!(auth.key_id(), "k");
        assert_eq!(auth.timestamp(), 1);
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let value = valid().replacen("HMAC-SHA256", "hmac-sha256", 1);
        assert!(parse(&value).is_ok());
    }

    #[test]
    fn rejects_other_schemes_as_unsupported() {
        let err = parse("Bearer abc").unwrap_err();
        assert_eq!(err.kind(), RejectionKind::UnsupportedScheme);
        let err = parse("Basic").unwrap_err();
        assert_eq!(err.kind(), RejectionKind::UnsupportedScheme);
    }

    #[test]
    fn rejects_scheme_without_parameters() {
        assert_malformed("HMAC-SHA256");
        assert_malformed("HMAC-SHA256   ");
    }

    #[test]
    fn rejects_empty_header() {
        assert_malformed("");
        assert_malformed(" HMAC-SHA256 Credential=a");
    }

    #[test]
    fn rejects_parameter_names_in_other_case() {
        assert_malformed(&valid().replace("Credential=", "credential="));
    }

    #[test]
    fn rejects_unknown_parameter() {
        assert_malformed(&format!("{}, Extra=1", valid()));
    }

    #[test]
    fn rejects_duplicate_nonce_parameter() {
        assert_malformed(&format!("{}, Nonce=BBBBBBBBBBBBBBBBBBBBBB", valid()));
    }

    #[test]
    fn rejects_duplicate_credential_parameter() {
        assert_malformed(&format!("{}, Credential=app-1", valid()));
    }

    #[test]
    fn rejects_missing_parameter() {
        for name in Authorization::PARAMETERS {
            let value: Vec<_> = valid()
                .trim_start_matches("HMAC-SHA256 ")
                .split(", ")
                .filter(|p| !p.starts_with(&format!("{name}=")))
                .map(str::to_owned)
                .collect();
            assert_malformed(&header(&value.join(", ")));
        }
    }

    #[test]
    fn rejects_empty_parameter_value() {
        assert_malformed(&valid().replace("Credential=app-1", "Credential="));
    }

    #[test]
    fn rejects_trailing_comma() {
        assert_malformed(&format!("{},", valid()));
    }

    #[test]
    fn rejects_parameter_without_equals() {
        assert_malformed(&format!("{}, Oops", valid()));
    }

    #[test]
    fn rejects_timestamp_with_leading_zeros() {
        assert_malformed(&header(&format!(
            "Credential=app-1, Timestamp=01700000000, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature={SIG}"
        )));
        let zero = parse(&header(&format!(
            "Credential=app-1, Timestamp=0, Nonce=AAAAAAAAAAAAAAAAAAAAAA, SignedHeaders=host, Signature={SIG}"
        )))
        .unwrap();
        assert_eq!(zero.timestamp(), 0);
    }

    #[test]
    fn rejects_quoted_values() {
        assert_malformed(&valid().replace("Credential=app-1", "Credential=\"app-1\""));
    }

    #[test]
    fn rejects_over_long_header() {
        let long = format!("{}{}", valid(), " ".repeat(DEFAULT_MAX_HEADER_LEN));
        assert_malformed(&long);
    }

    #[test]
    fn rejects_key_id_too_long_or_with_bad_characters() {
        assert_malformed(&valid().replace("app-1", &"a".repeat(129)));
        assert!(parse(&valid().replace("app-1", &"a".repeat(128))).is_ok());
        assert_malformed(&valid().replace("app-1", "app/1"));
        assert!(parse(&valid().replace("app-1", "A.b_c~d-9")).is_ok());
    }

    #[test]
    fn rejects_bad_timestamps() {
        assert_malformed(&valid().replace("1700000000", "-1700000000"));
        assert_malformed(&valid().replace("1700000000", "+1700000000"));
        assert_malformed(&valid().replace("1700000000", "1700000000.5"));
        assert_malformed(&valid().replace("1700000000", "1234567890123"));
        assert!(parse(&valid().replace("1700000000", "123456789012")).is_ok());
    }

    #[test]
    fn rejects_bad_nonces() {
        let nonce = "AAAAAAAAAAAAAAAAAAAAAA";
        assert_malformed(&valid().replace(nonce, &"A".repeat(15)));
        assert!(parse(&valid().replace(nonce, &"A".repeat(16))).is_ok());
        assert!(parse(&valid().replace(nonce, &"A".repeat(128))).is_ok());
        assert_malformed(&valid().replace(nonce, &"A".repeat(129)));
        assert_malformed(&valid().replace(nonce, "AAAAAAAAAAAAAAAAAAAAA="));
        assert_malformed(&valid().replace(nonce, "AAAAAAAAAAAAAAAAAAAAA+"));
    }

    #[test]
    fn rejects_bad_signed_headers() {
        let sh = "content-type;host";
        assert_malformed(&valid().replace(sh, "host;content-type"));
        assert_malformed(&valid().replace(sh, "host;host"));
        assert_malformed(&valid().replace(sh, "content-type"));
        assert_malformed(&valid().replace(sh, "authorization;host"));
        assert_malformed(&valid().replace(sh, "Content-Type;host"));
        assert_malformed(&valid().replace(sh, "content-type;;host"));
        assert_malformed(&valid().replace(sh, "host;"));
        let many: Vec<String> = (0..32).map(|i| format!("h{i:02}")).collect();
        assert_malformed(&valid().replace(sh, &format!("{};host", many.join(";"))));
        let max: Vec<String> = (0..31).map(|i| format!("h{i:02}")).collect();
        assert!(parse(&valid().replace(sh, &format!("{};host", max.join(";")))).is_ok());
    }

    #[test]
    fn rejects_bad_signatures() {
        assert_malformed(&valid().replace(SIG, &SIG.to_uppercase()));
        assert_malformed(&valid().replace(SIG, &SIG[..63]));
        assert_malformed(&valid().replace(SIG, &format!("{SIG}0")));
        assert_malformed(&valid().replace(SIG, &SIG.replace('a', "g")));
    }

    #[test]
    fn rejects_non_ascii_bytes() {
        let mut value = valid().into_bytes();
        let at = valid().find("app-1").unwrap() + 3;
        value[at] = 0xff;
        let err = Authorization::parse(&value, DEFAULT_MAX_HEADER_LEN).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization);
    }

    #[test]
    fn debug_leaves_out_the_signature() {
        let auth = parse(&valid()).unwrap();
        let debug = format!("{auth:?}");
        assert!(!debug.contains(SIG), "{debug}");
        assert!(debug.contains("app-1"));
    }

    #[test]
    fn signature_equality_compares_bytes() {
        let a = Signature::from_hex(SIG).unwrap();
        let mut bytes = *a.as_bytes();
        assert_eq!(a, Signature::from_bytes(bytes));
        bytes[31] ^= 1;
        assert_ne!(a, Signature::from_bytes(bytes));
    }

    #[test]
    fn new_checks_its_inputs() {
        let sig = Signature::from_bytes([0; 32]);
        let host = HeaderName::from_static("host");
        assert!(
            Authorization::new(
                "k",
                1,
                "AAAAAAAAAAAAAAAAAAAAAA",
                std::slice::from_ref(&host),
                sig
            )
            .is_ok()
        );
        assert!(
            Authorization::new(
                "k/",
                1,
                "AAAAAAAAAAAAAAAAAAAAAA",
                std::slice::from_ref(&host),
                sig
            )
            .is_err()
        );
        assert!(Authorization::new("k", 1, "short", &[host], sig).is_err());
        let ct = HeaderName::from_static("content-type");
        assert!(Authorization::new("k", 1, "AAAAAAAAAAAAAAAAAAAAAA", &[ct], sig).is_err());
    }
}
