//! A future's panic as a value: [`caught`].

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `future`, answering [`Panicked`] if it panics (the panic's message goes to the panic
/// hook, as any panic's does). What the future held is dropped, as when any future is: a
/// database transaction abandoned midway commits nothing. The future is boxed (a caught
/// future is usually a large one that is not polled in place).
///
/// ```
/// let answer = hpp_runtime::block_on(hpp_runtime::caught(async { 6 * 7 }));
/// assert_eq!(answer, Ok(42));
/// ```
pub fn caught<F: Future>(future: F) -> Caught<F> {
    Caught(Box::pin(future))
}

/// The future [`caught`] returns.
#[must_use = "futures do nothing unless polled"]
pub struct Caught<F>(Pin<Box<F>>);

impl<F> fmt::Debug for Caught<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Caught")
    }
}

/// The future panicked ([`caught`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future panicked")
    }
}

impl std::error::Error for Panicked {}

impl<F: Future> Future for Caught<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}
