//! Containing the app's code: a panic in a hand-off is a failed hand-off, never the end of a
//! receiver's connection or of a poller; and a budget on the receiver's and the poller's work.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hpp_core::Timer;

/// Runs `future` for at most `budget` on `clock`: `None` past it (the future is dropped, so a
/// store's step abandoned midway commits nothing). The future is polled first, so one that is
/// done when the budget passes still counts.
pub(crate) async fn within<F: Future>(clock: &impl Timer, budget: Duration, future: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = future => Some(output),
        () = clock.sleep(budget) => None,
    }
}

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
