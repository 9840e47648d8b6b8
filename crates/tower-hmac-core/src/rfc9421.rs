//! RFC 9421 HTTP Message Signatures with `hmac-sha256` (feature `rfc9421`).
//!
//! ```text
//! Signature-Input: sig1=("@method" "@authority" "@path" "content-digest");created=1700000000;keyid="app-1";nonce="…"
//! Signature: sig1=:<Base64 of HMAC-SHA256(key, signature base)>:
//! ```
//!
//! Both fields are RFC 8941 dictionaries, parsed with the `sfv` crate; a label appearing twice is
//! refused. The signature base is one line per covered component, `"<id>": <value>\n`, then
//! `"@signature-params": <the inner list, re-serialized>` (RFC 9421 §2.5). Supported components:
//! `@method`, `@authority`, `@scheme`, `@target-uri`, `@request-target`, `@path`, `@query`,
//! `@query-param;name="…"`, and header fields (lower-case, without parameters). A covered
//! `content-digest` (RFC 9530, `sha-256` and `sha-512`) is checked against the body as it streams.
//!
//! Parameters: `created` (required; the request's time), `expires`, `nonce`, `keyid` (required;
//! the registry's key id), `alg` (only `hmac-sha256`), `tag` (required to match when the server
//! names one). Any other parameter is refused. The server requires coverage of `@method`,
//! `@authority`, `@path`, `@query` when the request has a query, and `content-digest` when it has
//! a body (configurable); a signature covering less is refused with `missing_covered_component`,
//! the detail naming what is missing. Replay: the nonce when present, else the signature.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderName;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sfv::{BareItem, Dictionary, Item, ListEntry, Parser};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use crate::authorization::is_valid_key_id;
use crate::key::{SecretKey, hmac_sha256};
use crate::rejection::{Rejection, RejectionKind};
use crate::scheme::{Credentials, Locator, Scheme, Verified};

/// The `alg` value this scheme accepts.
pub const ALG: &str = "hmac-sha256";

const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
const SIGNATURE: HeaderName = HeaderName::from_static("signature");
const CONTENT_DIGEST: &str = "content-digest";

/// The `application/x-www-form-urlencoded` percent-encode set: all but `A–Z a–z 0–9 * - . _`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

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

/// The most members a `Signature-Input` or `Signature` dictionary may have.
const MAX_LABELS: usize = 16;

/// The most components one signature may cover.
const MAX_COMPONENTS: usize = 64;

/// RFC 9421 with `hmac-sha256` (id `rfc9421`).
#[derive(Debug, Clone)]
pub struct Rfc9421 {
    locator: Locator,
    required: Vec<&'static str>,
    require_query: bool,
    require_content_digest: bool,
    uri_scheme: &'static str,
    trust_forwarded_proto: bool,
    label: Option<&'static str>,
    tag: Option<&'static str>,
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
            required: vec!["@method", "@authority", "@path"],
            require_query: true,
            require_content_digest: true,
            uri_scheme: "https",
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

