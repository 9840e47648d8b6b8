//! The request body: read within the limits as it arrives, and handed to the inner service.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tower_hmac_core::{Rejection, RejectionKind};

/// The request body handed to the inner service: exactly the bytes the client sent, read and
/// hashed by the layer, held once in the chunks they arrived in. A signed request with trailers is
/// refused (`trailers_not_allowed`), so there are none.
#[derive(Default)]
pub struct VerifiedBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl VerifiedBody {
    /// A body of these bytes.
    pub fn from_bytes(bytes: Bytes) -> Self {
        let mut body = Self::default();
        body.push(bytes);
        body
    }

    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.remaining += chunk.len() as u64;
            self.chunks.push_back(chunk);
        }
    }

    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    /// Whether the body has no bytes left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl fmt::Debug for VerifiedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedBody")
            .field("len", &self.remaining)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl Body for VerifiedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(chunk) = this.chunks.pop_front() {
            this.remaining -= chunk.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// An error a body may fail with.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

pub(super) fn too_large() -> Rejection {
    Rejection::new(RejectionKind::BodyTooLarge)
}

/// Reads a body's data frames as they arrive, handing each chunk to `on_chunk`: ready with
/// `Ok` at its end, or with the first refusal — `on_chunk`'s, `body_too_large` past `limit`
/// bytes read (counted in `read`), `body_unreadable`, `trailers_not_allowed` (no signature
/// covers trailers, and the inner service's body has none), or `body_timeout` once `timer` has
/// fired while the body waits.
pub(crate) fn poll_body<B>(
    mut body: Pin<&mut B>,
    cx: &mut Context<'_>,
    timer: Option<Pin<&mut tokio::time::Sleep>>,
    read: &mut u64,
    limit: u64,
    mut on_chunk: impl FnMut(bytes::Bytes) -> Result<(), Rejection>,
) -> Poll<Result<(), Rejection>>
where
    B: Body,
    B::Error: Into<BodyError>,
{
    loop {
        match body.as_mut().poll_frame(cx) {
            Poll::Pending => {
                let expired = timer.is_some_and(|t| t.poll(cx).is_ready());
                return if expired {
                    Poll::Ready(Err(Rejection::new(RejectionKind::BodyTimeout)))
                } else {
                    Poll::Pending
                };
            }
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Ready(Some(Err(e))) => {
                return Poll::Ready(Err(
                    Rejection::new(RejectionKind::BodyUnreadable).with_source(e)
                ));
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let chunk = data.copy_to_bytes(data.remaining());
                    *read += chunk.len() as u64;
                    if *read > limit {
                        return Poll::Ready(Err(too_large()));
                    }
                    if let Err(rejection) = on_chunk(chunk) {
                        return Poll::Ready(Err(rejection));
                    }
                }
                Err(frame) if frame.is_trailers() => {
                    return Poll::Ready(Err(Rejection::new(RejectionKind::TrailersNotAllowed)));
                }
                Err(_) => {}
            },
        }
    }
}
