//! What a request's signature gives: the parsed members, then the signature base and the
//! body's digests as the body streams.

use std::fmt;

use sfv::Item;

use crate::scheme::{Credentials, Freshness};

/// Parsed `Signature-Input` and `Signature` members.
#[derive(Clone)]
pub struct Rfc9421Credentials {
    pub(super) key_id: String,
    pub(super) created: u64,
    pub(super) expires: Option<u64>,
    /// The `nonce` parameter (covered by the MAC through `@signature-params`).
    pub(super) nonce: Option<String>,
    pub(super) components: Vec<Item>,
    pub(super) params: String,
    /// Where each component's serialized identifier ends in `params`: the signature base's
    /// lines reuse them instead of serializing the components again.
    pub(super) component_ends: Vec<usize>,
    pub(super) signature: Vec<u8>,
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
    fn nonce(&self) -> &str {
        self.nonce.as_deref().unwrap_or_default()
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
    /// Each covered component with its identifier as serialized in `params` (`(` then the
    /// identifiers separated by one space).
    pub(super) fn lines(&self) -> impl Iterator<Item = (&Item, &str)> {
        let starts = std::iter::once(1).chain(self.component_ends.iter().map(|end| end + 1));
        self.components
            .iter()
            .zip(starts.zip(&self.component_ends))
            .map(|(item, (start, &end))| (item, self.params.get(start..end).unwrap_or_default()))
    }
}