    /// The components every signature must cover (replacing `@method`, `@authority`, `@path`).
    pub fn required_components(mut self, components: &[&'static str]) -> Self {
        self.required = components.to_vec();
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
    /// `https` (default) or `http`.
    pub fn uri_scheme(mut self, scheme: &'static str) -> Self {
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
    pub fn label(mut self, label: &'static str) -> Self {
        self.label = Some(label);
        self
    }

    /// Require this `tag` parameter (an application's own signatures only).
    pub fn tag(mut self, tag: &'static str) -> Self {
        self.tag = Some(tag);
        self
    }

    fn scheme_of(&self, parts: &Parts) -> &'static str {
        crate::scheme::uri_scheme_of(parts, self.uri_scheme, self.trust_forwarded_proto)
    }
}

/// Parsed `Signature-Input` and `Signature` members.
#[derive(Clone)]
pub struct Rfc9421Credentials {
    key_id: String,
    created: u64,
    expires: Option<u64>,
    /// The `nonce` parameter (covered by the MAC through `@signature-params`).
    nonce: Option<String>,
    components: Vec<Item>,
    params: String,
    /// Where each component's serialized identifier ends in `params`: the signature base's
    /// lines reuse them instead of serializing the components again.
    component_ends: Vec<usize>,
    signature: Vec<u8>,
}

impl fmt::Debug for Rfc9421Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc9421Credentials")
            .field("key_id", &self.key_id)
            .field("created", &self.created)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Credentials for Rfc9421Credentials {
    fn key_id(&self) -> &str {
        &self.key_id
    }
    fn timestamp(&self) -> u64 {
        self.created
    }
    fn nonce(&self) -> &str {
        self.nonce.as_deref().unwrap_or_default()
    }
    fn expires(&self) -> Option<u64> {
        self.expires
    }
}

/// The signature base and the body's digests, as the body streams.
pub struct Rfc9421Pending {
    base: String,
    /// Boxed: only a request covering `content-digest` has them, and unboxed they would make
    /// every request's pending state (moved through the layer's future) hundreds of bytes larger.
    sha256: Option<Box<(sha2::Sha256, Vec<u8>)>>,
    sha512: Option<Box<(sha2::Sha512, Vec<u8>)>>,
    len: u64,
}

impl Rfc9421Pending {
    /// The signature base the server built (RFC 9421 §2.5), to compare with a client's.
    pub fn signature_base(&self) -> &str {
        &self.base
    }
}

impl fmt::Debug for Rfc9421Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc9421Pending")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

fn malformed(detail: &'static str) -> Rejection {
    Rejection::new(RejectionKind::MalformedAuthorization).with_detail(detail)
}

fn missing(component: &str) -> Rejection {
    Rejection::new(RejectionKind::MissingCoveredComponent)
        .with_detail(format!("the signature must cover {component}"))
}

/// The one field line of `name`, as text within `max_len`.
fn one_field<'a>(
    parts: &'a Parts,
    name: &HeaderName,
    max_len: usize,
) -> Result<&'a str, Rejection> {
    let mut values = parts.headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(malformed(
            "exactly one Signature-Input and one Signature header",
        ));
    };
    if value.len() > max_len {
        return Err(malformed("Signature-Input or Signature is too long"));
    }
    value
        .to_str()
        .map_err(|_| malformed("Signature-Input or Signature is not text"))
}

/// Parses a dictionary strictly: a member name appearing twice is refused (RFC 8941 would keep
/// the last one).
fn dictionary(text: &str) -> Result<Dictionary, Rejection> {
    struct Labels<'de>(Vec<&'de sfv::KeyRef>);
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Labels<'de> {
        type Out = ();
        type Error = fmt::Error;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Self::Error> {
            // A bounded number of members keeps the duplicate check cheap.
            if self.0.len() >= MAX_LABELS || self.0.contains(&key) {
                return Err(fmt::Error);
            }
            self.0.push(key);
            Ok(sfv::visitor::Ignored)
        }
        fn finish(self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    Parser::new(text)
        .parse_dictionary_with_visitor(Labels(Vec::new()))
        .map_err(not_a_dictionary)?;
    Parser::new(text)
        .parse::<Dictionary>()
        .map_err(|_| malformed("Signature-Input and Signature are RFC 8941 dictionaries"))
}

/// A one-pass parse of Signature-Input or Signature met a member name twice, or more than
/// [`MAX_LABELS`] members.
#[derive(Debug)]
struct Strict;

impl fmt::Display for Strict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a repeated member, or too many")
    }
}

impl std::error::Error for Strict {}

/// The member names seen so far: each once, at most [`MAX_LABELS`].
fn note_member<'de>(seen: &mut Vec<&'de sfv::KeyRef>, key: &'de sfv::KeyRef) -> Result<(), Strict> {
    if seen.len() >= MAX_LABELS || seen.contains(&key) {
        return Err(Strict);
    }
    seen.push(key);
    Ok(())
}

