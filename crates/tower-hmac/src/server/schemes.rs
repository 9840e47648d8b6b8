//! The set of schemes one layer verifies.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http_body::Body;
use pin_project_lite::pin_project;
use tower_hmac_core::{Locator, Rejection, RejectionKind, Scheme, authorization_token};

use super::body::VerifiedBody;
use super::proxy::Origin;
use super::skip::Passthrough;
use super::verification::{BodyError, SchemeVerification};
use super::verify::{Failure, Verifier};

/// The schemes a layer verifies: a tuple of [`Scheme`]s, `(V1,)` by default.
///
/// For each request the layer picks the one scheme whose credentials the head carries
/// ([`Scheme::locator`]): none → `missing_authorization` (or `unsupported_scheme` when there is
/// an `Authorization` header no enabled scheme reads), two or more → `ambiguous_credentials`.
/// The choice and the checks are static: each scheme's pipeline is compiled for its own types, so
/// enabling more schemes costs the others one locator check each, and nothing is boxed.
///
/// Implemented for tuples of up to eight schemes; add one with
/// [`HmacAuthBuilder::with_scheme`](super::HmacAuthBuilder::with_scheme).
pub trait SchemeSet: Sized + Send + Sync + 'static {
    /// The verification of one request: the selected scheme's pipeline, as a future.
    type Verification<B>: Future<Output = Result<Request<VerifiedBody>, Failure>>
    where
        B: Body,
        B::Error: Into<BodyError>;

    /// The index of the scheme whose credentials `parts` carries.
    fn select(&self, parts: &Parts) -> Result<usize, Rejection>;

    /// The name of the first scheme, for the challenge of a request that names none.
    fn first_name(&self) -> &'static str;

    /// The ids of the schemes, in order.
    fn ids(&self) -> Vec<&'static str>;

    /// Starts verifying a request with the scheme it names.
    fn verification<B>(
        verifier: &Arc<Verifier<Self>>,
        parts: Parts,
        body: B,
        origin: &Origin,
    ) -> Self::Verification<B>
    where
        B: Body,
        B::Error: Into<BodyError>;
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
    ($verification:ident, $proj:ident; $($name:ident . $idx:tt => $variant:ident),+) => {
        pin_project! {
            /// The verification future of a set of schemes: the selected scheme's, or the
            /// refusal of a request that names none, or several.
            // Opaque states of a future: their fields are not an API (and `pin_project_lite`
            // takes no doc comments on them).
            #[allow(missing_docs)]
            #[project = $proj]
            pub enum $verification<Set, Bd, $($name),+>
            where
                $($name: Scheme,)+
            {
                /// No scheme, or several, claimed the request.
                Refused {
                    failure: Option<Failure>,
                },
                /// Skipped (`HmacAuthBuilder::skip`): the body is read and handed on.
                Skipped {
                    #[pin]
                    read: Passthrough<Bd>,
                },
                $(
                    /// Verifying with this scheme.
                    $variant {
                        #[pin]
                        inner: SchemeVerification<Set, $name, Bd>,
                    },
                )+
            }
        }

        impl<Set, Bd, $($name),+> Future for $verification<Set, Bd, $($name),+>
        where
            Set: Send + Sync + 'static,
            $($name: Scheme,)+
            Bd: Body,
            Bd::Error: Into<BodyError>,
        {
            type Output = Result<Request<VerifiedBody>, Failure>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                match self.project() {
                    $proj::Refused { failure } => match failure.take() {
                        Some(failure) => Poll::Ready(Err(failure)),
                        None => Poll::Pending,
                    },
                    $proj::Skipped { read } => read.poll(cx),
                    $($proj::$variant { inner } => inner.poll(cx),)+
                }
            }
        }

        impl<Set, Bd, $($name: Scheme),+> fmt::Debug for $verification<Set, Bd, $($name),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($verification)).finish_non_exhaustive()
            }
        }

        impl<$($name: Scheme),+> SchemeSet for ($($name,)+) {
            type Verification<Bd> = $verification<Self, Bd, $($name),+>
            where
                Bd: Body,
                Bd::Error: Into<BodyError>;

            fn select(&self, parts: &Parts) -> Result<usize, Rejection> {
                let token = authorization_token(parts);
                let locators = [$(self.$idx.locator()),+];
                let mut found = None;
                let mut headers = false;
                for (index, locator) in locators.iter().enumerate() {
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
                        for (index, locator) in locators.iter().enumerate() {
                            if matches!(locator, Locator::Header(h) if h == name) {
                                claim(&mut found, index)?;
                            }
                        }
                    }
                }
                found.ok_or_else(|| none_found(parts))
            }

            fn first_name(&self) -> &'static str {
                self.0.name()
            }

            fn ids(&self) -> Vec<&'static str> {
                vec![$(self.$idx.id()),+]
            }

            fn verification<Bd>(
                verifier: &Arc<Verifier<Self>>,
                mut parts: Parts,
                body: Bd,
                origin: &Origin,
            ) -> Self::Verification<Bd>
            where
                Bd: Body,
                Bd::Error: Into<BodyError>,
            {
                let refused = |rejection: Rejection| $verification::Refused {
                    failure: Some(Failure::from_rejection(
                        rejection.with_scheme(verifier.schemes.first_name()),
                    )),
                };
                if verifier.settings.skip.as_ref().is_some_and(|skip| skip(&parts)) {
                    return $verification::Skipped {
                        read: Passthrough::new(
                            parts,
                            body,
                            verifier.settings.body_limit,
                            verifier.settings.body_timeout,
                        ),
                    };
                }
                if let Err(failure) = verifier.admit(&mut parts, origin) {
                    return $verification::Refused {
                        failure: Some(Failure {
                            rejection: failure.rejection.with_scheme(verifier.schemes.first_name()),
                            ..failure
                        }),
                    };
                }
                let index = match verifier.schemes.select(&parts) {
                    Ok(index) => index,
                    Err(rejection) => return refused(rejection),
                };
                $(
                    if index == $idx {
                        return $verification::$variant {
                            inner: SchemeVerification::new(
                                Arc::clone(verifier),
                                |set: &Self| &set.$idx,
                                parts,
                                body,
                                origin.client,
                            ),
                        };
                    }
                )+
                // `select` only returns indices of the set.
                refused(none_found(&parts))
            }
        }
    };
}

scheme_set!(Verification1, Verification1Proj; A.0 => S0);
scheme_set!(Verification2, Verification2Proj; A.0 => S0, B.1 => S1);
scheme_set!(Verification3, Verification3Proj; A.0 => S0, B.1 => S1, C.2 => S2);
scheme_set!(Verification4, Verification4Proj; A.0 => S0, B.1 => S1, C.2 => S2, D.3 => S3);
scheme_set!(Verification5, Verification5Proj; A.0 => S0, B.1 => S1, C.2 => S2, D.3 => S3, E.4 => S4);
scheme_set!(Verification6, Verification6Proj; A.0 => S0, B.1 => S1, C.2 => S2, D.3 => S3, E.4 => S4, F.5 => S5);
scheme_set!(Verification7, Verification7Proj; A.0 => S0, B.1 => S1, C.2 => S2, D.3 => S3, E.4 => S4, F.5 => S5, G.6 => S6);
scheme_set!(Verification8, Verification8Proj; A.0 => S0, B.1 => S1, C.2 => S2, D.3 => S3, E.4 => S4, F.5 => S5, G.6 => S6, H.7 => S7);

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
