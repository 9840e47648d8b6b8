//! The response sent for a rejected request, and how to replace it.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, DATE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response};
use tower_hmac_core::{Clock, Rejection};

mod body;

pub use body::ResponseBody;

/// The response for a refused request: the responder's, with a `Date` (from the layer's clock)
/// and the [`Rejection`] in its extensions.
pub(crate) fn rejection_response(
    responder: &dyn RejectionResponder,
    clock: &dyn Clock,
    rejection: Rejection,
) -> Response<Bytes> {
    let mut res = responder.response(&rejection);
    if !res.headers().contains_key(DATE) {
        let date = httpdate::fmt_http_date(clock.now());
        if let Ok(value) = HeaderValue::from_str(&date) {
            res.headers_mut().insert(DATE, value);
        }
    }
    res.extensions_mut().insert(rejection);
    res
}

/// Builds the response for a rejected request.
///
/// Implemented by [`DefaultResponder`] and by any `Fn(&Rejection) -> Response<Bytes>`.
/// Whatever it returns, the layer adds a `Date` header when there is none and puts the
/// [`Rejection`] in the response's extensions.
///
/// ```
/// use bytes::Bytes;
/// use http::{Response, header};
/// use tower_hmac::server::challenge;
/// use tower_hmac::Rejection;
///
/// // Plain text instead of problem+json, keeping the standard challenge.
/// let respond = |rejection: &Rejection| {
///     let mut res = Response::new(Bytes::from(format!("denied: {}\n", rejection.code())));
///     *res.status_mut() = rejection.status();
///     if let Some(value) = challenge(rejection) {
///         res.headers_mut().insert(header::WWW_AUTHENTICATE, value);
///     }
///     res
/// };
/// # let _: &dyn tower_hmac::server::RejectionResponder = &respond;
/// ```
pub trait RejectionResponder: Send + Sync + 'static {
    /// The response for `rejection`.
    fn response(&self, rejection: &Rejection) -> Response<Bytes>;
}

impl<F> RejectionResponder for F
where
    F: Fn(&Rejection) -> Response<Bytes> + Send + Sync + 'static,
{
    fn response(&self, rejection: &Rejection) -> Response<Bytes> {
        self(rejection)
    }
}

/// The default rejection response.
///
/// - status: the kind's (`401`, `413`, `400` or `503`);
/// - `WWW-Authenticate: HMAC-SHA256 error="<code>"` on every `401`, with `ts="<server time>"` and,
///   when the key was known, `tsm="<hex MAC>"` for `stale_timestamp`;
/// - `Retry-After` (seconds) on `503` when the store gave a hint, `1` otherwise;
/// - body `application/problem+json` (RFC 9457): `type`, `title`, `status`, `code`, `detail`
///   when there is a fixed explanation, and for `invalid_signature` the digests of the server's
///   string to sign (`diagnostics.string_to_sign_lines`, see
///   [`line_digests`](crate::protocol::line_digests)). It never holds a request value, a key or a
///   signature.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultResponder;