/// Collects parameters into an owned map.
struct ParamsInto<'a>(&'a mut sfv::Parameters);

impl<'de> sfv::visitor::ParameterVisitor<'de> for ParamsInto<'_> {
    type Out = ();
    type Error = Strict;
    fn parameter(
        &mut self,
        key: &'de sfv::KeyRef,
        value: sfv::BareItemFromInput<'de>,
    ) -> Result<(), Strict> {
        self.0.insert(key.to_owned(), value.into());
        Ok(())
    }
    fn finish(self) -> Result<(), Strict> {
        Ok(())
    }
}

fn not_a_dictionary(_: sfv::Error) -> Rejection {
    malformed(
        "Signature-Input and Signature are RFC 8941 dictionaries, each label once, at most 16",
    )
}

/// The signature parameters a Signature-Input member may carry, in the order RFC 9421 §2.3
/// lists them (the client's order is kept separately).
const SIGNATURE_PARAMS: [&sfv::KeyRef; 6] = [
    sfv::KeyRef::constant("created"),
    sfv::KeyRef::constant("expires"),
    sfv::KeyRef::constant("nonce"),
    sfv::KeyRef::constant("alg"),
    sfv::KeyRef::constant("keyid"),
    sfv::KeyRef::constant("tag"),
];

/// The inner list of the member a server verifies: the covered components, and the signature
/// parameters in the client's order (no map: a parameter is one of six, each at most once).
#[derive(Debug, Default)]
struct SignatureInput {
    items: Vec<Item>,
    params: Vec<(&'static sfv::KeyRef, BareItem)>,
    /// A parameter that is not one of [`SIGNATURE_PARAMS`].
    unknown: bool,
    /// A parameter given twice.
    repeated: bool,
}

impl SignatureInput {
    fn param(&self, name: &str) -> Option<&BareItem> {
        self.params
            .iter()
            .find_map(|(k, v)| (k.as_str() == name).then_some(v))
    }
}

/// Collects the items of the inner list, then its signature parameters.
struct InnerListInto<'a>(&'a mut SignatureInput);

impl<'de> sfv::visitor::InnerListVisitor<'de> for InnerListInto<'_> {
    type Error = Strict;
    fn item(&mut self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
        Ok(ItemInto(&mut self.0.items))
    }
    fn finish(self) -> Result<impl sfv::visitor::ParameterVisitor<'de>, Strict> {
        Ok(self)
    }
}

impl<'de> sfv::visitor::ParameterVisitor<'de> for InnerListInto<'_> {
    type Out = ();
    type Error = Strict;
    fn parameter(
        &mut self,
        key: &'de sfv::KeyRef,
        value: sfv::BareItemFromInput<'de>,
    ) -> Result<(), Strict> {
        match SIGNATURE_PARAMS.iter().find(|known| **known == key) {
            Some(known) if self.0.params.iter().any(|(k, _)| k == known) => self.0.repeated = true,
            Some(known) => self.0.params.push((known, value.into())),
            None => self.0.unknown = true,
        }
        Ok(())
    }
    fn finish(self) -> Result<(), Strict> {
        Ok(())
    }
}

/// Appends an item, then collects its parameters.
struct ItemInto<'a>(&'a mut Vec<Item>);

impl<'de, 'a> sfv::visitor::ItemVisitor<'de> for ItemInto<'a> {
    type Out = ();
    type Error = Strict;
    fn bare_item(
        self,
        bare: sfv::BareItemFromInput<'de>,
    ) -> Result<impl sfv::visitor::ParameterVisitor<'de, Out = ()>, Strict> {
        self.0.push(Item::new(bare));
        let last = self.0.len() - 1;
        Ok(ParamsInto(&mut self.0[last].params))
    }
}

/// The Signature-Input member our label names: an inner list.
struct InputMember<'a>(&'a mut Option<SignatureInput>);

