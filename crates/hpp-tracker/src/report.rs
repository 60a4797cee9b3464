//! What the receiver and the poller log when the app's hand-off fails: enough for an operator
//! to find the session (`kustom-hpp tracking list --reference REF`) and tell one failure from
//! another (the kind the app gave, `HandOffError`), never the session's id nor the error's
//! text (which may hold personal data: the app logs its own errors).

use std::error::Error as StdError;

use hpp_core::tracking::{HandOffError, TrackingStore};

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
    match store.get(session_id).await {
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
