//! The set of schemes one layer verifies: values chosen at run time, the choice of the scheme a
//! request names, and the routes reserved for some schemes. The type erasure of [`Scheme`] is the
//! private module `erased`.

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::request::Parts;
use tower_hmac_core::{Locator, Rejection, RejectionKind, Scheme, V1, authorization_token};

use crate::error::ConfigError;

mod erased;

pub(crate) use erased::{AnyCredentials, AnyPending, Entry};

/// The schemes a layer verifies, chosen at run time: protocol v1 alone by default.
///
/// ```
/// use tower_hmac::server::Schemes;
/// # #[cfg(feature = "sigv4")] {
/// use tower_hmac::protocol::sigv4::SigV4;
/// let schemes = Schemes::v1().with(SigV4::new("eu-west-1", "execute-api"));
/// assert_eq!(schemes.ids(), ["v1", "sigv4"]);
/// # }
/// ```
///
/// For each request the layer picks the one scheme whose credentials the head carries
/// ([`Scheme::locator`]): none → `missing_authorization` (or `unsupported_scheme` when there is
/// an `Authorization` header no enabled scheme reads), two or more → `ambiguous_credentials`.
/// A set may hold any number of schemes; the layer's `build()` refuses an empty one, two with
/// one id, and two whose credentials are always found together (the second could never be
/// picked alone).
#[derive(Clone)]
pub struct Schemes {
    list: Vec<Entry>,
}

impl Schemes {
    /// Protocol v1 alone.
    pub fn v1() -> Self {
        Self {
            list: vec![Entry::V1(V1)],
        }
    }

    /// No scheme yet: add them with [`with`](Self::with) or [`push`](Self::push) (protocol v1
    /// only if it is added too).
    pub fn empty() -> Self {
        Self { list: Vec::new() }
    }

    /// `scheme` alone (protocol v1 not included).
    pub fn only(scheme: impl Scheme) -> Self {
        Self::empty().with(scheme)
    }

    /// With `scheme` too.
    #[must_use]
    pub fn with(mut self, scheme: impl Scheme) -> Self {
        self.push(scheme);
        self
    }

    /// Adds `scheme` (for sets built from configuration, in a loop).
    ///
    /// ```
    /// use tower_hmac::server::Schemes;
    /// use tower_hmac::protocol::V1;
    ///
    /// // What a configuration file lists, e.g. `schemes = ["v1", "github"]`.
    /// let configured = ["v1", "github"];
    /// let mut schemes = Schemes::empty();
    /// for id in configured {
    ///     match id {
    ///         "v1" => schemes.push(V1),
    ///         # #[cfg(feature = "webhooks")]
    ///         "github" => schemes.push(tower_hmac::protocol::webhooks::GitHub::new(String::from("github-hook"))),
    ///         _ => {}
    ///     }
    /// }
    /// # #[cfg(feature = "webhooks")]
    /// assert_eq!(schemes.ids(), ["v1", "github"]);
    /// ```
    pub fn push(&mut self, scheme: impl Scheme) {
        self.list.push(Entry::of(scheme));
    }