impl<'de> sfv::visitor::EntryVisitor<'de> for InputMember<'_> {
    type Error = Strict;
    fn item(self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
        // Left `None`: refused as the wrong shape once the parse ends.
        Ok(sfv::visitor::Ignored)
    }
    fn inner_list(self) -> Result<impl sfv::visitor::InnerListVisitor<'de>, Strict> {
        Ok(InnerListInto(self.0.insert(SignatureInput::default())))
    }
}

/// Signature-Input in one pass (issue 16: it was parsed twice, then re-serialized from a copy):
/// each member name once, at most [`MAX_LABELS`]; the inner list of `label`, or of the one
/// member when the server names no label.
fn signature_input(
    text: &str,
    label: Option<&str>,
) -> Result<(sfv::Key, SignatureInput), Rejection> {
    struct Inputs<'de, 'l> {
        label: Option<&'l str>,
        seen: Vec<&'de sfv::KeyRef>,
        found: Option<(sfv::Key, Option<SignatureInput>)>,
    }
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Inputs<'de, '_> {
        type Out = (usize, Option<(sfv::Key, Option<SignatureInput>)>);
        type Error = Strict;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Strict> {
            note_member(&mut self.seen, key)?;
            let ours = self.label.is_none_or(|l| l == key.as_str()) && self.found.is_none();
            Ok(ours.then(|| {
                let (_, list) = self.found.insert((key.to_owned(), None));
                InputMember(list)
            }))
        }
        fn finish(self) -> Result<Self::Out, Strict> {
            Ok((self.seen.len(), self.found))
        }
    }
    let (members, found) = Parser::new(text)
        .parse_dictionary_with_visitor(Inputs {
            label,
            seen: Vec::new(),
            found: None,
        })
        .map_err(not_a_dictionary)?;
    if label.is_none() && members != 1 {
        return Err(malformed("exactly one signature per request"));
    }
    match found {
        Some((key, Some(list))) => Ok((key, list)),
        Some((_, None)) => Err(malformed("a Signature-Input member is an inner list")),
        None if label.is_some() => Err(malformed("no signature with the server's label")),
        None => Err(malformed("exactly one signature per request")),
    }
}

/// The 32-byte signature of `label` in Signature, in one pass (issue 16: it was parsed twice):
/// each member name once, at most [`MAX_LABELS`]; the label's member a byte sequence without
/// parameters.
fn signature_bytes(text: &str, label: &str) -> Result<Vec<u8>, Rejection> {
    /// `Some(None)`: our member, of the wrong shape.
    type Found = Option<Option<Vec<u8>>>;
    struct Member<'a>(&'a mut Option<Vec<u8>>);
    impl<'de> sfv::visitor::EntryVisitor<'de> for Member<'_> {
        type Error = Strict;
        fn item(self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
            Ok(Bytes(self.0))
        }
        fn inner_list(self) -> Result<impl sfv::visitor::InnerListVisitor<'de>, Strict> {
            Ok(sfv::visitor::Ignored)
        }
    }
    /// The member's value: kept when a byte sequence of 32 bytes.
    struct Bytes<'a>(&'a mut Option<Vec<u8>>);
    impl<'de> sfv::visitor::ItemVisitor<'de> for Bytes<'_> {
        type Out = ();
        type Error = Strict;
        fn bare_item(
            self,
            bare: sfv::BareItemFromInput<'de>,
        ) -> Result<impl sfv::visitor::ParameterVisitor<'de, Out = ()>, Strict> {
            *self.0 = bare
                .as_byte_sequence()
                .filter(|s| s.len() == 32)
                .map(|s| s.to_vec());
            Ok(NoParams(self.0))
        }
    }
    /// Any parameter makes the signature the wrong shape.
    struct NoParams<'a>(&'a mut Option<Vec<u8>>);
    impl<'de> sfv::visitor::ParameterVisitor<'de> for NoParams<'_> {
        type Out = ();
        type Error = Strict;
        fn parameter(
            &mut self,
            _: &'de sfv::KeyRef,
            _: sfv::BareItemFromInput<'de>,
        ) -> Result<(), Strict> {
            *self.0 = None;
            Ok(())
        }
        fn finish(self) -> Result<(), Strict> {
            Ok(())
        }
    }
    struct Signatures<'de, 'l> {
        label: &'l str,
        seen: Vec<&'de sfv::KeyRef>,
        found: Found,
    }
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Signatures<'de, '_> {
        type Out = Found;
        type Error = Strict;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Strict> {
            note_member(&mut self.seen, key)?;
            Ok((key.as_str() == self.label).then(|| Member(self.found.insert(None))))
        }
        fn finish(self) -> Result<Found, Strict> {
            Ok(self.found)
        }
    }
    let found = Parser::new(text)
        .parse_dictionary_with_visitor(Signatures {
            label,
            seen: Vec::new(),
            found: None,
        })
        .map_err(not_a_dictionary)?;
    match found {
        Some(Some(bytes)) => Ok(bytes),
        Some(None) => Err(malformed("the signature is a byte sequence of 32 bytes")),
        None => Err(malformed("Signature has no byte sequence for the label")),
    }
}