impl RejectionResponder for DefaultResponder {
    fn response(&self, rejection: &Rejection) -> Response<Bytes> {
        let mut res = Response::new(Bytes::from(problem_json(rejection)));
        *res.status_mut() = rejection.status();
        let headers = res.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(value) = challenge(rejection) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if matches!(
            rejection.status(),
            http::StatusCode::SERVICE_UNAVAILABLE | http::StatusCode::TOO_MANY_REQUESTS
        ) {
            let secs = rejection.retry_after().map_or(1, |d| d.as_secs().max(1));
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// S3-style error responses, for services whose clients are S3 tools (the AWS SDKs, boto3,
/// rclone): `application/xml`, `<Error><Code>SignatureDoesNotMatch</Code><Message>…</Message>
/// </Error>`, with AWS's status for the code (403 for a refused signature, 400 for a malformed
/// request, 503 when a store is down). With
/// [`signature_diagnostics`](crate::server::HmacAuthBuilder::signature_diagnostics) on, a SigV4
/// signature mismatch carries the server's `<StringToSign>` (its canonical request's hash, the
/// date and the scope: nothing secret), as S3 does; off (the default), it does not.
///
/// ```
/// use tower_hmac::server::S3XmlResponder;
/// use tower_hmac::{HmacAuthLayer, InMemoryRegistry, protocol::AllowedHosts};
///
/// let layer = HmacAuthLayer::builder(InMemoryRegistry::new(), AllowedHosts::new(["s3.example.com"]).unwrap())
///     .responder(S3XmlResponder)
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct S3XmlResponder;

impl S3XmlResponder {
    /// The S3 error code and status of a rejection.
    pub fn code(kind: tower_hmac_core::RejectionKind) -> (&'static str, http::StatusCode) {
        use http::StatusCode as S;
        use tower_hmac_core::RejectionKind as K;
        match kind {
            K::InvalidSignature => ("SignatureDoesNotMatch", S::FORBIDDEN),
            K::UnknownKey | K::RevokedKey => ("InvalidAccessKeyId", S::FORBIDDEN),
            K::StaleTimestamp => ("RequestTimeTooSkewed", S::FORBIDDEN),
            K::MalformedAuthorization | K::AmbiguousCredentials | K::DuplicateSignedHeader => {
                ("AuthorizationHeaderMalformed", S::BAD_REQUEST)
            }
            K::BodyTooLarge => ("EntityTooLarge", S::BAD_REQUEST),
            K::BodyTimeout => ("RequestTimeout", S::BAD_REQUEST),
            K::BodyUnreadable => ("IncompleteBody", S::BAD_REQUEST),
            K::TrailersNotAllowed | K::AuthorityMismatch => ("InvalidRequest", S::BAD_REQUEST),
            K::ReplayStoreUnavailable | K::KeyStoreUnavailable => {
                ("ServiceUnavailable", S::SERVICE_UNAVAILABLE)
            }
            K::ReplayQuotaExceeded | K::TooManyFailures => ("SlowDown", S::SERVICE_UNAVAILABLE),
            // Missing credentials, an expired URL, a replay, a host or scheme not served here, a
            // signed part missing.
            _ => ("AccessDenied", S::FORBIDDEN),
        }
    }
}

impl RejectionResponder for S3XmlResponder {
    fn response(&self, rejection: &Rejection) -> Response<Bytes> {
        let (code, status) = Self::code(rejection.kind());
        let message = rejection.detail().unwrap_or(rejection.kind().title());
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><TowerHmacCode>{}</TowerHmacCode>",
            xml_escape(message),
            rejection.code()
        );
        // The keyed digests of the lines the server signed (the default diagnostics): only a
        // holder of the key reads them (`tower-hmac explain --problem` takes this body too).
        if let Some(digests) = rejection.line_digests() {
            xml.push_str("<TowerHmacLineDigests>");
            for (i, digest) in digests.iter().enumerate() {
                if i > 0 {
                    xml.push(' ');
                }
                xml.push_str(tower_hmac_core::canonical::line_digest_hex(
                    digest,
                    &mut [0; 16],
                ));
            }
            xml.push_str("</TowerHmacLineDigests>");
        }
        // Only with `Diagnostics::Clear` (development): what the server signed, in clear.
        if let Some(sts) = rejection.string_to_sign() {
            xml.push_str("<StringToSign>");
            xml.push_str(&xml_escape(sts));
            xml.push_str("</StringToSign>");
        }
        // The signed text itself, when it is not the string to sign (SigV4's canonical request).
        if let Some(creq) = rejection
            .signed_text_in_clear()
            .filter(|text| Some(*text) != rejection.string_to_sign())
        {
            xml.push_str("<CanonicalRequest>");
            xml.push_str(&xml_escape(creq));
            xml.push_str("</CanonicalRequest>");
        }
        xml.push_str("</Error>");
        let mut res = Response::new(Bytes::from(xml));
        *res.status_mut() = status;
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        if status == http::StatusCode::SERVICE_UNAVAILABLE {
            let secs = rejection.retry_after().map_or(1, |d| d.as_secs().max(1));
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The problem+json body for a rejection ([`Problem`](crate::protocol::Problem), as JSON).
pub fn problem_json(rejection: &Rejection) -> String {
    tower_hmac_core::Problem::from_rejection(rejection).to_json()
}

/// The `WWW-Authenticate` value for a `401` rejection: `<scheme> error="<code>"`, plus `ts` and
/// `tsm` for `stale_timestamp`; for `403 insufficient_scope`, `<scheme> error="insufficient_scope",
/// scope="<scope>"`. `None` for other rejections.
pub fn challenge(rejection: &Rejection) -> Option<HeaderValue> {
    let scheme = rejection.scheme().unwrap_or(tower_hmac_core::SCHEME);
    if rejection.kind() == tower_hmac_core::RejectionKind::InsufficientScope {
        // RFC 6750 §3.1's form: the 403 names the scope needed.
        let scope = rejection.required_scope().unwrap_or_default();
        return HeaderValue::from_str(&format!(
            "{scheme} error=\"insufficient_scope\", scope=\"{scope}\""
        ))
        .ok();
    }
    if !rejection.kind().is_unauthorized() {
        return None;
    }
    let mut value = format!("{scheme} error=\"{}\"", rejection.code());
    if let Some(hint) = rejection.time_hint() {
        value.push_str(&format!(", ts=\"{}\"", hint.ts()));
        if let Some(tsm) = hint.tsm() {
            value.push_str(&format!(", tsm=\"{}\"", hex::encode(tsm)));
        }
    }
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_hmac_core::{RejectionKind, TimeHint};

    #[test]
    fn unauthorized_carries_a_challenge_and_problem_json() {
        let rejection = Rejection::new(RejectionKind::InvalidSignature).with_scheme("HMAC-SHA256");
        let res = DefaultResponder.response(&rejection);
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()[WWW_AUTHENTICATE],
            "HMAC-SHA256 error=\"invalid_signature\""
        );
        assert_eq!(res.headers()[CONTENT_TYPE], "application/problem+json");
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["code"], "invalid_signature");
        assert_eq!(body["status"], 401);
    }

    #[test]
    fn stale_timestamp_carries_ts_and_tsm() {
        let rejection = Rejection::new(RejectionKind::StaleTimestamp)
            .with_time_hint(TimeHint::new(1_700_000_000, Some([0xab; 32])));
        let value = challenge(&rejection).unwrap();
        assert_eq!(
            value,
            format!(
                "HMAC-SHA256 error=\"stale_timestamp\", ts=\"1700000000\", tsm=\"{}\"",
                "ab".repeat(32)
            )
            .as_str()
        );
    }

    #[test]
    fn in_clear_mode_s3_errors_name_the_signed_text_once() {
        let key = tower_hmac_core::SecretKey::from_bytes(&[3; 32]).unwrap();
        // SigV4: a string to sign of its own, and the canonical request its MAC covers.
        let sigv4 = Rejection::new(RejectionKind::InvalidSignature)
            .with_string_to_sign("AWS4-HMAC-SHA256\nscope\nhash")
            .with_signed_text(b"GET\n/\n".to_vec())
            .keyed_diagnostics(&key, tower_hmac_core::Diagnostics::Clear);
        let body = String::from_utf8(S3XmlResponder.response(&sigv4).body().to_vec()).unwrap();
        assert!(body.contains("<StringToSign>AWS4-HMAC-SHA256\nscope\nhash</StringToSign>"));
        assert!(
            body.contains("<CanonicalRequest>GET\n/\n</CanonicalRequest>"),
            "{body}"
        );
        // Another scheme: its signed text is its string to sign, said once.
        let v1 = Rejection::new(RejectionKind::InvalidSignature)
            .with_signed_text(b"HMAC-SHA256\nline".to_vec())
            .keyed_diagnostics(&key, tower_hmac_core::Diagnostics::Clear);
        assert_eq!(v1.string_to_sign(), Some("HMAC-SHA256\nline"));
        let body = String::from_utf8(S3XmlResponder.response(&v1).body().to_vec()).unwrap();
        assert!(
            body.contains("<StringToSign>HMAC-SHA256\nline</StringToSign>"),
            "{body}"
        );
        assert!(!body.contains("CanonicalRequest"), "{body}");
        // Keyed (the default): neither in clear.
        let keyed = Rejection::new(RejectionKind::InvalidSignature)
            .with_string_to_sign("AWS4-HMAC-SHA256\nscope\nhash")
            .with_signed_text(b"GET\n/\n".to_vec())
            .keyed_diagnostics(&key, tower_hmac_core::Diagnostics::Keyed);
        assert!(keyed.string_to_sign().is_none() && keyed.signed_text_in_clear().is_none());
        // … but their keyed line digests, which explain reads back from the XML.
        let body = String::from_utf8(S3XmlResponder.response(&keyed).body().to_vec()).unwrap();
        assert!(body.contains("<TowerHmacLineDigests>"), "{body}");
        assert!(!body.contains("GET\n/"), "{body}");
        let read = tower_hmac_core::Problem::read(&body).unwrap();
        assert_eq!(read.kind(), RejectionKind::InvalidSignature);
        assert_eq!(read.line_digests(), keyed.line_digests());
        assert_eq!(keyed.line_digests().map(<[_]>::len), Some(3));
    }

    #[test]
    fn s3_errors_are_xml_with_the_string_to_sign_only_when_given() {
        let rejection = Rejection::new(RejectionKind::InvalidSignature)
            .with_string_to_sign("AWS4-HMAC-SHA256\n20150830T123600Z\nscope\n<hash>");
        let res = S3XmlResponder.response(&rejection);
        assert_eq!(res.status(), 403);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/xml");
        let body = std::str::from_utf8(res.body()).unwrap();
        assert!(
            body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{body}"
        );
        assert!(body.contains("<StringToSign>AWS4-HMAC-SHA256\n20150830T123600Z\nscope\n&lt;hash&gt;</StringToSign>"), "{body}");
        let plain = S3XmlResponder.response(&rejection.without_line_digests());
        assert!(
            !std::str::from_utf8(plain.body())
                .unwrap()
                .contains("StringToSign")
        );
        let malformed = S3XmlResponder.response(
            &Rejection::new(RejectionKind::MalformedAuthorization).with_detail("a <b> & c"),
        );
        assert_eq!(malformed.status(), 400);
        assert!(
            std::str::from_utf8(malformed.body())
                .unwrap()
                .contains("<Message>a &lt;b&gt; &amp; c</Message>")
        );
        let down = S3XmlResponder.response(&Rejection::new(RejectionKind::KeyStoreUnavailable));
        assert_eq!(down.status(), 503);
        assert_eq!(down.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn unavailable_carries_retry_after_and_no_challenge() {
        let rejection = Rejection::new(RejectionKind::ReplayStoreUnavailable);
        let res = DefaultResponder.response(&rejection);
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()[RETRY_AFTER], "1");
        assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
    }
}
