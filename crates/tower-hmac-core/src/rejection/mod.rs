//! Why a request was rejected.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod hint;
mod kind;

pub use hint::{Diagnostics, TimeHint};
pub use kind::RejectionKind;

/// A rejected request: what went wrong, with what a response needs to say so.
///
/// It never holds a secret, a signature or a request value, so it is safe to log and to put in the
/// response's extensions.
#[derive(Clone)]
pub struct Rejection {
    // Boxed: a rejection is made only on the failure path, and `Result<_, Rejection>` stays small.
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: RejectionKind,
    detail: Option<Cow<'static, str>>,
    time_hint: Option<TimeHint>,
    retry_after: Option<Duration>,
    scheme: Option<&'static str>,
    line_digests: Option<Arc<[[u8; 8]]>>,
    string_to_sign: Option<Arc<str>>,
    /// The signed text in clear, with [`Diagnostics::Clear`] only.
    clear_text: Option<Arc<str>>,
    /// The scheme's signed text, withheld: never sent, never printed; turned into keyed digests
    /// by [`Rejection::keyed_diagnostics`].
    signed_text: Option<Arc<[u8]>>,
    required_scope: Option<Arc<str>>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl Rejection {
    /// A rejection of this kind.
    pub fn new(kind: RejectionKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                detail: None,
                time_hint: None,
                retry_after: None,
                scheme: None,
                line_digests: None,
                string_to_sign: None,
                clear_text: None,
                signed_text: None,
                required_scope: None,
                source: None,
            }),
        }
    }

    /// With an explanation, sent as the problem body's `detail`. It must never hold a secret or a
    /// signature; the layer puts request values in it only where the code needs them to be
    /// understood (the host of `host_not_allowed`).
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Self {
        self.inner.detail = Some(detail.into());
        self
    }

    /// With the server's time (for `stale_timestamp`).
    pub fn with_time_hint(mut self, hint: TimeHint) -> Self {
        self.inner.time_hint = Some(hint);
        self
    }

    /// With a `Retry-After` hint (for the `503` kinds).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner.retry_after = Some(after);
        self
    }

    /// With the underlying error (a store's failure); it is logged, never sent.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.inner.source = Some(Arc::from(source.into()));
        self
    }

    /// With the name of the scheme whose challenge the response carries (`WWW-Authenticate`).
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.inner.scheme = Some(scheme);
        self
    }

    /// With the digests of the server's string to sign, one per line (see
    /// [`line_digests`](crate::canonical::line_digests)), for `invalid_signature`.
    pub fn with_line_digests(mut self, digests: Vec<[u8; 8]>) -> Self {
        self.inner.line_digests = Some(digests.into());
        self
    }

    /// Drops the string-to-sign digests and the string to sign (a server that does not send
    /// them).
    pub fn without_line_digests(mut self) -> Self {
        self.inner.line_digests = None;
        self.inner.string_to_sign = None;
        self.inner.clear_text = None;
        self.inner.signed_text = None;
        self
    }

    /// With the scheme's signed text — what its MAC covered, line by line — for
    /// `invalid_signature`. It is withheld: never serialized, never in `Debug`. The layer turns
    /// it into digests keyed with the key being verified ([`keyed_diagnostics`](Self::keyed_diagnostics)),
    /// so that only a holder of the key can compare them with its own lines.
    pub fn with_signed_text(mut self, text: impl Into<Arc<[u8]>>) -> Self {
        self.inner.signed_text = Some(text.into());
        self
    }

    /// The diagnostics an answer may carry, made from the withheld signed text with `key` (the
    /// key being verified: the decoy for an unknown or revoked key id, so that such an answer
    /// looks like any other): per `mode`, keyed line digests, nothing, or — only with
    /// [`Diagnostics::Clear`], unsafe outside development — the text itself. Whatever the mode,
    /// the withheld text is dropped, and a string to sign a scheme set is sent only in clear
    /// mode.
    pub fn keyed_diagnostics(mut self, key: &crate::SecretKey, mode: Diagnostics) -> Self {
        let text = self.inner.signed_text.take();
        let inner = &mut *self.inner;
        match mode {
            Diagnostics::Off => {
                inner.line_digests = None;
                inner.string_to_sign = None;
                inner.clear_text = None;
            }
            Diagnostics::Keyed | Diagnostics::Clear => {
                if let Some(text) = &text {
                    inner.line_digests = Some(crate::canonical::line_digests(key, text).into());
                }
                if mode == Diagnostics::Keyed {
                    inner.string_to_sign = None;
                    inner.clear_text = None;
                } else if let Some(text) = text {
                    inner.clear_text = Some(String::from_utf8_lossy(&text).into());
                }
            }
        }
        self
    }

    /// The scheme's signed text in clear — what its MAC covered (SigV4's canonical request, v1's
    /// string to sign, RFC 9421's signature base): set only by
    /// [`keyed_diagnostics`](Self::keyed_diagnostics) in [`Diagnostics::Clear`] mode. What a
    /// scheme's clients call it is the responder's business (S3's `<CanonicalRequest>`).
    pub fn signed_text_in_clear(&self) -> Option<&str> {
        self.inner.clear_text.as_deref()
    }

    /// With the server's string to sign, for a scheme whose MAC covers a digest of its signed text
    /// rather than the text (SigV4: the string to sign holds the canonical request's hash): only
    /// hashes, dates and the scope, never a secret. Sent only in [`Diagnostics::Clear`] mode.
    pub fn with_string_to_sign(mut self, sts: impl Into<Arc<str>>) -> Self {
        self.inner.string_to_sign = Some(sts.into());
        self
    }

    /// With the scope a route requires and the caller lacks (`insufficient_scope`).
    pub fn with_required_scope(mut self, scope: impl Into<Arc<str>>) -> Self {
        self.inner.required_scope = Some(scope.into());
        self
    }

    /// The scope the caller lacks (`insufficient_scope`).
    pub fn required_scope(&self) -> Option<&str> {
        self.inner.required_scope.as_deref()
    }

    /// The server's string to sign in clear ([`Diagnostics::Clear`] only): the one the scheme
    /// gave ([`with_string_to_sign`](Self::with_string_to_sign)), else its signed text.
    pub fn string_to_sign(&self) -> Option<&str> {
        self.inner
            .string_to_sign
            .as_deref()
            .or(self.inner.clear_text.as_deref())
    }

    /// The digests of the server's string to sign, one per line, when it sends them.
    pub fn line_digests(&self) -> Option<&[[u8; 8]]> {
        self.inner.line_digests.as_deref()
    }

    /// The scheme to challenge with, when the server set it.
    pub fn scheme(&self) -> Option<&'static str> {
        self.inner.scheme
    }

    /// What went wrong.
    pub fn kind(&self) -> RejectionKind {
        self.inner.kind
    }

    /// The stable code (`kind().code()`).
    pub fn code(&self) -> &'static str {
        self.inner.kind.code()
    }

    /// The HTTP status (`kind().status()`).
    pub fn status(&self) -> http::StatusCode {
        self.inner.kind.status()
    }

    /// The explanation, if any.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// The server's time, for `stale_timestamp`.
    pub fn time_hint(&self) -> Option<&TimeHint> {
        self.inner.time_hint.as_ref()
    }

    /// How long the client should wait before retrying, for the `503` kinds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
}

impl From<RejectionKind> for Rejection {
    fn from(kind: RejectionKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Rejection")
            .field("kind", &inner.kind)
            .field("detail", &inner.detail)
            .field("time_hint", &inner.time_hint)
            .field("retry_after", &inner.retry_after)
            .field("scheme", &inner.scheme)
            .field(
                "line_digests",
                &inner.line_digests.as_ref().map(|d| d.len()),
            )
            .field(
                "string_to_sign",
                &inner.string_to_sign.as_ref().map(|_| "[present]"),
            )
            .field(
                "signed_text",
                &inner.signed_text.as_ref().map(|_| "[withheld]"),
            )
            .field("required_scope", &inner.required_scope)
            .field("source", &inner.source)
            .finish()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request rejected: {}", self.inner.kind.code())?;
        if let Some(detail) = &self.inner.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl StdError for Rejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
