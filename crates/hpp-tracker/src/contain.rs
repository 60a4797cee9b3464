//! A budget on the receiver's and the poller's work. (A panic in the app's code is caught with
//! `hpp_runtime::caught`: a failed hand-off, never the end of a receiver's connection or of a
//! poller.)

use std::future::Future;
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
