//! Request and response bodies of the verifying service.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
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

    fn push(&mut self, chunk: Bytes) {
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

/// Reads `body` up to `limit` bytes, handing each chunk to `on_chunk` as it arrives (the scheme
/// hashes it). Beyond the limit it stops after the chunk that crossed it (or before reading, when
/// the declared length already exceeds it).
pub(crate) async fn read_body<B>(
    body: B,
    limit: u64,
    mut on_chunk: impl FnMut(&[u8]),
) -> Result<VerifiedBody, Rejection>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.size_hint().lower() > limit {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut out = VerifiedBody::default();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Rejection::new(RejectionKind::BodyUnreadable).with_source(e))?;
        match frame.into_data() {
            Ok(mut data) => {
                let chunk = data.copy_to_bytes(data.remaining());
                if out.len() + chunk.len() as u64 > limit {
                    return Err(too_large());
                }
                on_chunk(&chunk);
                out.push(chunk);
            }
            Err(frame) => {
                if frame.is_trailers() {
                    // No signature covers trailers: the inner service would read unsigned fields.
                    return Err(Rejection::new(RejectionKind::TrailersNotAllowed));
                }
            }
        }
    }
    Ok(out)
}

fn too_large() -> Rejection {
    Rejection::new(RejectionKind::BodyTooLarge)
}

pin_project! {
    /// The response body of the verifying service: the inner service's, or a rejection's.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { body: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn rejection(body: Bytes) -> Self {
        Self {
            kind: Kind::Rejection {
                body: (!body.is_empty()).then_some(body),
            },
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner { .. } => f.write_str("ResponseBody::Inner"),
            Kind::Rejection { .. } => f.write_str("ResponseBody::Rejection"),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { body } => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { body } => body.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { body } => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use tower_hmac_core::{BodyHasher, body_sha256};

    async fn read_and_hash<B>(body: B, limit: u64) -> Result<(VerifiedBody, [u8; 32]), Rejection>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut hasher = BodyHasher::new();
        let body = read_body(body, limit, |chunk| hasher.update(chunk)).await?;
        Ok((body, hasher.finish()))
    }

    /// A body that arrives in chunks and does not declare its length.
    struct Chunked(VecDeque<Bytes>);

    impl Body for Chunked {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.get_mut().0.pop_front().map(|c| Ok(Frame::data(c))))
        }
    }

    fn stream(chunks: Vec<&'static [u8]>) -> Chunked {
        Chunked(chunks.into_iter().map(Bytes::from_static).collect())
    }

    #[tokio::test]
    async fn reads_and_hashes_chunks_unchanged() {
        let (body, hash) = read_and_hash(stream(vec![b"hello ", b"", b"world"]), 100)
            .await
            .unwrap();
        assert_eq!(hash, body_sha256(b"hello world"));
        assert_eq!(body.len(), 11);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello world");
    }

    #[tokio::test]
    async fn refuses_a_declared_length_over_the_limit_without_reading() {
        let err = read_and_hash(Full::new(Bytes::from_static(b"12345")), 4)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::BodyTooLarge);
    }

    #[tokio::test]
    async fn refuses_a_streamed_body_over_the_limit() {
        let err = read_and_hash(stream(vec![b"123", b"456"]), 5)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::BodyTooLarge);
    }

    #[tokio::test]
    async fn accepts_a_body_exactly_at_the_limit() {
        let (body, _) = read_and_hash(stream(vec![b"123", b"45"]), 5).await.unwrap();
        assert_eq!(body.len(), 5);
    }
}