fn as_u64(item: &BareItem) -> Option<u64> {
    item.as_integer()
        .and_then(|i| u64::try_from(i64::from(i)).ok())
}

fn component_name(item: &Item) -> Result<&str, Rejection> {
    item.bare_item
        .as_string()
        .map(|s| s.as_str())
        .ok_or_else(|| malformed("a covered component is a string"))
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
        let (label, list) =
            signature_input(one_field(parts, &SIGNATURE_INPUT, max_len)?, self.label)?;
        let signature = signature_bytes(one_field(parts, &SIGNATURE, max_len)?, label.as_str())?;
        if list.items.len() > MAX_COMPONENTS {
            return Err(malformed("too many covered components"));
        }
        // Covered components: strings, each once, lower-case, with only the parameters we know.
        for (i, item) in list.items.iter().enumerate() {
            let name = component_name(item)?;
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(malformed("a component name is lower-case"));
            }
            if name.starts_with('@') && !DERIVED.contains(&name) {
                return Err(malformed("unsupported derived component"));
            }
            let query_param = name == "@query-param";
            let params_ok = if query_param {
                item.params.len() == 1
                    && item
                        .params
                        .get("name")
                        .and_then(|v| v.as_string())
                        .is_some()
            } else {
                item.params.is_empty()
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
            match key.as_str() {
                "created" => {
                    created = Some(as_u64(value).ok_or_else(|| malformed("created is an integer"))?)
                }
                "expires" => {
                    expires = Some(as_u64(value).ok_or_else(|| malformed("expires is an integer"))?)
                }
                "nonce" => {
                    let text = value
                        .as_string()
                        .map(|s| s.as_str())
                        .filter(|n| {
                            !n.is_empty()
                                && n.len() <= 128
                                && n.bytes().all(|b| b.is_ascii_graphic())
                        })
                        .ok_or_else(|| {
                            malformed("nonce is a string of 1 to 128 visible characters")
                        })?;
                    nonce = Some(text.to_owned());
                }
                "keyid" => {
                    let text = value
                        .as_string()
                        .map(|s| s.as_str())
                        .filter(|k| is_valid_key_id(k))
                        .ok_or_else(|| malformed("keyid is 1 to 128 of A-Z a-z 0-9 . _ ~ -"))?;
                    key_id = Some(text.to_owned());
                }
                "alg" => {
                    if value.as_string().map(|s| s.as_str()) != Some(ALG) {
                        return Err(malformed("alg is hmac-sha256"));
                    }
                }
                "tag" => {
                    let tag = value
                        .as_string()
                        .map(|s| s.as_str())
                        .ok_or_else(|| malformed("tag is a string"))?;
                    if self.tag.is_some_and(|t| t != tag) {
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
        // `@signature-params`: the inner list with its parameters, serialized canonically (a
        // list of that one member serializes as the member itself), straight into a buffer.
        let mut params = String::with_capacity(128);
        let mut component_ends = Vec::with_capacity(list.items.len());
        {
            let mut serializer = sfv::ListSerializer::with_buffer(&mut params);
            let mut inner = serializer.inner_list();
            for item in &list.items {
                let buffer = inner
                    .bare_item(&item.bare_item)
                    .parameters(&item.params)
                    .finish();
                component_ends.push(buffer.len());
            }
            let _ = inner
                .finish()
                .parameters(list.params.iter().map(|(k, v)| (*k, v)));
            serializer
                .finish()
                .ok_or_else(|| malformed("Signature-Input is empty"))?;
        }
        Ok(Rfc9421Credentials {
            key_id,
            created,
            expires,
            nonce,
            components: list.items,
            params,
            component_ends,
            signature,
        })
    }

    fn prepare(
        &self,
        creds: &Rfc9421Credentials,
        parts: &Parts,
        _: &SecretKey,
    ) -> Result<Rfc9421Pending, Rejection> {
        let covers = |name: &str| {
            creds
                .components
                .iter()
                .any(|c| c.bare_item.as_string().map(|s| s.as_str()) == Some(name))
        };
        for &required in &self.required {
            if !covers(required) {
                return Err(missing(required));
            }
        }
        if self.require_query && parts.uri.query().is_some() && !covers("@query") {
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
        let base = signature_base(creds.lines(), &creds.params, parts, scheme)?;
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
            base,
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
        let mac = hmac_sha256(key, &[pending.base.as_bytes()]);
        if !bool::from(mac.as_slice().ct_eq(&creds.signature)) {
            return Err(Rejection::new(RejectionKind::InvalidSignature)
                .with_signed_text(pending.base.into_bytes()));
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

/// The signature base (RFC 9421 §2.5): a line per component, then `@signature-params`.
/// `lines`: each covered component with its serialized identifier; `params`: the serialized
/// inner list with its parameters.
fn signature_base<'a>(
    lines: impl Iterator<Item = (&'a Item, &'a str)>,
    params: &str,
    parts: &Parts,
    scheme: &str,
) -> Result<String, Rejection> {
    let mut base = String::with_capacity(256);
    for (item, id) in lines {
        let name = component_name(item)?;
        let value = component_value(name, item, parts, scheme)?;
        base.push_str(id);
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(params);
    Ok(base)
}

impl Rfc9421Credentials {
    /// Each covered component with its identifier as serialized in `params` (`(` then the
    /// identifiers separated by one space).
    fn lines(&self) -> impl Iterator<Item = (&Item, &str)> {
        let starts = std::iter::once(1).chain(self.component_ends.iter().map(|end| end + 1));
        self.components
            .iter()
            .zip(starts.zip(&self.component_ends))
            .map(|(item, (start, &end))| (item, self.params.get(start..end).unwrap_or_default()))
    }
}

/// The value of one covered component (RFC 9421 §2.1, §2.2).
fn component_value(
    name: &str,
    item: &Item,
    parts: &Parts,
    scheme: &str,
) -> Result<String, Rejection> {
    let host =
        || crate::scheme::host_of(parts, "@authority is covered but the request has no host");
    // Lower-cased, without the scheme's default port (RFC 3986 normalization; the `Host` a
    // client sends omits a default port even when its URL spelled it).
    let authority = || -> Result<String, Rejection> {
        let mut authority = host()?.to_ascii_lowercase();
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        if authority.ends_with(default_port) {
            authority.truncate(authority.len() - default_port.len());
        }
        Ok(authority)
    };
    let path = || match parts.uri.path() {
        "" => "/",
        path => path,
    };
    let query = || {
        parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_else(|| "?".into())
    };
    Ok(match name {
        "@method" => parts.method.as_str().to_owned(),
        "@authority" => authority()?,
        "@scheme" => scheme.to_owned(),
        "@target-uri" => {
            let mut uri = format!("{scheme}://{}{}", authority()?, path());
            if let Some(q) = parts.uri.query() {
                uri.push('?');
                uri.push_str(q);
            }
            uri
        }
        "@request-target" => match parts.uri.query() {
            Some(q) => format!("{}?{q}", path()),
            None => path().to_owned(),
        },
        "@path" => path().to_owned(),
        "@query" => query(),
        "@query-param" => {
            let wanted = item
                .params
                .get("name")
                .and_then(|v| v.as_string())
                .map(|s| s.as_str())
                .unwrap_or_default();
            let query = parts.uri.query().unwrap_or_default().as_bytes();
            let mut found = None;
            for (n, v) in form_urlencoded::parse(query) {
                if utf8_percent_encode(&n, FORM).to_string() == wanted {
                    if found.is_some() {
                        return Err(malformed("@query-param names a parameter that repeats"));
                    }
                    found = Some(utf8_percent_encode(&v, FORM).to_string());
                }
            }
            found.ok_or_else(|| {
                Rejection::new(RejectionKind::MissingSignedHeader)
                    .with_detail("a covered query parameter is absent")
            })?
        }
        _ if name.starts_with('@') => return Err(malformed("unsupported derived component")),
        _ => {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| malformed("a covered component is not a field name"))?;
            let mut values = parts.headers.get_all(&header).iter().peekable();
            if values.peek().is_none() {
                return Err(Rejection::new(RejectionKind::MissingSignedHeader)
                    .with_detail("a covered header is absent"));
            }
            let mut joined = String::new();
            for (i, value) in values.enumerate() {
                let text = value
                    .to_str()
                    .map_err(|_| malformed("a covered header is not text"))?;
                if i > 0 {
                    joined.push_str(", ");
                }
                joined.push_str(text.trim_matches([' ', '\t']));
            }
            joined
        }
    })
}

/// A `Content-Digest` value for `body` (`sha-256`), as RFC 9530 writes it.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(sha2::Sha256::digest(body)))
}

/// Signs a request as an RFC 9421 client would: the `Signature-Input` and `Signature` values for
/// `components` (each a serialized component identifier, such as `"@method"` or
/// `"@query-param";name="a"`) with the label `sig1`.
///
/// # Errors
/// When a component is malformed or missing from the request.
pub fn sign(
    parts: &Parts,
    scheme: &str,
    components: &[&str],
    key_id: &str,
    key: &SecretKey,
    created: u64,
    nonce: Option<&str>,
) -> Result<(String, String), Rejection> {
    let mut list = String::from("(");
    list.push_str(&components.join(" "));
    list.push_str(&format!(
        ");created={created};keyid=\"{key_id}\";alg=\"{ALG}\""
    ));
    if let Some(nonce) = nonce {
        list.push_str(&format!(";nonce=\"{nonce}\""));
    }
    let input = format!("sig1={list}");
    let dict = dictionary(&input)?;
    let Some(ListEntry::InnerList(inner)) = dict.get("sig1") else {
        return Err(malformed("Signature-Input member"));
    };
    let ids: Vec<String> = inner
        .items
        .iter()
        .map(|item| {
            let mut id = String::new();
            let _ = sfv::ItemSerializer::with_buffer(&mut id)
                .bare_item(&item.bare_item)
                .parameters(&item.params);
            id
        })
        .collect();
    let lines = inner.items.iter().zip(ids.iter().map(String::as_str));
    let base = signature_base(lines, &list, parts, scheme)?;
    let mac = hmac_sha256(key, &[base.as_bytes()]);
    let signature = format!("sig1=:{}:", STANDARD.encode(mac));
    Ok((input, signature))
}
