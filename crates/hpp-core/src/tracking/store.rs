//! Where tracked sessions live between steps: the [`TrackingStore`] trait, what it is fed
//! ([`Input`]), what it answers ([`Applied`]), and the hand-off of a final status to the app
//! ([`HandOff`]) inside the store's own unit of work.

use std::error::Error as StdError;
use std::future::Future;
use std::time::{Duration, SystemTime};

use super::{FinalStatus, TrackedSession, TrackingPolicy};
use crate::callback::StatusCallback;
use crate::model::Session;

/// What a store is fed: one step of one session.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Input<'a> {
    /// Start tracking a session just created (idempotent: tracking it again changes nothing).
    Track {
        /// The session's id.
        session_id: &'a str,
        /// Its `expires_at`, when the creation answered one.
        expires_at: Option<SystemTime>,
    },
    /// A `status_update` callback, parsed and its secret checked. Recorded by its `event_id`:
    /// the same event applied again is [`Applied::Duplicate`]. A callback for a session not
    /// tracked yet starts tracking it.
    Callback(&'a StatusCallback),
    /// The result of a read of a tracked session (by a poller); releases the poller's claim.
    Read {
        /// The session's id.
        session_id: &'a str,
        /// The session read, or why there was none.
        result: Result<&'a Session, &'a crate::Error>,
    },
    /// Time has passed: ends the session as [`FinalStatus::Expired`] if it is past giving up
    /// ([`TrackedSession::check_expiry`]); otherwise nothing.
    Tick {
        /// The session's id.
        session_id: &'a str,
    },
}

impl Input<'_> {
    /// The session the step is about (empty for a callback without a `session_id`).
    pub fn session_id(&self) -> &str {
        match self {
            Self::Track { session_id, .. } | Self::Read { session_id, .. } | Self::Tick { session_id } => session_id,
            Self::Callback(callback) => callback.session.session_id.as_deref().unwrap_or_default(),
        }
    }
}

/// A session that became final, as handed to the app: committed once per session, whichever
/// replica, callback or read saw it first. (`Debug` shows the session as `Session`'s own does,
/// token and customer masked.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finished {
    /// The session's id.
    pub session_id: String,
    /// How it ended.
    pub status: FinalStatus,
    /// The session as the callback or read of this step showed it (`order_id`,
    /// `authorization_token`, customer details); `None` when it expired, or when a hand-off is
    /// retried without a fresh read. Never kept by a store (it holds a token and personal data):
    /// the app takes what it needs now.
    pub session: Option<Session>,
}

/// One step of the rules on a loaded session: what a store commits. Every store takes its steps
/// through [`Transition::new`], so that the rules live in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The session's state after the step: what to store.
    pub state: TrackedSession,
    /// The final status to hand off in the same commit, when this step made the session final.
    pub finished: Option<Finished>,
}

impl Transition {
    /// Applies `input` at `now` to `loaded` (the stored state, `None` when the session is not
    /// tracked). `None` when there is nothing to apply it to: a read or tick of an untracked
    /// session, or a callback without a `session_id`. Tracking a session already tracked keeps it
    /// as it is.
    pub fn new(
        loaded: Option<&TrackedSession>,
        input: &Input<'_>,
        now: SystemTime,
        policy: &TrackingPolicy,
    ) -> Option<Self> {
        let session_id = input.session_id();
        let mut state = match (loaded, input) {
            (Some(state), _) => state.clone(),
            (None, Input::Track { expires_at, .. }) => TrackedSession::new(session_id, *expires_at, now, policy),
            (None, Input::Callback(callback)) if !session_id.is_empty() => {
                TrackedSession::new(session_id, callback.session.expires_at_time(), now, policy)
            }
            (None, _) => return None,
        };
        let (became, session) = match input {
            Input::Track { .. } => (None, None),
            Input::Callback(callback) => (state.observe(&callback.session, now, policy), Some(&callback.session)),
            Input::Read { result: Ok(session), .. } => (state.observe(session, now, policy), Some(*session)),
            Input::Read { result: Err(error), .. } => (state.read_failed(error, now, policy), None),
            Input::Tick { .. } => (state.check_expiry(now, policy), None),
        };
        let finished = became.map(|status| Finished {
            session_id: session_id.to_owned(),
            status,
            session: session.filter(|_| status != FinalStatus::Expired).cloned(),
        });
        Some(Self { state, finished })
    }

    /// Whether committing this step ends a poller's claim on the session: the read (or tick) the
    /// claim was for was applied, or there is nothing left to do. Ask after the hand-off.
    pub fn releases_claim(&self, input: &Input<'_>) -> bool {
        matches!(input, Input::Read { .. } | Input::Tick { .. }) || self.state.is_handed_off()
    }
}

