//! What a request's signature gives: the parsed members, then the signature base and the
//! body's digests as the body streams.

use std::fmt;
use std::fmt::Write as _;
use std::ops::Range;

use super::base::Line;
use super::parse::{SignatureInput, Value};
use crate::scheme::{Credentials, Freshness};

/// Parsed `Signature-Input` and `Signature` members.
#[derive(Clone)]
pub struct Rfc9421Credentials {
    /// `@signature-params`: the inner list with its parameters, serialized canonically
    /// (`text[..key_id.start]`), then the key id and the nonce as sent, in one buffer.
    pub(super) text: String,
    pub(super) key_id: Range<usize>,
    /// The `nonce` parameter (covered by the MAC through `@signature-params`).
    pub(super) nonce: Option<Range<usize>>,
    pub(super) created: u64,
    pub(super) expires: Option<u64>,
    /// Each covered component, where its identifier is in `params`: the signature base's lines
    /// reuse them instead of serializing the components again.
    pub(super) components: Vec<Covered>,
    pub(super) signature: [u8; 32],
}

/// A covered component: where its serialized identifier ends in the credentials' `params`
/// (each starts one byte after the previous one ends, the first after the `(`), where its name
/// ends in it (the name starts after the identifier's opening quote), and `@query-param`'s
/// `name` parameter.
#[derive(Clone, Debug)]
pub(super) struct Covered {
    name_end: usize,
    id_end: usize,
    query_name: Option<Box<str>>,
}

impl fmt::Debug for Rfc9421Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc9421Credentials")
            .field("key_id", &self.key_id())
            .field("created", &self.created)
            .field("params", &self.params())
            .finish_non_exhaustive()
    }
}

impl Credentials for Rfc9421Credentials {
    fn key_id(&self) -> &str {
        self.text.get(self.key_id.clone()).unwrap_or_default()
    }
    fn nonce(&self) -> &str {
        self.nonce
            .clone()
            .and_then(|nonce| self.text.get(nonce))
            .unwrap_or_default()
    }
    fn freshness(&self) -> Freshness {
        match self.expires {
            Some(until) => Freshness::Until {
                from: self.created,
                until,
            },
            None => Freshness::Window { at: self.created },
        }
    }
}

/// The signature base and the body's digests, as the body streams.
pub struct Rfc9421Pending {
    pub(super) base: String,
    /// For a covered `@target-uri` whose authority has no port: where in `base` the scheme's
    /// default port (`:443`, `:80`) may be inserted, and that port. A client whose URL spelled
    /// it (`https://host:443/…`) signed it there; the `Host` header it sent omits it.
    pub(super) default_port: Option<(usize, &'static str)>,
    /// The URI scheme the server took for the request (`@scheme`, `@target-uri`).
    pub(super) scheme: &'static str,
    /// Boxed: only a request covering `content-digest` has them, and unboxed they would make
    /// every request's pending state (moved through the layer's future) hundreds of bytes larger.
    pub(super) sha256: Option<Box<(sha2::Sha256, Vec<u8>)>>,
    pub(super) sha512: Option<Box<(sha2::Sha512, Vec<u8>)>>,
    pub(super) len: u64,
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

impl Rfc9421Credentials {
    /// The credentials of a checked Signature-Input: `@signature-params` serialized as RFC 8941
    /// writes it (what the client signed), by hand: after the checks every value is a string or
    /// an integer. `None` for another value (the checks refuse it first).
    pub(super) fn new(
        list: &SignatureInput<'_>,
        key_id: &str,
        nonce: Option<&str>,
        created: u64,
        expires: Option<u64>,
        signature: [u8; 32],
    ) -> Option<Self> {
        let mut text = String::with_capacity(160 + key_id.len() + nonce.map_or(0, str::len));
        let mut components = Vec::with_capacity(list.items.len());
        text.push('(');
        for (i, item) in list.items.iter().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            push_string(&mut text, item.name.as_deref()?);
            let name_end = text.len() - 1;
            let query_name = match &item.params.name {
                Some(Value::String(name)) => {
                    text.push_str(";name=");
                    push_string(&mut text, name);
                    Some(Box::from(&**name))
                }
                Some(_) => return None,
                None => None,
            };
            components.push(Covered {
                name_end,
                id_end: text.len(),
                query_name,
            });
        }
        text.push(')');
        for (key, value) in &list.params {
            text.push(';');
            text.push_str(key);
            text.push('=');
            match value {
                Value::Integer(i) => {
                    let _ = write!(text, "{i}");
                }
                Value::String(s) => push_string(&mut text, s),
                Value::Other => return None,
            }
        }
        let params_end = text.len();
        text.push_str(key_id);
        let key_id = params_end..text.len();
        let nonce = nonce.map(|nonce| {
            let start = text.len();
            text.push_str(nonce);
            start..text.len()
        });
        Some(Self {
            text,
            key_id,
            nonce,
            created,
            expires,
            components,
            signature,
        })
    }

    /// `@signature-params`' value.
    pub(super) fn params(&self) -> &str {
        self.text.get(..self.key_id.start).unwrap_or_default()
    }

    /// Whether the signature covers the component `name`.
    pub(super) fn covers(&self, name: &str) -> bool {
        self.lines().any(|line| line.name == Some(name))
    }

    /// Each covered component's line: its identifier as serialized in `params` and its name, as
    /// serialized too (escapes kept). Only a name with `"` or `\` differs from the one sent, and
    /// such a name is neither a derived component nor a field name: every comparison and
    /// look-up refuses it, escaped or not.
    pub(super) fn lines(&self) -> impl Iterator<Item = Line<'_>> + Clone {
        let params = self.params();
        let mut start = 1;
        self.components.iter().map(move |c| {
            let line = Line {
                id: params.get(start..c.id_end).unwrap_or_default(),
                name: params.get(start + 1..c.name_end),
                query_name: c.query_name.as_deref(),
            };
            start = c.id_end + 1;
            line
        })
    }
}

/// Appends an RFC 8941 string: quoted, `"` and `\` escaped (the parsers let no other byte
/// through but visible ASCII and space).
fn push_string(out: &mut String, s: &str) {
    out.push('"');
    if s.bytes().any(|b| b == b'"' || b == b'\\') {
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    } else {
        out.push_str(s);
    }
    out.push('"');
}
