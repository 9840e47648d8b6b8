//! The scheme and its settings: what a server requires of a signature, and the checks of
//! parse, prepare, update and verify.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use sfv::{Dictionary, ListEntry, Parser};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use super::base::{default_port, signature_base};
use super::credentials::{Rfc9421Credentials, Rfc9421Pending};
use super::parse::{one_field, signature_bytes, signature_input};
use super::{ALG, CONTENT_DIGEST, SIGNATURE, SIGNATURE_INPUT, malformed, missing};
use crate::authorization::is_valid_key_id;
use crate::key::{SecretKey, hmac_sha256};
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Locator, Scheme, UriScheme, Verified};

/// The derived components this scheme computes.
const DERIVED: [&str; 8] = [
    "@method",
    "@authority",
    "@scheme",
    "@target-uri",
    "@request-target",
    "@path",
    "@query",
    "@query-param",
];

/// The most components one signature may cover.
const MAX_COMPONENTS: usize = 64;

/// The derived components whose values `@target-uri` holds (RFC 9421 §2.2.2): the server derives
/// each of them and `@target-uri` from the same request, so a signature that covers
/// `@target-uri` and verifies covers them too (issue 31).
const IN_TARGET_URI: [&str; 5] = [
    "@scheme",
    "@authority",
    "@path",
    "@query",
    "@request-target",
];

/// The detail of `invalid_signature` for a signature covering `@target-uri`: the scheme the
/// server took, which a client cannot see and may have signed otherwise.
fn target_uri_mismatch(scheme: &str) -> &'static str {
    if scheme == "https" {
        "the signature does not match the request; it covers @target-uri, which this server \
         derives as https://<host, lower-case>[:443]<path>[?<query>], path and query exactly as \
         sent"
    } else {
        "the signature does not match the request; it covers @target-uri, which this server \
         derives as http://<host, lower-case>[:80]<path>[?<query>], path and query exactly as \
         sent"
    }
}

/// RFC 9421 with `hmac-sha256` (id `rfc9421`).
#[derive(Debug, Clone)]
pub struct Rfc9421 {
    locator: Locator,
    required: Vec<Box<str>>,
    require_query: bool,
    require_content_digest: bool,
    uri_scheme: UriScheme,
    trust_forwarded_proto: bool,
    label: Option<Box<str>>,
    tag: Option<Box<str>>,
    max_validity: u64,
}

impl Default for Rfc9421 {
    fn default() -> Self {
        Self::new()
    }
}

impl Rfc9421 {
    /// The defaults: `@method`, `@authority` and `@path` required, `@query` when there is a
    /// query, `content-digest` when there is a body; `https`; one signature per request, any label.
    pub fn new() -> Self {
        Self {
            locator: Locator::Header(SIGNATURE_INPUT),
            required: vec!["@method".into(), "@authority".into(), "@path".into()],
            require_query: true,
            require_content_digest: true,
            uri_scheme: UriScheme::Https,
            trust_forwarded_proto: false,
            label: None,
            tag: None,
            max_validity: 300,
        }
    }

    /// The longest a signature with an `expires` parameter stays valid after its `created`
    /// (default 300 s, at least 1 s): a client's `expires` can shorten the validity, never
    /// lengthen it past this. Without `expires`, `created` is checked against the server's skew.
    pub fn max_validity(mut self, validity: std::time::Duration) -> Self {
        self.max_validity = validity.as_secs().max(1);
        self
    }

    /// The components every signature must cover (replacing `@method`, `@authority`, `@path`);
    /// copied, so that they can come from a configuration file.
    pub fn required_components(mut self, components: &[&str]) -> Self {
        self.required = components.iter().map(|&c| c.into()).collect();
        self
    }

    /// Whether a request with a query must cover `@query` (default: yes).
    pub fn require_query(mut self, require: bool) -> Self {
        self.require_query = require;
        self
    }

    /// Whether a request with a body must cover `content-digest` (default: yes). Without it the
    /// body is not signed.
    pub fn require_content_digest(mut self, require: bool) -> Self {
        self.require_content_digest = require;
        self
    }

    /// The URI scheme the clients reach the server by, for `@scheme` and `@target-uri`:
    /// [`UriScheme::Https`] (default) or [`UriScheme::Http`].
    pub fn uri_scheme(mut self, scheme: UriScheme) -> Self {
        self.uri_scheme = scheme;
        self
    }

    /// Take the URI scheme from `X-Forwarded-Proto` (only behind a proxy that sets it).
    pub fn trust_forwarded_proto(mut self, trust: bool) -> Self {
        self.trust_forwarded_proto = trust;
        self
    }

