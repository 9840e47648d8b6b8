//! [`SigV4`] as a [`Scheme`]: parse, build the canonical request, feed the body (decoding
//! `aws-chunked`), check the MAC.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue};
use http::request::Parts;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::canonical::{CanonicalHead, CanonicalRequest, StringToSign, canonical_query};
use super::chunked::ChunkDecoder;
use super::credentials::Payload;
use super::hexdigits::{EMPTY_SHA256_HEX, hex_str, hex32};
use super::signing_key::SigningKey;
use super::{ALGORITHM, QueryOrder, STREAMING_PAYLOAD, SigV4, SigV4Credentials, UNSIGNED_PAYLOAD};
use crate::SecretKey;
use crate::{Locator, Scheme, Verified};
use crate::{Rejection, RejectionKind};

/// The state between the head and the end of the body.
pub struct SigV4Pending {
    /// The canonical requests tried, their payload hash set at the end: the sorted query's, and
    /// the as-sent query's when it differs ([`QueryOrder::SortedOrAsSent`]).
    candidates: Vec<CanonicalRequest>,
    body: Sha256,
    signing_key: SigningKey,
    chunks: Option<ChunkDecoder>,
}

impl fmt::Debug for SigV4Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Pending")
            .field("candidates", &self.candidates.len())
            .field("streaming", &self.chunks.is_some())
            .finish_non_exhaustive()
    }
}

impl SigV4Pending {
    /// For a streaming upload (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`): refuses
    /// (`body_too_large`) any `aws-chunked` chunk that declares more than `max` data bytes, on
    /// its header, before the chunk is gathered. Returns whether the upload is streaming (for
    /// any other payload this does nothing): each of its chunks is verified as it arrives, so a
    /// server may let the whole body grow past the limit of one chunk
    /// (`HmacAuthBuilder::streaming_body_limit` in `tower-hmac`).
    pub fn limit_chunks(&mut self, max: u64) -> bool {
        match self.chunks.as_mut() {
            Some(decoder) => {
                decoder.limit_chunks(max);
                true
            }
            None => false,
        }
    }
}

impl Scheme for SigV4 {
    type Credentials = SigV4Credentials;
    type Pending = SigV4Pending;

