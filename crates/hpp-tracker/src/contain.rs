//! Containing the app's code: a panic in a hand-off is a failed hand-off, never the end of a
//! receiver's connection or of a poller.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `future`, answering `Err(())` if it panics (the panic's message goes to the panic hook,
/// as any panic's does; the caller logs that it happened). What the future held is dropped: a
/// store's step abandoned midway commits nothing.
pub(crate) fn contained<F: Future>(future: F) -> impl Future<Output = Result<F::Output, ()>> {
    CatchUnwind(Box::pin(future))
}

struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}
