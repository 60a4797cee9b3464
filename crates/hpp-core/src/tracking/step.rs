//! [`Step`]: one step of one session, decided here for every store. A store loads and locks,
//! runs the app's work it is told to run, and writes what it is told to write; nothing else.
//!
//! ```text
//!  input (callback, read, tick, track)
//!    │  store: load the session's state (locked) and whether the event was applied
//!    ▼
//!  Step::decide ──► Err(Applied): nothing to run or write (duplicate, unknown, already tracked)
//!    │ Ok(step)
//!    ▼
//!  store: step.run_app(hand_off, &mut tx)    (on_event, then the hand-off; inside the unit of work)
//!    ▼
//!  step.commit(result) ──► Commit: the state to write (or none: roll back), the event to record,
//!    │                     whether the app's work stays, whether the claim ends, the outcome
//!    ▼
//!  store: write and commit, answer the outcome
//! ```

use std::error::Error as StdError;
use std::time::SystemTime;

use super::store::{Applied, Finished, HandOff, HandOffError, Input, Received, StoreError, TrackingStore};
use super::{FinalStatus, TrackedSession, TrackingPolicy};
use crate::callback::StatusCallback;

/// One step of the tracking rules on a loaded session, between [`decide`](Self::decide) and
/// [`commit`](Self::commit): what the app must run, and then what the store writes.
#[derive(Debug)]
pub struct Step<'a> {
    input: Input<'a>,
    received: &'a [Received],
    state: TrackedSession,
    tracked: bool,
    new_event: Option<&'a StatusCallback>,
    finished: Option<Finished>,
    now: SystemTime,
    policy: &'a TrackingPolicy,
}

/// What a store writes (or not) at the end of a [`Step`], and what it answers.
#[derive(Debug)]
#[non_exhaustive]
pub struct Commit<'a> {
    /// The session's state to write; `None`: write nothing and roll the whole unit of work
    /// back (the app refused a callback that made nothing final, so that its retry runs again).
    pub state: Option<TrackedSession>,
    /// The session was not tracked: insert its row (and step again if a concurrent step
    /// inserted it first) rather than update it.
    pub insert: bool,
    /// The callback whose `event_id` is recorded as applied with this write.
    pub event: Option<&'a StatusCallback>,
    /// The callbacks recorded before ([`Received`]) that this write applies: mark them applied
    /// with it (none when the app's work failed: the next step applies them again).
    pub received: &'a [Received],
    /// Whether the app's writes inside the unit of work are kept; `false`: undo them (roll back
    /// to before the app ran) and still write [`state`](Self::state).
    pub keep_app_work: bool,
    /// Whether a poller's claim on the session ends.
    pub release_claim: bool,
    /// What the store answers once this is committed.
    pub outcome: Result<Applied, StoreError>,
}

impl<'a> Step<'a> {
    /// Decides the step for `input` at `now` on `loaded` (the stored state, `None` when the
    /// session is not tracked), knowing whether the callback's event was applied before
    /// (`event_seen`, false for other inputs) and whether another session of its order was
    /// handed off as paid (`order_paid`: the store reads it with the order's sessions locked, so
    /// that two of them are never handed off as paid at once). `Err` is the answer when there is nothing to run
    /// nor write: [`Applied::Duplicate`] (the event was applied and no hand-off is due),
    /// [`Applied::Unknown`] (a read or tick of an untracked session, a callback without a
    /// `session_id`), or [`Applied::Done`] (tracking a session already tracked).
    pub fn decide(
        loaded: Option<&TrackedSession>,
        event_seen: bool,
        order_paid: bool,
        input: Input<'a>,
        now: SystemTime,
        policy: &'a TrackingPolicy,
    ) -> Result<Self, Applied> {
        Self::decide_with_received(loaded, &[], event_seen, order_paid, input, now, policy)
    }