    /// The ids of the schemes, in order.
    pub fn ids(&self) -> Vec<&'static str> {
        self.list.iter().map(Scheme::id).collect()
    }

    /// How many schemes the set holds.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the set holds none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// What `build()` refuses: no scheme, one id twice, or two schemes whose credentials are
    /// always found together.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.list.is_empty() {
            return Err(ConfigError::NoScheme);
        }
        for (i, a) in self.list.iter().enumerate() {
            for b in &self.list[..i] {
                if Scheme::id(a) == Scheme::id(b) {
                    return Err(ConfigError::DuplicateScheme { id: Scheme::id(a) });
                }
                let (la, lb) = (Scheme::locator(a), Scheme::locator(b));
                if la.covers(lb) || lb.covers(la) {
                    return Err(ConfigError::CollidingSchemes {
                        first: Scheme::id(b),
                        second: Scheme::id(a),
                    });
                }
            }
        }
        Ok(())
    }

    /// The index of the scheme with this id.
    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.list.iter().position(|s| Scheme::id(s) == id)
    }

    /// The scheme at `index`, an index [`select`](Self::select) returned from this set (which
    /// never changes once the layer is built, so every such index is in it). A total function
    /// all the same: any other index gets protocol v1, whose every check a request must then pass.
    pub(crate) fn entry(&self, index: usize) -> &Entry {
        static OUT_OF_SET: Entry = Entry::V1(V1);
        self.list.get(index).unwrap_or(&OUT_OF_SET)
    }

    /// The name of the first of `candidates`, for the challenge of a request that names none.
    pub(crate) fn first_name(&self, candidates: &[usize]) -> &'static str {
        candidates
            .first()
            .and_then(|&i| self.list.get(i))
            .or_else(|| self.list.first())
            .map_or(tower_hmac_core::SCHEME, Scheme::name)
    }

    /// The index of the one scheme among `candidates` whose credentials `parts` carries.
    pub(crate) fn select(&self, parts: &Parts, candidates: &[usize]) -> Result<usize, Rejection> {
        match self.locate(parts, candidates) {
            Found::One(index) => Ok(index),
            Found::Several => Err(Rejection::new(RejectionKind::AmbiguousCredentials)
                .with_detail("the request carries credentials for more than one scheme: send one")),
            Found::Nothing => Err(none_found(parts)),
        }
    }

    /// Whether `parts` carries the credentials of one of `candidates` — or of several, an
    /// ambiguity [`select`](Self::select) refuses (for
    /// [`HmacAuth::carries_credentials`](crate::HmacAuth::carries_credentials), asked of every
    /// bearer request: no rejection is built for a request that carries none).
    pub(crate) fn claims(&self, parts: &Parts, candidates: &[usize]) -> bool {
        !matches!(self.locate(parts, candidates), Found::Nothing)
    }

    /// Which of `candidates` find their credentials in `parts` (stops at a second).
    fn locate(&self, parts: &Parts, candidates: &[usize]) -> Found {
        let token = authorization_token(parts);
        let mut found = Found::Nothing;
        let mut headers = false;
        for &index in candidates {
            let Some(scheme) = self.list.get(index) else {
                continue;
            };
            match Scheme::locator(scheme) {
                Locator::Header(_) => headers = true,
                locator if locator.matches(parts, token) && !found.note(index) => {
                    return Found::Several;
                }
                _ => {}
            }
        }
        // Header locators: one pass over the request's few header names, cheaper than hashing
        // every locator's name into the map.
        if headers {
            for name in parts.headers.keys() {
                for &index in candidates {
                    let Some(scheme) = self.list.get(index) else {
                        continue;
                    };
                    if matches!(Scheme::locator(scheme), Locator::Header(h) if h == name)
                        && !found.note(index)
                    {
                        return Found::Several;
                    }
                }
            }
        }
        found
    }
}

/// What [`Schemes::locate`] found.
enum Found {
    Nothing,
    One(usize),
    /// Two different schemes' credentials: an ambiguity.
    Several,
}

impl Found {
    /// Notes that the scheme at `index` found its credentials: `false` when another had.
    fn note(&mut self, index: usize) -> bool {
        match *self {
            Self::One(other) if other != index => false,
            _ => {
                *self = Self::One(index);
                true
            }
        }
    }
}

impl Default for Schemes {
    fn default() -> Self {
        Self::v1()
    }
}

impl fmt::Debug for Schemes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

/// A route rule of the layer ([`HmacAuthBuilder::reserve`](crate::server::HmacAuthBuilder::reserve)):
/// the requests a predicate picks, and the schemes reserved for them.
pub(crate) type RoutePredicate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// Which schemes are looked for in a request: those of the first route rule that picks it, or
/// every scheme no rule reserves.
#[derive(Clone, Default)]
pub(crate) struct Routing {
    rules: Vec<(RoutePredicate, Box<[usize]>)>,
    rest: Box<[usize]>,
}

