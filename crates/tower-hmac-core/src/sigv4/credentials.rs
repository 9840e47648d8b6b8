//! SigV4's credentials, read from the `Authorization` header or a presigned URL's query.

use std::borrow::Cow;
use std::fmt;

use http::header::AUTHORIZATION;
use http::request::Parts;
use percent_encoding::percent_decode_str;

use super::canonical::query_params;
use super::date::{digits, header_date, parse_amz_date};
use super::hexdigits::unhex32;
use super::path::check_path;
use super::{
    ALGORITHM, MAX_SIGNED_HEADERS, PathRule, PresignedUrlUse, ReplayGuard, SIGV2_QUERY_KEY,
    SIGV2_TOKEN, STREAMING_PAYLOAD, SecurityToken, SigV4, UNSIGNED_PAYLOAD, X_AMZ_CONTENT_SHA256,
    X_AMZ_DECODED_LENGTH, X_AMZ_SECURITY_TOKEN, malformed, sigv2_refused,
};
use crate::is_valid_key_id;
use crate::{Credentials, Freshness};
use crate::{Rejection, RejectionKind};

/// How the body is covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Payload {
    /// No `X-Amz-Content-Sha256`: the hash of the body the layer reads.
    Computed,
    /// `X-Amz-Content-Sha256: <hex>`: signed as declared, and checked against the body.
    Declared([u8; 32]),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// A presigned URL without `X-Amz-Content-Sha256`: `UNSIGNED-PAYLOAD` (S3 and the SDKs'
    /// presigners) or the body's hash (botocore's generic `SigV4QueryAuth`), whichever the
    /// client signed.
    Presigned,
    /// A presigned URL where bodies must be signed ([`UnsignedPayload`](super::UnsignedPayload)):
    /// `UNSIGNED-PAYLOAD` only without a body, else the body's hash.
    PresignedBodyless,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, with the decoded length.
    Streaming(u64),
}

/// Parsed SigV4 credentials, from the `Authorization` header or a presigned URL's query.
#[derive(Clone)]
pub struct SigV4Credentials {
    pub(super) key_id: Box<str>,
    /// `<yyyymmdd>/<region>/<service>/aws4_request`.
    pub(super) scope: Box<str>,
    pub(super) rule: PathRule,
    pub(super) amz_date: Box<str>,
    timestamp: u64,
    pub(super) signed_headers: Box<str>,
    pub(super) signature: [u8; 32],
    pub(super) signature_hex: Box<str>,
    /// For a presigned URL: the last second it is valid.
    pub(super) expires: Option<u64>,
    pub(super) payload: Payload,
    pub(super) guarded: bool,
}

impl fmt::Debug for SigV4Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Credentials")
            .field("key_id", &self.key_id)
            .field("scope", &self.scope)
            .field("amz_date", &self.amz_date)
            .field("signed_headers", &self.signed_headers)
            .field("presigned", &self.expires.is_some())
            .finish_non_exhaustive()
    }
}

impl SigV4Credentials {
    /// The credential scope, `<yyyymmdd>/<region>/<service>/aws4_request`.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether these came from a presigned URL.
    pub fn is_presigned(&self) -> bool {
        self.expires.is_some()
    }
}

impl Credentials for SigV4Credentials {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    fn nonce(&self) -> &str {
        &self.signature_hex
    }

    fn freshness(&self) -> Freshness {
        match self.expires {
            Some(until) => Freshness::Until {
                from: self.timestamp,
                until,
            },
            None => Freshness::Window { at: self.timestamp },
        }
    }
}