/// What a store did with one [`Input`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The step was applied and committed; `handed_off` is the final status handed to the app in
    /// the same commit, if this step did.
    Done {
        /// The final status this step handed off.
        handed_off: Option<FinalStatus>,
    },
    /// The callback's `event_id` was already applied and committed, and no hand-off is due:
    /// nothing done (answer 2xx).
    Duplicate,
    /// Another step of the same session is being applied right now (on this or another
    /// replica): nothing done; try again later (a receiver answers 503, so the service
    /// retries; a poller's claim simply lapses).
    Busy,
    /// A read or a callback for a session this store does not track and cannot start tracking
    /// (a callback without `session_id`): nothing done.
    Unknown,
}

/// Why a store could not apply a step in full. The step may be taken again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The app's [`HandOff`] failed and its work was rolled back. What the step learned was
    /// committed (the final status is kept, the callback's event recorded), and the hand-off is
    /// due again: on the service's retry of the callback, and on the store's schedule. A receiver
    /// answers 5xx.
    #[error("the app's hand-off of a final status failed (it will be retried): {0}")]
    HandOff(#[source] Box<dyn StdError + Send + Sync>),
    /// The store's backend failed (a connection, a query, a stored value it cannot read).
    #[error("the tracking store failed: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

/// The app's side of a final status: what to do, once, when a session becomes final (mark the
/// order paid, release the stock). It runs inside the store's unit of work (for a database
/// store, its transaction, through `tx`): the app's writes and the store's record of the
/// hand-off commit together or not at all. An error rolls the app's work back; the final status
/// stays known to the store and is handed off again later (the service's retry of the callback,
/// or the store's schedule), until it succeeds.
///
/// Work that cannot be rolled back (an e-mail, a call to another service) belongs in an outbox
/// written through `tx`, not here.
pub trait HandOff<S: TrackingStore + ?Sized>: Send + Sync {
    /// Hands `finished` to the app inside `tx`.
    fn hand_off(
        &self,
        tx: &S::Tx,
        finished: &Finished,
    ) -> impl Future<Output = Result<(), Box<dyn StdError + Send + Sync>>> + Send;

    /// Sees every callback event the first time it is applied, final or not, inside `tx` and
    /// before any hand-off (default: nothing). An error is treated as a failed hand-off, and the
    /// event is not recorded as applied: the service's retry of it runs this again. For apps
    /// (and tools) that act on every status change, once.
    fn on_event(
        &self,
        tx: &S::Tx,
        callback: &StatusCallback,
    ) -> impl Future<Output = Result<(), Box<dyn StdError + Send + Sync>>> + Send {
        let _ = (tx, callback);
        async { Ok(()) }
    }

    /// The app's work for one step, in the order every store runs it inside its unit of work:
    /// the first-seen callback's [`on_event`](Self::on_event), then the hand-off of `finished`,
    /// if one is due. The first error stops it. For store authors; apps do not override it.
    fn run_step(
        &self,
        tx: &S::Tx,
        new_event: Option<&StatusCallback>,
        finished: Option<&Finished>,
    ) -> impl Future<Output = Result<(), Box<dyn StdError + Send + Sync>>> + Send {
        async move {
            if let Some(callback) = new_event {
                self.on_event(tx, callback).await?;
            }
            if let Some(finished) = finished {
                self.hand_off(tx, finished).await?;
            }
            Ok(())
        }
    }
}

/// Where tracked sessions, the callbacks' event ids and the final hand-offs live, shared by
/// every replica of an app. Each [`apply`](Self::apply) is one unit of work: load the session,
/// apply the tracking rules ([`TrackedSession`](super::TrackedSession)), hand a final status to
/// the app, commit all of it, or none.
///
/// `hpp_core::tracking::MemoryStore` is the one-process store; `hpp-postgres` the durable one.
pub trait TrackingStore: Send + Sync {
    /// What a [`HandOff`] writes through: a database connection inside the step's open
    /// transaction, or `()`.
    type Tx: Send + Sync;

    /// Applies one step at `now` and, while a hand-off is due (this step made the session final,
    /// or an earlier hand-off failed), calls `hand_off` inside the same unit of work.
    fn apply<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        input: Input<'a>,
        now: SystemTime,
        hand_off: &'a H,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send + 'a;

    /// Claims up to `max` sessions due at `now` for `owner`, for `lease`: each is to be read and
    /// the read applied as [`Input::Read`] (a final session whose hand-off failed is read again,
    /// so the retried hand-off carries the session). No other claim returns them until the lease
    /// ends or their read is applied; a crashed owner's claims lapse with their leases. Sessions
    /// past giving up are ended as [`FinalStatus::Expired`] (through `hand_off`) instead.
    fn claim_due<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        owner: &'a str,
        max: usize,
        lease: Duration,
        now: SystemTime,
        hand_off: &'a H,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send + 'a;

    /// How many tracked sessions still have work outstanding: not final yet, or final and not
    /// handed off yet.
    fn pending(&self) -> impl Future<Output = Result<u64, StoreError>> + Send + '_;
}
