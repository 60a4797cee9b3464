//! `session watch`: each status change until the session is final, and the exit code that
//! says whether it was paid.

use std::process::ExitCode;
use std::time::Duration;

use hpp_core::{Client, SessionStatus, WatchOptions, WatchOutcome};

use crate::MAX_WATCH_BACKOFF;
use crate::api::{Call, api_failure};
use crate::output::{Failure, Output};

/// Exit code of `session watch` when its timeout passes first.
pub(crate) const EXIT_WATCH_TIMEOUT: u8 = 8;

pub(crate) async fn watch(
    client: &Client,
    session: &str,
    interval: Duration,
    deadline: Option<Duration>,
    output: &Output,
) -> ExitCode {
    // Back off to eight times the interval, to 30 s at most, but never below the interval itself.
    let max_interval = interval.saturating_mul(8).min(MAX_WATCH_BACKOFF).max(interval);
    let mut options = WatchOptions::default().with_interval(interval, max_interval);
    if let Some(deadline) = deadline {
        options = options.with_deadline(deadline);
    }
    match client.wait_for_final_status(session, &options, |s| output.status_change(s)).await {
        Ok(WatchOutcome::Final(session)) => {
            let exit = watch_exit_code(session.status.as_ref());
            output.watch_ended(Some(&session), "final", exit);
            ExitCode::from(exit)
        }
        Ok(WatchOutcome::Expired(last)) => {
            output.watch_ended(last.as_ref(), "expired", EXIT_WATCH_EXPIRED);
            ExitCode::from(EXIT_WATCH_EXPIRED)
        }
        Ok(WatchOutcome::DeadlinePassed(last)) => {
            let status = last.and_then(|s| s.status).map_or_else(|| "unknown".to_owned(), |s| s.to_string());
            let message = format!("the session was still {status} when --timeout passed");
            output.failure(&Failure::timeout(&message, EXIT_WATCH_TIMEOUT))
        }
        Err(error) => output.failure(&api_failure(&error, &client.config().base_url().to_string(), Call::Read)),
        Ok(_) => output.failure(&Failure::usage("unexpected watch outcome")),
    }
}

/// Exit code of `session watch` when the session expired before reaching a final status.
pub(crate) const EXIT_WATCH_EXPIRED: u8 = 13;

/// `session watch`'s exit code for a final status: 0 only for a completed payment, so that a
/// script's `watch && ship` never ships an unpaid order.
pub(crate) fn watch_exit_code(status: Option<&SessionStatus>) -> u8 {
    match status {
        Some(SessionStatus::Completed) => 0,
        Some(SessionStatus::Cancelled) => 10,
        Some(SessionStatus::Disabled) => 11,
        Some(SessionStatus::Timeout) => 12,
        // Final by the core's rule but none of the above (a future status): not a payment.
        _ => 14,
    }
}