    fn id(&self) -> &'static str {
        "sigv4"
    }

    fn name(&self) -> &'static str {
        ALGORITHM
    }

    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn max_skew(&self) -> Option<Duration> {
        Some(self.window)
    }

    fn parse(&self, parts: &Parts, max_header_len: usize) -> Result<SigV4Credentials, Rejection> {
        self.parse_credentials(parts, max_header_len)
    }

    fn prepare(
        &self,
        creds: &SigV4Credentials,
        parts: &Parts,
        key: &SecretKey,
    ) -> Result<SigV4Pending, Rejection> {
        let mut candidates = Vec::with_capacity(1);
        let presigned = creds.is_presigned();
        let head = CanonicalHead::new(creds, parts)?;
        let query = parts.uri.query().unwrap_or("");
        let sorted = canonical_query(query, presigned);
        candidates.push(head.with_query(&sorted));
        let as_sent = match self.query_order {
            QueryOrder::SortedOrAsSent => !presigned && !query.is_empty() && sorted != query,
            QueryOrder::Sorted => false,
        };
        if as_sent {
            candidates.push(head.with_query(query));
        }
        let signing_key = self.cache.signing_key(&creds.key_id, &creds.scope, key);
        let chunks = match creds.payload {
            Payload::Streaming(_) => Some(ChunkDecoder::new(
                &creds.amz_date,
                &creds.scope,
                &creds.signature_hex,
            )),
            _ => None,
        };
        Ok(SigV4Pending {
            candidates,
            body: Sha256::new(),
            signing_key,
            chunks,
        })
    }

    fn update(&self, pending: &mut SigV4Pending, chunk: &[u8]) {
        pending.body.update(chunk);
    }

    fn decode(
        &self,
        pending: &mut SigV4Pending,
        chunk: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        match pending.chunks.as_mut() {
            Some(decoder) => decoder.push(&pending.signing_key.bytes, chunk, out),
            None => {
                pending.body.update(&chunk);
                out(chunk);
                Ok(())
            }
        }
    }

    fn verify(
        &self,
        creds: &SigV4Credentials,
        pending: SigV4Pending,
        _key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        let SigV4Pending {
            candidates,
            body,
            signing_key,
            chunks,
        } = pending;
        let body = body.finalize();
        let computed;
        let mut also = None;
        let payload = match &creds.payload {
            Payload::Computed => {
                computed = hex32(&body);
                hex_str(&computed)
            }
            Payload::Presigned => {
                computed = hex32(&body);
                also = Some(hex_str(&computed));
                UNSIGNED_PAYLOAD
            }
            Payload::PresignedBodyless => {
                computed = hex32(&body);
                if hex_str(&computed) == EMPTY_SHA256_HEX {
                    also = Some(hex_str(&computed));
                    UNSIGNED_PAYLOAD
                } else {
                    hex_str(&computed)
                }
            }
            Payload::Declared(declared) => {
                if !bool::from(body.as_slice().ct_eq(declared)) {
                    return Err(Rejection::new(RejectionKind::InvalidSignature)
                        .with_detail("the body does not match X-Amz-Content-Sha256"));
                }
                computed = hex32(declared);
                hex_str(&computed)
            }
            Payload::Unsigned => UNSIGNED_PAYLOAD,
            Payload::Streaming(decoded) => {
                let finished = chunks.as_ref().and_then(ChunkDecoder::finished);
                if finished != Some(*decoded) {
                    return Err(Rejection::new(RejectionKind::BodyUnreadable).with_detail(
                        "the aws-chunked body ended early or does not have \
                         X-Amz-Decoded-Content-Length bytes",
                    ));
                }
                STREAMING_PAYLOAD
            }
        };
        let payloads = [Some(payload), also];
        for canonical in &candidates {
            // The lines before the payload hash are hashed once per candidate.
            let head = canonical.head_hasher();
            for payload in payloads.iter().flatten() {
                let canonical_sha256 = head.clone().chain_update(payload.as_bytes()).finalize();
                let computed =
                    StringToSign::for_hash(&creds.amz_date, &creds.scope, &canonical_sha256)
                        .signature_keyed(&signing_key.keyed);
                if bool::from(computed.as_slice().ct_eq(&creds.signature)) {
                    // No nonce: the MAC that verified is the replay key (a presigned URL is a
                    // bearer link unless made one-time).
                    return Ok(if creds.guarded {
                        Verified::mac(&computed)
                    } else {
                        Verified::unguarded()
                    });
                }
            }
        }
        // The canonical request, withheld (keyed line digests in the answer); the string to sign
        // for S3 clients only when the operator sends diagnostics in clear. Both are the texts of
        // the first candidate, exactly as its MAC covered them.
        let Some(mut canonical) = candidates.into_iter().next() else {
            return Err(Rejection::new(RejectionKind::InvalidSignature));
        };
        canonical.set_payload_hash(payload);
        let string_to_sign = StringToSign::new(creds, &canonical).to_string();
        Err(Rejection::new(RejectionKind::InvalidSignature)
            .with_string_to_sign(string_to_sign)
            .with_signed_text(canonical.into_bytes()))
    }

    fn accepted(&self, creds: &SigV4Credentials, parts: &mut Parts) {
        if let Payload::Streaming(decoded) = creds.payload {
            // The inner service reads the decoded body: its length, without `aws-chunked`.
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(decoded));
            let rest = parts
                .headers
                .get(CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|c| !c.eq_ignore_ascii_case("aws-chunked") && !c.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            match HeaderValue::from_str(&rest) {
                Ok(value) if !rest.is_empty() => {
                    parts.headers.insert(CONTENT_ENCODING, value);
                }
                _ => {
                    parts.headers.remove(CONTENT_ENCODING);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplayKey;
    use crate::sigv4::{PresignParams, PresignedUrlUse, ReplayGuard, derive_signing_key};

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[3; 32]).unwrap()
    }

    fn get(target: &str, signature: &str) -> Parts {
        http::Request::get(target)
            .header("host", "api.example.com")
            .header("x-amz-date", "20261125T161910Z")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=k1/20261125/us-east-1/demo/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={signature}"
                ),
            )
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    /// A GET signed over its query exactly as sent (as curl 7.88 signs it).
    fn signed_as_sent(target: &str) -> Parts {
        let scheme = SigV4::new("us-east-1", "demo");
        let parts = get(target, &"0".repeat(64));
        let creds = scheme.parse(&parts, 8192).unwrap();
        let mut canonical = CanonicalHead::new(&creds, &parts)
            .unwrap()
            .with_query(parts.uri.query().unwrap());
        canonical.set_payload_hash(EMPTY_SHA256_HEX);
        let signing_key = derive_signing_key(&key().text_form(), creds.scope());
        let signature = StringToSign::new(&creds, &canonical).signature(&signing_key);
        get(target, &hex::encode(signature))
    }

    fn run(scheme: &SigV4, parts: &Parts) -> Result<Verified, Rejection> {
        let creds = scheme.parse(parts, 8192)?;
        let pending = scheme.prepare(&creds, parts, &key())?;
        scheme.verify(&creds, pending, &key())
    }

    #[test]
    fn the_query_as_sent_is_tried_only_when_the_setting_allows_it() {
        let parts = signed_as_sent("/x?b=2&a=1");
        let lenient = SigV4::new("us-east-1", "demo");
        assert!(run(&lenient, &parts).is_ok());
        let strict = lenient.query_order(QueryOrder::Sorted);
        let err = run(&strict, &parts).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature);
    }

    #[test]
    fn the_replay_guard_records_the_mac_unless_off() {
        let parts = signed_as_sent("/x?a=1");
        let guarded = run(&SigV4::new("us-east-1", "demo"), &parts).unwrap();
        assert!(matches!(guarded.replay_key(), ReplayKey::Mac(_)));
        let open = SigV4::new("us-east-1", "demo").replay_guard(ReplayGuard::Off);
        assert_eq!(run(&open, &parts).unwrap().replay_key(), ReplayKey::Off);
    }

    #[test]
    fn presigned_urls_are_recorded_only_when_one_time() {
        let url = crate::sigv4::presign_url(
            &http::Method::GET,
            &"http://api.example.com/x".parse().unwrap(),
            "k1",
            &key(),
            &PresignParams {
                region: "us-east-1",
                service: "demo",
                rule: crate::sigv4::PathRule::Generic,
                time: 1_795_000_000,
                expires: 600,
            },
        )
        .unwrap();
        let (parts, ()) = http::Request::get(url.strip_prefix("http://api.example.com").unwrap())
            .header("host", "api.example.com")
            .body(())
            .unwrap()
            .into_parts();
        let bearer = run(&SigV4::new("us-east-1", "demo"), &parts).unwrap();
        assert_eq!(bearer.replay_key(), ReplayKey::Off);
        let once = SigV4::new("us-east-1", "demo").presigned_url_use(PresignedUrlUse::OneTime);
        assert!(matches!(
            run(&once, &parts).unwrap().replay_key(),
            ReplayKey::Mac(_)
        ));
    }
}