    /// Verify the signature with this label (others are ignored). Without it, a request must
    /// carry exactly one signature.
    pub fn label(mut self, label: impl Into<Box<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Require this `tag` parameter (an application's own signatures only).
    pub fn tag(mut self, tag: impl Into<Box<str>>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    fn scheme_of(&self, parts: &Parts) -> &'static str {
        crate::scheme::uri_scheme_of(parts, self.uri_scheme, self.trust_forwarded_proto)
    }
}

impl Scheme for Rfc9421 {
    type Credentials = Rfc9421Credentials;
    type Pending = Rfc9421Pending;

    fn id(&self) -> &'static str {
        "rfc9421"
    }
    fn name(&self) -> &'static str {
        "Signature"
    }
    fn locator(&self) -> &Locator {
        &self.locator
    }

    fn parse(&self, parts: &Parts, max_len: usize) -> Result<Rfc9421Credentials, Rejection> {
        let list = signature_input(
            one_field(parts, &SIGNATURE_INPUT, max_len)?,
            self.label.as_deref(),
        )?;
        let signature = signature_bytes(one_field(parts, &SIGNATURE, max_len)?, list.label)?;
        if list.items.len() > MAX_COMPONENTS {
            return Err(malformed("too many covered components"));
        }
        // Covered components: strings, each once, lower-case, with only the parameters we know.
        for (i, item) in list.items.iter().enumerate() {
            let name = item
                .name
                .as_deref()
                .ok_or_else(|| malformed("a covered component is a string"))?;
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(malformed("a component name is lower-case"));
            }
            if name.starts_with('@') && !DERIVED.contains(&name) {
                return Err(malformed("unsupported derived component"));
            }
            let named = item.params.name.as_ref();
            let params_ok = !item.params.other
                && if name == "@query-param" {
                    named.is_some_and(|v| v.as_str().is_some())
                } else {
                    named.is_none()
                };
            if !params_ok {
                return Err(malformed(
                    "component parameters: only @query-param's name is supported",
                ));
            }
            if list.items[..i].iter().any(|other| other == item) {
                return Err(malformed("a component is covered twice"));
            }
        }
        let (mut created, mut expires, mut nonce, mut key_id) = (None, None, None, None);
        if list.unknown {
            return Err(malformed("unknown signature parameter"));
        }
        if list.repeated {
            return Err(malformed("a signature parameter is given twice"));
        }
        for (key, value) in &list.params {
            match *key {
                "created" => {
                    created = Some(
                        value
                            .as_u64()
                            .ok_or_else(|| malformed("created is an integer"))?,
                    )
                }
                "expires" => {
                    expires = Some(
                        value
                            .as_u64()
                            .ok_or_else(|| malformed("expires is an integer"))?,
                    )
                }
                "nonce" => {
                    let text = value
                        .as_str()
                        .filter(|n| {
                            !n.is_empty()
                                && n.len() <= 128
                                && n.bytes().all(|b| b.is_ascii_graphic())
                        })
                        .ok_or_else(|| {
                            malformed("nonce is a string of 1 to 128 visible characters")
                        })?;
                    nonce = Some(text);
                }
                "keyid" => {
                    let text = value
                        .as_str()
                        .filter(|k| is_valid_key_id(k))
                        .ok_or_else(|| malformed("keyid is 1 to 128 of A-Z a-z 0-9 . _ ~ -"))?;
                    key_id = Some(text);
                }
                "alg" => {
                    if value.as_str() != Some(ALG) {
                        return Err(malformed("alg is hmac-sha256"));
                    }
                }
                "tag" => {
                    let tag = value.as_str().ok_or_else(|| malformed("tag is a string"))?;
                    if self.tag.as_deref().is_some_and(|t| t != tag) {
                        return Err(malformed("the tag is not the server's"));
                    }
                }
                _ => return Err(malformed("unknown signature parameter")),
            }
        }
        if self.tag.is_some() && list.param("tag").is_none() {
            return Err(malformed("the server requires a tag"));
        }
        let created = created.ok_or_else(|| malformed("created is required"))?;
        let key_id = key_id.ok_or_else(|| malformed("keyid is required"))?;
        if expires.is_some_and(|e| e < created) {
            return Err(malformed("expires is before created"));
        }
        // A client's expiry can shorten the validity, never lengthen it past `max_validity`.
        let expires = expires.map(|e| e.min(created.saturating_add(self.max_validity)));
        // `@signature-params`: the inner list with its parameters, serialized canonically.
        Rfc9421Credentials::new(&list, key_id, nonce, created, expires, signature)
            .ok_or_else(|| malformed("Signature-Input could not be serialized"))
    }

    fn prepare(
        &self,
        creds: &Rfc9421Credentials,
        parts: &Parts,
        _: &SecretKey,
    ) -> Result<Rfc9421Pending, Rejection> {
        let covers = |name: &str| creds.covers(name);
        // `@target-uri` stands for the components it holds (looked for only when one is missing).
        let covered =
            |name: &str| covers(name) || (IN_TARGET_URI.contains(&name) && covers("@target-uri"));
        for required in &self.required {
            let required: &str = required;
            if !covered(required) {
                return Err(missing(required));
            }
        }
        if self.require_query && parts.uri.query().is_some() && !covered("@query") {
            return Err(missing("@query"));
        }
        let has_body = parts.headers.contains_key(TRANSFER_ENCODING)
            || parts
                .headers
                .get(CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if self.require_content_digest && has_body && !covers(CONTENT_DIGEST) {
            return Err(missing(CONTENT_DIGEST));
        }
        let scheme = self.scheme_of(parts);
        let base = signature_base(creds.lines(), creds.params(), parts, scheme)?;
        let spelled_port = base.default_port_at.map(|at| (at, default_port(scheme)));
        let (mut sha256, mut sha512) = (None, None);
        if covers(CONTENT_DIGEST) {
            let text = parts
                .headers
                .get(CONTENT_DIGEST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let digests = Parser::new(text)
                .parse::<Dictionary>()
                .map_err(|_| malformed("content-digest is an RFC 8941 dictionary"))?;
            for (alg, entry) in &digests {
                let ListEntry::Item(item) = entry else {
                    continue;
                };
                let Some(bytes) = item.bare_item.as_byte_sequence() else {
                    continue;
                };
                match alg.as_str() {
                    "sha-256" => sha256 = Some(Box::new((sha2::Sha256::new(), bytes.to_vec()))),
                    "sha-512" => sha512 = Some(Box::new((sha2::Sha512::new(), bytes.to_vec()))),
                    _ => {}
                }
            }
            if sha256.is_none() && sha512.is_none() {
                return Err(malformed("content-digest has no sha-256 or sha-512"));
            }
        }
        Ok(Rfc9421Pending {
            base: base.text,
            default_port: spelled_port,
            scheme,
            sha256,
            sha512,
            len: 0,
        })
    }

    fn update(&self, pending: &mut Rfc9421Pending, chunk: &[u8]) {
        pending.len += chunk.len() as u64;
        if let Some((d, _)) = pending.sha256.as_deref_mut() {
            d.update(chunk);
        }
        if let Some((d, _)) = pending.sha512.as_deref_mut() {
            d.update(chunk);
        }
    }

    fn verify(
        &self,
        creds: &Rfc9421Credentials,
        pending: Rfc9421Pending,
        key: &SecretKey,
    ) -> Result<Verified, Rejection> {
        let signed_body = pending.sha256.is_some() || pending.sha512.is_some();
        if self.require_content_digest && pending.len > 0 && !signed_body {
            return Err(missing(CONTENT_DIGEST));
        }
        let mut mac = hmac_sha256(key, &[pending.base.as_bytes()]);
        let mut valid = bool::from(mac.as_slice().ct_eq(&creds.signature));
        // `@target-uri` with the scheme's default port spelled (`https://host:443/…`): one more
        // MAC, only on a mismatch, over the same request.
        if let (false, Some((at, port))) = (valid, pending.default_port)
            && let Some((head, tail)) = pending.base.as_bytes().split_at_checked(at)
        {
            mac = hmac_sha256(key, &[head, port.as_bytes(), tail]);
            valid = bool::from(mac.as_slice().ct_eq(&creds.signature));
        }
        if !valid {
            let rejection = Rejection::new(RejectionKind::InvalidSignature);
            let covers_target_uri = creds.covers("@target-uri");
            let rejection = if covers_target_uri {
                rejection.with_detail(target_uri_mismatch(pending.scheme))
            } else {
                rejection
            };
            return Err(rejection.with_signed_text(pending.base.into_bytes()));
        }
        // The MAC covers the header; the body must match it.
        let body_ok = pending
            .sha256
            .is_none_or(|b| bool::from(b.0.finalize().as_slice().ct_eq(&b.1)))
            && pending
                .sha512
                .is_none_or(|b| bool::from(b.0.finalize().as_slice().ct_eq(&b.1)));
        if body_ok {
            // The `nonce` parameter is in `@signature-params`, which the MAC covers; without
            // one, the MAC itself.
            Ok(if creds.nonce.is_some() {
                Verified::signed_nonce()
            } else {
                Verified::mac(&mac)
            })
        } else {
            Err(Rejection::new(RejectionKind::InvalidSignature)
                .with_detail("content-digest does not match the body"))
        }
    }
}