impl Routing {
    /// The routing of `schemes` under `rules` (scheme ids, then the predicate), or the first id
    /// not in the set.
    pub(crate) fn new(
        schemes: &Schemes,
        rules: Vec<(Vec<String>, RoutePredicate)>,
    ) -> Result<Self, ConfigError> {
        let mut reserved = vec![false; schemes.len()];
        let mut resolved = Vec::with_capacity(rules.len());
        for (ids, predicate) in rules {
            let mut indices = Vec::with_capacity(ids.len());
            for id in ids {
                let index = schemes
                    .index_of(&id)
                    .ok_or_else(|| ConfigError::UnknownScheme {
                        id: id.chars().take(64).collect(),
                    })?;
                reserved[index] = true;
                indices.push(index);
            }
            resolved.push((predicate, indices.into_boxed_slice()));
        }
        let rest = (0..schemes.len()).filter(|&i| !reserved[i]).collect();
        Ok(Self {
            rules: resolved,
            rest,
        })
    }

    /// The indices of the schemes looked for in `parts`.
    pub(crate) fn candidates(&self, parts: &Parts) -> &[usize] {
        self.rules
            .iter()
            .find(|(picks, _)| picks(parts))
            .map_or(&self.rest, |(_, indices)| indices)
    }
}

impl fmt::Debug for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routing")
            .field(
                "rules",
                &self.rules.iter().map(|(_, i)| i).collect::<Vec<_>>(),
            )
            .field("rest", &self.rest)
            .finish()
    }
}

/// `missing_authorization` or `unsupported_scheme`, when no enabled scheme finds its credentials.
fn none_found(parts: &Parts) -> Rejection {
    if parts.headers.contains_key(AUTHORIZATION) {
        Rejection::new(RejectionKind::UnsupportedScheme)
    } else {
        Rejection::new(RejectionKind::MissingAuthorization)
    }
}

#[cfg(test)]
mod tests {
    use tower_hmac_core::test_util::request_head as head;

    use super::*;

    #[test]
    fn v1_is_held_unboxed_and_a_set_has_no_size_limit() {
        assert!(matches!(Entry::of(V1), Entry::V1(_)));
        let mut set = Schemes::empty();
        for _ in 0..20 {
            set.push(V1);
        }
        assert_eq!(set.len(), 20);
        assert!(matches!(
            set.check(),
            Err(ConfigError::DuplicateScheme { id: "v1" })
        ));
        assert!(matches!(
            Schemes::empty().check(),
            Err(ConfigError::NoScheme)
        ));
        assert!(Schemes::v1().check().is_ok());
    }

    #[test]
    fn a_bearer_token_is_no_scheme_s_credentials() {
        let v1 = Schemes::v1();
        for value in ["Bearer abc", "bearer abc", "Bearer"] {
            assert!(!v1.claims(&head(&[("authorization", value)], "/"), &[0]));
        }
        assert!(!v1.claims(&head(&[], "/"), &[0]));
        assert!(!v1.claims(&head(&[("signature", "x")], "/?X-Amz-Signature=1"), &[0]));
        let signed = head(&[("authorization", "HMAC-SHA256 Credential=k")], "/");
        assert!(v1.claims(&signed, &[0]));
        // Only the candidates are looked for.
        assert!(!v1.claims(&signed, &[]));
    }

    #[cfg(feature = "kong")]
    #[test]
    fn a_scheme_s_credentials_beside_a_bearer_token_are_claimed_and_two_schemes_too() {
        let set = Schemes::v1().with(tower_hmac_core::gateway::Kong::new());
        let kong = (
            "proxy-authorization",
            "hmac username=\"u\", signature=\"AA\"",
        );
        let bearer = ("authorization", "Bearer abc");
        assert!(set.claims(&head(&[bearer, kong], "/"), &[0, 1]));
        assert!(!set.claims(&head(&[bearer, kong], "/"), &[0]));
        // Protocol v1's and Kong's credentials: ambiguous, which is a claim too.
        let v1 = ("authorization", "HMAC-SHA256 Credential=k");
        assert!(set.claims(&head(&[v1, kong], "/"), &[0, 1]));
    }
}
