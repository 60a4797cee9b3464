//! What the receiver and the poller report: logs and metrics, in one place.
//!
//! Logs: when the app's hand-off fails, enough for an operator to find the session (`kustom-hpp
//! tracking list --reference REF`) and tell one failure from another (the kind the app gave,
//! `HandOffError`), never the session's id nor the error's text (which may hold personal data:
//! the app logs its own errors).
//!
//! Metrics, through the `metrics` facade (the app installs the exporter): the crate
//! documentation's table. Labels carry no ids and no customer data.

use std::error::Error as StdError;

use std::time::{Duration, SystemTime};

use hpp_core::tracking::{Counts, FinalStatus, HandOffError, TrackingStore};

/// Logs a failed hand-off of `session_id` by `by` (`callback` or `poller`): at error once the
/// session is parked (nothing more is tried until someone retries it), at warn while it is
/// retried on its own.
pub(crate) async fn hand_off_failed<S: TrackingStore>(
    store: &S,
    session_id: &str,
    error: &(dyn StdError + Send + Sync + 'static),
    by: &'static str,
) {
    // The kind before the first await: the future holds no reference to the error.
    let kind = HandOffError::kind_of(error).to_owned();
    let kind = kind.as_str();
    let state = store.get(session_id).await;
    let parked = matches!(&state, Ok(Some(state)) if state.is_parked());
    let outcome = if parked { "parked" } else { "failed" };
    metrics::counter!(HAND_OFFS, "by" => by, "outcome" => outcome, "error_kind" => kind.to_owned()).increment(1);
    match state {
        Ok(Some(state)) if state.is_parked() => tracing::error!(
            by,
            kind,
            reference = %state.reference(),
            failures = state.failures(),
            "hpp hand-off failed and is parked: nothing more is tried until `kustom-hpp tracking retry REFERENCE` \
             (or Input::Unpark)"
        ),
        Ok(Some(state)) => tracing::warn!(
            by,
            kind,
            reference = %state.reference(),
            failures = state.failures(),
            "hpp hand-off failed; it is retried"
        ),
        // Not tracked (a failed event of a session never tracked), or the store unreachable.
        _ => tracing::warn!(by, kind, "hpp hand-off failed; it is retried"),
    }
}

/// `hpp_tracker_hand_offs_total`.
const HAND_OFFS: &str = "hpp_tracker_hand_offs_total";

/// A final status handed to the app by `by`.
pub(crate) fn handed_off(by: &'static str, status: FinalStatus) {
    metrics::counter!(HAND_OFFS, "by" => by, "outcome" => "handed_off", "status" => status.as_str()).increment(1);
}

/// A callback answered with `receipt` after `elapsed`.
pub(crate) fn callback_answered(receipt: &'static str, elapsed: Duration) {
    metrics::counter!("hpp_tracker_callbacks_total", "receipt" => receipt).increment(1);
    metrics::histogram!("hpp_tracker_step_seconds", "by" => "callback").record(elapsed.as_secs_f64());
}

/// A poller's step (its read and the store's work) that took `elapsed`.
pub(crate) fn poller_step(elapsed: Duration) {
    metrics::histogram!("hpp_tracker_step_seconds", "by" => "poller").record(elapsed.as_secs_f64());
}

/// A poller's read of a session, by outcome: `ok`, `not_found`, `rate_limited` or `failed`.
pub(crate) fn read(outcome: &'static str) {
    metrics::counter!("hpp_tracker_reads_total", "outcome" => outcome).increment(1);
}

/// Rows deleted past the retention.
pub(crate) fn pruned(rows: u64) {
    metrics::counter!("hpp_tracker_pruned_total").increment(rows);
}

/// The store's sessions at `now`, as gauges.
pub(crate) fn counts(counts: &Counts, now: SystemTime) {
    for (standing, count) in [
        ("waiting", counts.waiting),
        ("hand_off_due", counts.hand_off_due),
        ("parked", counts.parked),
        ("handed_off", counts.handed_off),
    ] {
        metrics::gauge!("hpp_tracker_sessions", "standing" => standing).set(count as f64);
    }
    metrics::gauge!("hpp_tracker_sessions_due").set(counts.due as f64);
    let oldest =
        counts.oldest_pending_since.map_or(0.0, |since| now.duration_since(since).unwrap_or_default().as_secs_f64());
    metrics::gauge!("hpp_tracker_oldest_pending_seconds").set(oldest);
}
