//! The set of schemes one layer verifies.

use std::future::Future;

use http::Request;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http_body::Body;
use tower_hmac_core::{Locator, Rejection, RejectionKind, Scheme, authorization_token};

use super::body::VerifiedBody;
use super::verify::{Failure, Verifier};

/// The schemes a layer verifies: a tuple of [`Scheme`]s, `(V1,)` by default.
///
/// For each request the layer picks the one scheme whose credentials the head carries
/// ([`Scheme::locator`]): none → `missing_authorization` (or `unsupported_scheme` when there is
/// an `Authorization` header no enabled scheme reads), two or more → `ambiguous_credentials`.
/// The choice and the checks are static: each scheme's pipeline is compiled for its own types, so
/// enabling more schemes costs the others one locator check each.
///
/// Implemented for tuples of up to eight schemes; add one with
/// [`HmacAuthBuilder::with_scheme`](super::HmacAuthBuilder::with_scheme).
pub trait SchemeSet: Send + Sync + 'static {
    /// The index of the scheme whose credentials `parts` carries.
    fn select(&self, parts: &Parts) -> Result<usize, Rejection>;

    /// The name of the first scheme, for the challenge of a request that names none.
    fn first_name(&self) -> &'static str;

    /// The ids of the schemes, in order.
    fn ids(&self) -> Vec<&'static str>;

    /// Runs the checks of the scheme at `index`.
    fn verify<'a, B>(
        &'a self,
        index: usize,
        verifier: &'a Verifier<Self>,
        parts: Parts,
        body: B,
    ) -> impl Future<Output = Result<Request<VerifiedBody>, Failure>> + Send + 'a
    where
        Self: Sized,
        B: Body + Send + 'a,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>;
}

/// Adds a scheme to a set (a tuple one longer).
pub trait Push<T> {
    /// The set with `T` at its end.
    type Output;
    /// Adds `scheme`.
    fn push(self, scheme: T) -> Self::Output;
}

/// `missing_authorization` or `unsupported_scheme`, when no enabled scheme finds its credentials.
fn none_found(parts: &Parts) -> Rejection {
    if parts.headers.contains_key(AUTHORIZATION) {
        Rejection::new(RejectionKind::UnsupportedScheme)
    } else {
        Rejection::new(RejectionKind::MissingAuthorization)
    }
}

fn ambiguous() -> Rejection {
    Rejection::new(RejectionKind::AmbiguousCredentials)
        .with_detail("the request carries credentials for more than one scheme: send one")
}

/// The scheme found so far; a second, different one is an ambiguity.
fn claim(found: &mut Option<usize>, index: usize) -> Result<(), Rejection> {
    match *found {
        Some(other) if other != index => Err(ambiguous()),
        _ => {
            *found = Some(index);
            Ok(())
        }
    }
}

macro_rules! scheme_set {
    ($first:ident . $first_idx:tt $(, $name:ident . $idx:tt)*) => {
        impl<$first: Scheme $(, $name: Scheme)*> SchemeSet for ($first, $($name,)*) {
            fn select(&self, parts: &Parts) -> Result<usize, Rejection> {
                let token = authorization_token(parts);
                let mut found = None;
                let mut headers = false;
                for (index, locator) in [self.$first_idx.locator() $(, self.$idx.locator())*]
                    .into_iter()
                    .enumerate()
                {
                    if matches!(locator, Locator::Header(_)) {
                        headers = true;
                    } else if locator.matches(parts, token) {
                        claim(&mut found, index)?;
                    }
                }
                // Header locators: one pass over the request's few header names, cheaper than
                // hashing every locator's name into the map.
                if headers {
                    for name in parts.headers.keys() {
                        for (index, locator) in
                            [self.$first_idx.locator() $(, self.$idx.locator())*]
                                .into_iter()
                                .enumerate()
                        {
                            if matches!(locator, Locator::Header(h) if h == name) {
                                claim(&mut found, index)?;
                            }
                        }
                    }
                }
                found.ok_or_else(|| none_found(parts))
            }

            fn first_name(&self) -> &'static str {
                self.$first_idx.name()
            }

            fn ids(&self) -> Vec<&'static str> {
                vec![self.$first_idx.id() $(, self.$idx.id())*]
            }

            #[allow(clippy::manual_async_fn)] // the `Send` bound needs the explicit form
            fn verify<'a, Bd>(
                &'a self,
                index: usize,
                verifier: &'a Verifier<Self>,
                parts: Parts,
                body: Bd,
            ) -> impl Future<Output = Result<Request<VerifiedBody>, Failure>> + Send + 'a
            where
                Bd: Body + Send + 'a,
                Bd::Data: Send,
                Bd::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
            {
                async move {
                    if index == $first_idx {
                        return verifier.verify_with(&self.$first_idx, parts, body).await;
                    }
                    $(
                        if index == $idx {
                            return verifier.verify_with(&self.$idx, parts, body).await;
                        }
                    )*
                    // `select` only returns indices of the set.
                    Err(Failure::from_rejection(none_found(&parts)))
                }
            }
        }
    };
}

scheme_set!(A.0);
scheme_set!(A.0, B.1);
scheme_set!(A.0, B.1, C.2);
scheme_set!(A.0, B.1, C.2, D.3);
scheme_set!(A.0, B.1, C.2, D.3, E.4);
scheme_set!(A.0, B.1, C.2, D.3, E.4, F.5);
scheme_set!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
scheme_set!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);

macro_rules! push {
    ($($name:ident . $idx:tt),*) => {
        impl<$($name,)* T> Push<T> for ($($name,)*) {
            type Output = ($($name,)* T,);
            fn push(self, scheme: T) -> Self::Output {
                ($(self.$idx,)* scheme,)
            }
        }
    };
}

push!(A.0);
push!(A.0, B.1);
push!(A.0, B.1, C.2);
push!(A.0, B.1, C.2, D.3);
push!(A.0, B.1, C.2, D.3, E.4);
push!(A.0, B.1, C.2, D.3, E.4, F.5);
push!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