    /// [`decide`](Self::decide) for a store that records callbacks before applying them
    /// ([`TrackingStore::receive`]): `received` are the session's callbacks recorded and not
    /// applied yet, oldest first. Each is applied first, as of when it came (as if it had been
    /// applied then), then `input`; [`new_event`](Self::new_event)'s app work runs for each, and
    /// [`Commit::received`] says to mark them applied. Nothing of them is applied when the
    /// answer is `Err` (they wait for the next step).
    pub fn decide_with_received(
        loaded: Option<&TrackedSession>,
        received: &'a [Received],
        event_seen: bool,
        order_paid: bool,
        input: Input<'a>,
        now: SystemTime,
        policy: &'a TrackingPolicy,
    ) -> Result<Self, Applied> {
        if event_seen && loaded.is_none_or(|state| state.hand_off_due().is_none()) {
            return Err(Applied::Duplicate);
        }
        let session_id = input.session_id();
        let mut state = match (loaded, &input) {
            (Some(_), Input::Track { .. }) => return Err(Applied::Done { handed_off: None }),
            (Some(state), _) => state.clone(),
            (None, Input::Track { expires_at, order_key, .. }) => {
                TrackedSession::new(session_id, *expires_at, now, policy).with_order_key(*order_key)
            }
            (None, Input::Callback(callback)) if !session_id.is_empty() && policy.track_unknown_sessions => {
                TrackedSession::new(session_id, callback.session.expires_at_time(), now, policy)
            }
            (None, _) => return Err(Applied::Unknown),
        };
        // What came before this input, as of when it came; the input decides what is due.
        let mut shown_by_received = None;
        for earlier in received {
            if state.observe_callback(&earlier.callback.session, earlier.at, policy).is_some() {
                shown_by_received = Some(&earlier.callback.session);
            }
        }
        let (mut became, session) = match &input {
            Input::Track { .. } => (None, None),
            Input::Callback(callback) => {
                (state.observe_callback(&callback.session, now, policy), Some(&callback.session))
            }
            Input::Read { result: Ok(session), .. } => (state.observe(session, now, policy), Some(*session)),
            Input::Read { result: Err(error), .. } => (state.read_failed(error, now, policy), None),
            Input::Tick { .. } => (state.check_expiry(now, policy), None),
            Input::Unpark { .. } => {
                state.unpark(now);
                (state.hand_off_due().filter(|_| !state.is_parked()), None)
            }
        };
        if order_paid && state.hands_off_a_payment() {
            state.paid_twice();
            became = state.hand_off_due();
        }
        // The session goes with the hand-off only when it shows the status handed off (a retried
        // hand-off completed by a later, non-final event carries none).
        let finished = became.map(|status| Finished {
            session_id: session_id.to_owned(),
            status,
            session: session
                .filter(|s| shows(s, status))
                .or_else(|| shown_by_received.filter(|s| shows(s, status)))
                .cloned(),
            confirmed: state.is_confirmed(),
            order_key: state.order_key().map(str::to_owned),
        });
        let new_event = match input {
            Input::Callback(callback) if !event_seen => Some(callback),
            _ => None,
        };
        Ok(Self { input, received, state, tracked: loaded.is_some(), new_event, finished, now, policy })
    }

    /// The callback the app sees first ([`HandOff::on_event`]): a callback applied for the
    /// first time.
    pub fn new_event(&self) -> Option<&'a StatusCallback> {
        self.new_event
    }

    /// The final status the app is handed ([`HandOff::hand_off`]) in this step, if one is due.
    pub fn finished(&self) -> Option<&Finished> {
        self.finished.as_ref()
    }

    /// Runs the app's work of this step inside the store's unit of work `tx`, in the order every
    /// store runs it: [`on_event`](HandOff::on_event) for a new event, then the hand-off, if one
    /// is due. The first error stops it. Nothing to run is `Ok`.
    pub async fn run_app<S, H>(&self, hand_off: &H, tx: &mut S::Tx) -> Result<(), Box<dyn StdError + Send + Sync>>
    where
        S: TrackingStore + ?Sized,
        H: HandOff<S> + ?Sized,
    {
        for earlier in self.received {
            hand_off.on_event(tx, &earlier.callback).await?;
        }
        if let Some(callback) = self.new_event {
            hand_off.on_event(tx, callback).await?;
        }
        if let Some(finished) = &self.finished {
            hand_off.hand_off(tx, finished).await?;
        }
        Ok(())
    }

    /// What to write once the app's work returned `app` (`Ok(())` when there was none).
    ///
    /// - The app's work succeeded: the new state (handed off, when a hand-off was due), the
    ///   event recorded.
    /// - It failed and the session is final: the final status is kept and its hand-off due
    ///   again after a back-off ([`TrackedSession::hand_off_failed`]); the app's writes are
    ///   undone; the event is not recorded (its retry runs the app again).
    /// - It failed and nothing final is at stake: nothing is written (a session first seen in
    ///   this callback is not tracked either).
    ///
    /// A poller's claim ends when its read or tick was applied, or when nothing is left to do.
    pub fn commit(self, app: Result<(), Box<dyn StdError + Send + Sync>>) -> Commit<'a> {
        let Self { input, received, mut state, tracked, new_event, finished, now, policy } = self;
        let (event, applied, keep_app_work, outcome) = match app {
            Ok(()) => {
                if finished.is_some() {
                    state.handed_off();
                }
                (new_event, received, true, Ok(Applied::Done { handed_off: finished.map(|f| f.status) }))
            }
            Err(e) if state.hand_off_due().is_some() => {
                state.hand_off_failed(HandOffError::kind_of(&*e), now, policy);
                (None, &[][..], false, Err(StoreError::HandOff(e)))
            }
            Err(e) => {
                let outcome = Err(StoreError::HandOff(e));
                let nothing = Commit {
                    state: None,
                    insert: false,
                    event: None,
                    received: &[],
                    keep_app_work: false,
                    release_claim: false,
                    outcome,
                };
                return nothing;
            }
        };
        let release_claim = matches!(input, Input::Read { .. } | Input::Tick { .. }) || state.is_handed_off();
        Commit { state: Some(state), insert: !tracked, event, received: applied, keep_app_work, release_claim, outcome }
    }
}

/// Whether `session` shows `status` (a late payment shows `COMPLETED`).
fn shows(session: &crate::model::Session, status: FinalStatus) -> bool {
    let shown = session.status.as_ref().and_then(FinalStatus::of);
    let paid = matches!(status, FinalStatus::CompletedAfterExpired | FinalStatus::CompletedTwice);
    shown == Some(status) || (paid && shown == Some(FinalStatus::Completed))
}
