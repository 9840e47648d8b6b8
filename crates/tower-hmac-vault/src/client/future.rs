//! The response future of [`Delegated`](super::Delegated).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::BoxError;

/// The response future of [`Delegated`](super::Delegated): clear the request, send it, and on
/// `401` refresh and send it once more. Boxed: it awaits the vault (a user-supplied store).
pub struct ResponseFuture<T> {
    inner: Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'static>>,
}

impl<T> ResponseFuture<T> {
    pub(crate) fn new<F>(future: F) -> Self
    where
        F: Future<Output = Result<T, BoxError>> + Send + 'static,
    {
        Self {
            inner: Box::pin(future),
        }
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