impl SigV4 {
    /// The credentials of a request: its `Authorization` header or its presigned query (both is
    /// `ambiguous_credentials`), on a path its service's rule verifies as routed.
    pub(super) fn parse_credentials(
        &self,
        parts: &Parts,
        max_header_len: usize,
    ) -> Result<SigV4Credentials, Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let presigned = query_params(query)
            .any(|(name, _)| name == "X-Amz-Signature" || name == "X-Amz-Credential");
        let header = parts.headers.contains_key(AUTHORIZATION);
        let creds = match (header, presigned) {
            (true, true) => {
                return Err(
                    Rejection::new(RejectionKind::AmbiguousCredentials).with_detail(
                        "the request has both an Authorization header and a presigned query",
                    ),
                );
            }
            (_, true) => self.parse_query(parts, query, max_header_len)?,
            _ => self.parse_header(parts, max_header_len)?,
        };
        check_path(creds.rule, parts.uri.path())?;
        Ok(creds)
    }

    fn parse_header(
        &self,
        parts: &Parts,
        max_header_len: usize,
    ) -> Result<SigV4Credentials, Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            // No SigV4 credentials at all: a SigV2 presigned URL is told so.
            let sigv2 = query_params(parts.uri.query().unwrap_or(""))
                .any(|(name, _)| name == SIGV2_QUERY_KEY);
            return Err(match sigv2 {
                true => sigv2_refused("AWSAccessKeyId, Signature and Expires in the query"),
                false => Rejection::new(RejectionKind::MissingAuthorization),
            });
        };
        if values.next().is_some() {
            return Err(malformed("more than one Authorization header"));
        }
        if value.len() > max_header_len {
            return Err(malformed("the Authorization header is too long"));
        }
        let value = value
            .to_str()
            .map_err(|_| malformed("the Authorization header is not ASCII"))?;
        let rest = value
            .get(ALGORITHM.len()..)
            .filter(|_| value[..ALGORITHM.len()].eq_ignore_ascii_case(ALGORITHM))
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| {
                let sigv2 = value
                    .split_once(' ')
                    .is_some_and(|(token, _)| token.eq_ignore_ascii_case(SIGV2_TOKEN));
                match sigv2 {
                    true => sigv2_refused("`Authorization: AWS <key id>:<signature>`"),
                    false => malformed("expected `AWS4-HMAC-SHA256 Credential=…`"),
                }
            })?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for param in rest.split(',') {
            let param = param.trim_matches(' ');
            let (name, value) = param
                .split_once('=')
                .ok_or_else(|| malformed("a parameter without `=`"))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(malformed("unknown parameter in the Authorization header")),
            };
            if slot.replace(value).is_some() {
                return Err(malformed("a parameter appears twice"));
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(malformed(
                "Credential, SignedHeaders and Signature are all required",
            ));
        };
        let (amz_date, timestamp) = header_date(&parts.headers)?;
        let payload = self.payload(parts, false)?;
        self.refuse_token(parts.headers.contains_key(X_AMZ_SECURITY_TOKEN))?;
        let guarded = match self.replay_guard {
            ReplayGuard::RecordSignature => true,
            ReplayGuard::Off => false,
        };
        self.credentials(
            credential, signed, signature, amz_date, timestamp, None, payload, guarded,
        )
    }

    fn parse_query(
        &self,
        parts: &Parts,
        query: &str,
        max_header_len: usize,
    ) -> Result<SigV4Credentials, Rejection> {
        if query.len() > max_header_len.saturating_mul(4) {
            return Err(malformed("the query is too long"));
        }
        // Borrowed from the query unless a value has a `%` escape.
        let mut fields: [Option<Cow<'_, str>>; 7] = Default::default();
        const NAMES: [&str; 7] = [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature",
            "X-Amz-Security-Token",
        ];
        for (name, value) in query_params(query) {
            if let Some(i) = NAMES.iter().position(|n| *n == name) {
                let value = percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| malformed("a presigned parameter is not UTF-8"))?;
                if fields[i].replace(value).is_some() {
                    return Err(malformed("a presigned parameter appears twice"));
                }
            }
        }
        let [alg, credential, date, expires, signed, signature, token] = fields;
        let (Some(alg), Some(credential), Some(date), Some(expires), Some(signed), Some(signature)) =
            (alg, credential, date, expires, signed, signature)
        else {
            return Err(malformed(
                "a presigned URL needs X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, \
                 X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature",
            ));
        };
        if alg != ALGORITHM {
            return Err(malformed("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
        }
        if !self.presigned_methods.contains(&parts.method) {
            return Err(malformed(
                "presigned URLs are not accepted for this method here",
            ));
        }
        self.refuse_token(token.is_some() || parts.headers.contains_key(X_AMZ_SECURITY_TOKEN))?;
        let timestamp = parse_amz_date(&date)?;
        let expires: u64 = digits(&expires, 6)
            .filter(|e| (1..=self.max_expires).contains(e))
            .ok_or_else(|| {
                malformed(format!(
                    "X-Amz-Expires must be 1 to {} seconds",
                    self.max_expires
                ))
            })?;
        let payload = self.payload(parts, true)?;
        let guarded = match self.presigned_url_use {
            PresignedUrlUse::Bearer => false,
            PresignedUrlUse::OneTime => true,
        };
        self.credentials(
            &credential,
            &signed,
            &signature,
            date.into(),
            timestamp,
            Some(timestamp.saturating_add(expires)),
            payload,
            guarded,
        )
    }

    fn refuse_token(&self, present: bool) -> Result<(), Rejection> {
        match self.security_token {
            SecurityToken::Refused if present => {
                Err(malformed("X-Amz-Security-Token is not accepted here"))
            }
            SecurityToken::Refused | SecurityToken::Accepted => Ok(()),
        }
    }

    fn payload(&self, parts: &Parts, presigned: bool) -> Result<Payload, Rejection> {
        let headers = &parts.headers;
        let unsigned_here = self.unsigned_payload.allows(parts.uri.path());
        let mut values = headers.get_all(X_AMZ_CONTENT_SHA256).iter();
        let Some(value) = values.next() else {
            return Ok(match presigned {
                true if unsigned_here => Payload::Presigned,
                true => Payload::PresignedBodyless,
                false => Payload::Computed,
            });
        };
        if values.next().is_some() {
            return Err(Rejection::new(RejectionKind::DuplicateSignedHeader)
                .with_detail("X-Amz-Content-Sha256 appears twice"));
        }
        let value = value.as_bytes();
        if value == UNSIGNED_PAYLOAD.as_bytes() {
            if unsigned_here {
                return Ok(Payload::Unsigned);
            }
            if presigned {
                return Ok(Payload::PresignedBodyless);
            }
            return Err(malformed("UNSIGNED-PAYLOAD is not accepted here"));
        }
        if value == STREAMING_PAYLOAD.as_bytes() && !presigned {
            let decoded = headers
                .get(X_AMZ_DECODED_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| digits(v, 19))
                .ok_or_else(|| {
                    malformed("a streaming upload needs X-Amz-Decoded-Content-Length")
                })?;
            return Ok(Payload::Streaming(decoded));
        }
        if let Some(hash) = unhex32(value) {
            return Ok(Payload::Declared(hash));
        }
        Err(malformed(
            "X-Amz-Content-Sha256 must be a lower-case hex SHA-256, UNSIGNED-PAYLOAD or \
             STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn credentials(
        &self,
        credential: &str,
        signed: &str,
        signature: &str,
        amz_date: Box<str>,
        timestamp: u64,
        expires: Option<u64>,
        payload: Payload,
        guarded: bool,
    ) -> Result<SigV4Credentials, Rejection> {
        let mut fields = credential.split('/');
        let (Some(key_id), Some(day), Some(region), Some(service), Some("aws4_request"), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(malformed(
                "Credential must be <key id>/<yyyymmdd>/<region>/<service>/aws4_request",
            ));
        };
        if !is_valid_key_id(key_id) {
            return Err(malformed("the access key id is not a valid key id"));
        }
        if day.len() != 8 || !amz_date.starts_with(day) {
            return Err(malformed("the credential's date is not the request's date"));
        }
        if !self.regions.iter().any(|r| &**r == region) {
            return Err(malformed("the credential's region is not served here"));
        }
        let rule = self
            .rule_of(service)
            .ok_or_else(|| malformed("the credential's service is not served here"))?;
        check_signed_headers(signed)?;
        let sig = unhex32(signature.as_bytes())
            .ok_or_else(|| malformed("Signature must be 64 lower-case hex digits"))?;
        Ok(SigV4Credentials {
            key_id: key_id.into(),
            scope: credential[key_id.len() + 1..].into(),
            rule,
            amz_date,
            timestamp,
            signed_headers: signed.into(),
            signature: sig,
            signature_hex: signature.into(),
            expires,
            payload,
            guarded,
        })
    }
}

/// `SignedHeaders`: lower-case header names, sorted, each once, `host` among them.
fn check_signed_headers(signed: &str) -> Result<(), Rejection> {
    let mut previous: Option<&str> = None;
    let mut host = false;
    for (count, name) in signed.split(';').enumerate() {
        if count >= MAX_SIGNED_HEADERS {
            return Err(malformed("too many signed headers"));
        }
        if name.is_empty()
            || !name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~".contains(&b)
            })
        {
            return Err(malformed("SignedHeaders must be lower-case header names"));
        }
        if previous.is_some_and(|p| p >= name) {
            return Err(malformed("SignedHeaders must be sorted, each name once"));
        }
        host |= name == "host";
        previous = Some(name);
    }
    if !host {
        return Err(Rejection::new(RejectionKind::MissingSignedHeader)
            .with_detail("SigV4 requests must sign the host header"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scheme;

    fn with_token(target: &str, header: bool) -> Parts {
        let mut builder = http::Request::get(target)
            .header("host", "api.example.com")
            .header("x-amz-date", "20261125T161910Z")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=k1/20261125/us-east-1/demo/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={}",
                    "0".repeat(64)
                ),
            );
        if header {
            builder = builder.header("x-amz-security-token", "session");
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_security_token_is_refused_unless_accepted() {
        let parts = with_token("/x", true);
        let refused = SigV4::new("us-east-1", "demo");
        let err = refused.parse(&parts, 8192).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MalformedAuthorization);
        assert!(err.detail().unwrap().contains("Security-Token"));
        assert!(refused.parse(&with_token("/x", false), 8192).is_ok());
        let accepted = refused.security_token(SecurityToken::Accepted);
        assert!(accepted.parse(&parts, 8192).is_ok());
    }

    /// botocore's default S3 presigned URL (`generate_presigned_url` without
    /// `signature_version="s3v4"`).
    const SIGV2_URL: &str = "/objects/a.txt?AWSAccessKeyId=demo-2026&\
                             Signature=yVaWSriyel52i06%2BFJIVhdz4RpM%3D&Expires=1796352256";

    fn sigv2_says_what_fixes_it(err: &Rejection) {
        assert_eq!(err.kind(), RejectionKind::UnsupportedScheme);
        let detail = err.detail().unwrap();
        assert!(detail.contains("Signature Version 2"), "{detail}");
        assert!(detail.contains(r#"signature_version="s3v4""#), "{detail}");
    }

    #[test]
    fn a_sigv2_presigned_url_is_claimed_and_refused_with_the_fix() {
        let parts = http::Request::get(SIGV2_URL)
            .header("host", "api.example.com")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let sigv4 = SigV4::new("us-east-1", "demo");
        assert!(sigv4.locator().matches(&parts, None));
        sigv2_says_what_fixes_it(&sigv4.parse(&parts, 8192).unwrap_err());
    }

    #[test]
    fn a_sigv2_authorization_header_is_claimed_and_refused_with_the_fix() {
        let parts = http::Request::get("/objects/a.txt")
            .header("host", "api.example.com")
            .header(
                "authorization",
                "AWS demo-2026:yVaWSriyel52i06+FJIVhdz4RpM=",
            )
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let sigv4 = SigV4::new("us-east-1", "demo");
        assert!(sigv4.locator().matches(&parts, Some(b"AWS")));
        sigv2_says_what_fixes_it(&sigv4.parse(&parts, 8192).unwrap_err());
    }

    #[test]
    fn without_any_credentials_the_answer_stays_missing_authorization() {
        let parts = http::Request::get("/objects/a.txt?Signature=x&Expires=1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let err = SigV4::new("us-east-1", "demo")
            .parse(&parts, 8192)
            .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::MissingAuthorization);
    }

    #[test]
    fn both_a_header_and_a_presigned_query_are_ambiguous() {
        let parts = with_token("/x?X-Amz-Signature=00", false);
        let err = SigV4::new("us-east-1", "demo")
            .parse(&parts, 8192)
            .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::AmbiguousCredentials);
    }
}
