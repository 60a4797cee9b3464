//! Where tracked sessions live between steps: the [`TrackingStore`] trait, what it is fed
//! ([`Input`]), what it answers ([`Applied`]), what its claims return ([`Due`]), and the hand-off
//! of a final status to the app ([`HandOff`]) inside the store's own unit of work. What a step
//! does is decided by [`Step`](super::Step), once for every store.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use super::{FinalStatus, TrackedSession};
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
        /// Its `expires_at`, when the creation answered one
        /// ([`SessionCreated::expires_at_time`](crate::SessionCreated::expires_at_time)).
        expires_at: Option<SystemTime>,
        /// The app's order the session pays for (an order may have several sessions: it is
        /// handed off as paid once, [`FinalStatus::CompletedTwice`] for another paid session).
        order_key: Option<&'a str>,
    },
    /// A `status_update` callback, parsed and its secret checked. Recorded by its `event_id`:
    /// the same event applied again is [`Applied::Duplicate`]. A callback for a session not
    /// tracked yet starts tracking it.
    Callback(&'a StatusCallback),
    /// The result of a read of a tracked session (by a poller, for a [`Due::Read`]); releases
    /// the poller's claim.
    Read {
        /// The session's id.
        session_id: &'a str,
        /// The session read, or why there was none.
        result: Result<&'a Session, &'a crate::Error>,
    },
    /// Time has passed (a poller, for a [`Due::Expire`]): ends the session as
    /// [`FinalStatus::Expired`] if it is past giving up ([`TrackedSession::check_expiry`]), or
    /// retries a hand-off that is due; releases the poller's claim.
    Tick {
        /// The session's id.
        session_id: &'a str,
    },
    /// The app asks for a parked session again ([`TrackedSession::is_parked`]: its hand-off
    /// failed too often): its hand-off is run in this step (and backs off again if it fails).
    /// Nothing for a session not parked.
    Unpark {
        /// The session's id.
        session_id: &'a str,
    },
}

/// A callback a store recorded without applying it ([`TrackingStore::receive`]): the
/// session's next step applies it first, as of when it came ([`Step::decide_with_received`](super::Step::decide_with_received)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The callback, parsed and its secret checked.
    pub callback: StatusCallback,
    /// When it came: it is applied as of then.
    pub at: SystemTime,
}

impl Received {
    /// `callback`, received at `at`.
    pub fn new(callback: StatusCallback, at: SystemTime) -> Self {
        Self { callback, at }
    }

    /// The callbacks a store kept as a JSON list of `{"at_ms": …, "callback": …}` (milliseconds
    /// since the Unix epoch; the callback as it serializes), in the list's order: how the
    /// PostgreSQL stores read them back. An item that does not parse (recorded by a newer
    /// release) is left out: the reads still tell.
    pub fn list_from_json(list: serde_json::Value) -> Vec<Self> {
        let serde_json::Value::Array(items) = list else { return Vec::new() };
        let received = items.into_iter().filter_map(|mut item| {
            let at_ms = u64::try_from(item["at_ms"].as_i64()?).ok()?;
            let callback = serde_json::from_value::<StatusCallback>(item["callback"].take()).ok()?;
            Some(Self::new(callback, SystemTime::UNIX_EPOCH + Duration::from_millis(at_ms)))
        });
        received.collect()
    }

    /// What a store that records callbacks ([`TrackingStore::receive`]) writes for `callback`
    /// received at `at`; `None` when it applies it at once instead (a callback without a session
    /// id, or [`TrackingPolicy::apply_callbacks_at_once`](super::TrackingPolicy::apply_callbacks_at_once)).
    pub fn recording<'c>(
        callback: &'c StatusCallback,
        at: SystemTime,
        policy: &super::TrackingPolicy,
    ) -> Option<Recording<'c>> {
        let session_id = callback.session.session_id.as_deref().filter(|id| !id.is_empty());
        let session_id = session_id.filter(|_| !policy.apply_callbacks_at_once)?;
        let final_status = callback.session.status.as_ref().and_then(FinalStatus::of);
        let (due_at, read_priority) = match final_status {
            Some(_) => (at, 0),
            None => (at.checked_add(policy.first_read).unwrap_or(at), 1),
        };
        Some(Recording { session_id, received_at: at, due_at, read_priority })
    }
}

/// How a store records a callback ([`Received::recording`]): the row it keeps, and when its
/// session is due, at which priority (the step decides the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recording<'c> {
    /// The callback's session.
    pub session_id: &'c str,
    /// When the callback came.
    pub received_at: SystemTime,
    /// When the session is due for its next step, at the latest: a final status at once (a read
    /// confirms it, or the hand-off runs); any other status as the schedule after a change would
    /// have it, [`TrackingPolicy::first_read`](super::TrackingPolicy::first_read) later, so that
    /// activity costs no read of its own.
    pub due_at: SystemTime,
    /// Its read priority, at most ([`TrackedSession::read_priority`]): `0` for a final status,
    /// `1` for activity.
    pub read_priority: u8,
}

/// A callback as a store records it ([`Recording::row`]): owned, so that it can wait for a
/// batch (`hpp_runtime::batch`). `Debug` shows the ids and times, never the body.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackRow {
    /// The callback's event id.
    pub event_id: String,
    /// Its session.
    pub session_id: String,
    /// The status it reports, as the service spells it.
    pub status: Option<String>,
    /// When it came.
    pub received_at: SystemTime,
    /// The callback as JSON, as it serializes (read back by [`Received::list_from_json`]).
    pub body: String,
    /// When its session is due ([`Recording::due_at`]).
    pub due_at: SystemTime,
    /// At which read priority ([`Recording::read_priority`]).
    pub read_priority: u8,
}

impl fmt::Debug for CallbackRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackRow")
            .field("event_id", &self.event_id)
            .field("session_id", &self.session_id)
            .field("status", &self.status)
            .field("received_at", &self.received_at)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("due_at", &self.due_at)
            .field("read_priority", &self.read_priority)
            .finish()
    }
}

impl Recording<'_> {
    /// The row a store writes for `callback` (the one this recording is of).
    pub fn row(&self, callback: &StatusCallback) -> CallbackRow {
        CallbackRow {
            event_id: callback.event_id.clone(),
            session_id: self.session_id.to_owned(),
            status: callback.session.status.as_ref().map(|s| s.as_str().to_owned()),
            received_at: self.received_at,
            // A derived `Serialize` of strings and maps with string keys cannot fail.
            body: serde_json::to_string(callback).unwrap_or_default(),
            due_at: self.due_at,
            read_priority: self.read_priority,
        }
    }

    /// What the store answers once its statement said whether the session is `tracked` and
    /// whether the callback was `recorded` now (not before); `None`: the session is not
    /// tracked, so apply the callback at once ([`Input::Callback`]: to track it, or answer
    /// [`Applied::Unknown`]).
    pub fn answer(&self, tracked: bool, recorded: bool) -> Option<Applied> {
        match (tracked, recorded) {
            (false, _) => None,
            (true, true) => Some(Applied::Received),
            (true, false) => Some(Applied::Duplicate),
        }
    }
}

/// [`TrackingStore::receive`] for a store that records callbacks, on its `policy`: `record`
/// writes the row
/// ([`Recording::row`]) and says whether the session is tracked and whether the event was
/// recorded now ([`Recording::answer`]); a callback it cannot record (no session id,
/// [`TrackingPolicy::apply_callbacks_at_once`](super::TrackingPolicy::apply_callbacks_at_once),
/// a session not tracked) is applied at once. Both PostgreSQL stores answer with it.
pub async fn receive_by_recording<'a, S, H, R>(
    store: &'a S,
    callback: &'a StatusCallback,
    now: SystemTime,
    hand_off: &'a H,
    policy: &super::TrackingPolicy,
    record: impl FnOnce(CallbackRow) -> R,
) -> Result<Applied, StoreError>
where
    S: TrackingStore + ?Sized,
    H: HandOff<S> + ?Sized,
    R: Future<Output = Result<(bool, bool), StoreError>>,
{
    // The step's future is boxed where it is the fallback: inline, its size would be every
    // callback's future's, copied as it is set up.
    let recording = Received::recording(callback, now, policy);
    let answer = match recording {
        Some(recording) => {
            let (tracked, recorded) = record(recording.row(callback)).await?;
            recording.answer(tracked, recorded)
        }
        None => None,
    };
    match answer {
        Some(answer) => Ok(answer),
        None => Box::pin(store.apply(Input::Callback(callback), now, hand_off)).await,
    }
}

impl Input<'_> {
    /// The session the step is about (empty for a callback without a `session_id`).
    pub fn session_id(&self) -> &str {
        match self {
            Self::Track { session_id, .. }
            | Self::Read { session_id, .. }
            | Self::Tick { session_id }
            | Self::Unpark { session_id } => session_id,
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
    /// The session as the callback or read of this step showed it with this status
    /// (`order_id`, `authorization_token`, customer details); `None` when it expired, or when a
    /// hand-off is retried without a step that shows the status again. Never kept by a store (it
    /// holds a token and personal data): the app takes what it needs now.
    pub session: Option<Session>,
    /// The app's order the session pays for, when it was tracked with one.
    pub order_key: Option<String>,
    /// Whether the API itself showed this status (a read of the session; for
    /// [`FinalStatus::Expired`], a 404 after the grace). `false` for a status known only from a
    /// callback (with [`TrackingPolicy::confirm_callbacks`](super::TrackingPolicy::confirm_callbacks)
    /// on, a payment the API could no longer be asked about: after expiry it answers 404) or an
    /// expiry given up without an answer. Before shipping on an unconfirmed `COMPLETED`, check the
    /// order in the API that `payment_session_url` names.
    pub confirmed: bool,
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
    /// The callback was recorded, and its session made due, but not applied yet
    /// ([`TrackingStore::receive`] of a store that records callbacks): the session's next step
    /// applies it, with the app's work it brings (answer 2xx: it is kept).
    Received,
}

/// How many of a store's sessions stand where ([`TrackingStore::counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Counts {
    /// Not final yet.
    pub waiting: u64,
    /// Final, the hand-off due (or retried after a failure).
    pub hand_off_due: u64,
    /// Final, the hand-off failed too often: waiting for the app or an operator.
    pub parked: u64,
    /// Handed off (kept for the retention).
    pub handed_off: u64,
    /// Of those with work outstanding, how many are due now (a read or a hand-off) and not
    /// claimed by a poller: the backlog no poller has taken yet.
    pub due: u64,
    /// When the oldest session with work outstanding started being tracked.
    pub oldest_pending_since: Option<SystemTime>,
}

/// A claimed session and what the poller that claimed it does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Due {
    /// Read the session and apply the read as [`Input::Read`] (a final session whose hand-off
    /// failed is read again too, so that the retried hand-off carries the session).
    Read(String),
    /// The session is past giving up ([`TrackedSession::gives_up_at`]): apply
    /// [`Input::Tick`], which ends it as [`FinalStatus::Expired`]; no read.
    Expire(String),
}

impl Due {
    /// What is due for `state` at `now`, by the rules: every store's claims answer this.
    pub fn of(state: &TrackedSession, now: SystemTime, policy: &super::TrackingPolicy) -> Self {
        let session_id = state.session_id().to_owned();
        match state.gives_up_at(policy) {
            Some(at) if now >= at => Self::Expire(session_id),
            _ => Self::Read(session_id),
        }
    }

    /// The claimed session's id.
    pub fn session_id(&self) -> &str {
        match self {
            Self::Read(id) | Self::Expire(id) => id,
        }
    }
}

/// Why a store could not apply a step in full. The step may be taken again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The app's [`HandOff`] failed and its work was rolled back. When the step had made the
    /// session final, that was committed (the final status is kept) and the hand-off is due
    /// again: on the service's retry of the callback, and on the store's schedule. Otherwise
    /// nothing of the step was committed (the callback's event is not recorded: its retry runs
    /// [`HandOff::on_event`] again). A receiver answers 5xx.
    #[error("the app's hand-off of a final status failed (it will be retried): {0}")]
    HandOff(#[source] Box<dyn StdError + Send + Sync>),
    /// The store's backend failed (a connection, a query, a stored value it cannot read).
    #[error("the tracking store failed: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

/// An error of the app's [`HandOff`] with a *kind*: a short label the app chooses
/// (`order_missing`, `ledger_unavailable`), kept with the session while its hand-off fails
/// ([`TrackedSession::last_error_kind`]), logged and shown to operators. Never an error's text,
/// which may hold personal data: the kind is at most 64 of `A-Z a-z 0-9 _ . : -` (others become
/// `_`).
///
/// ```
/// use hpp_core::tracking::HandOffError;
/// let error: Box<dyn std::error::Error + Send + Sync> =
///     Box::new(HandOffError::new("order_missing", "no order row for the session"));
/// assert_eq!(HandOffError::kind_of(&*error), "order_missing");
/// let plain: Box<dyn std::error::Error + Send + Sync> = "a database error".into();
/// assert_eq!(HandOffError::kind_of(&*plain), "unclassified");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {source}")]
pub struct HandOffError {
    kind: String,
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl HandOffError {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: &str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        let kind: String = kind
            .chars()
            .take(64)
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') { c } else { '_' })
            .collect();
        Self { kind: if kind.is_empty() { "unclassified".to_owned() } else { kind }, source: source.into() }
    }

    /// The kind the app gave.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// `error`, given a kind when it has none ([`kind_of`](Self::kind_of) is `unclassified`):
    /// the first a cause in its chain of sources yields through `kind` (a store names its
    /// driver's database errors by their SQLSTATE, `database:42P01`), else as it was.
    pub fn classified(
        error: Box<dyn StdError + Send + Sync>,
        kind: impl Fn(&(dyn StdError + 'static)) -> Option<String>,
    ) -> Box<dyn StdError + Send + Sync> {
        if Self::kind_of(&*error) != "unclassified" {
            return error;
        }
        let mut next: Option<&(dyn StdError + 'static)> = Some(&*error);
        while let Some(cause) = next {
            if let Some(kind) = kind(cause) {
                return Box::new(Self::new(&kind, error));
            }
            next = cause.source();
        }
        error
    }

    /// The kind of `error`: that of the first [`HandOffError`] in its chain of sources, else
    /// `unclassified`.
    pub fn kind_of<'e>(error: &'e (dyn StdError + 'static)) -> &'e str {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(classified) = error.downcast_ref::<Self>() {
                return &classified.kind;
            }
            next = error.source();
        }
        "unclassified"
    }
}

/// The app's side of a final status: what to do, once, when a session becomes final (mark the
/// order paid, release the stock). It runs inside the store's unit of work, through `tx` (for a
/// database store, its open transaction, as a type that can run statements but cannot commit
/// or roll back: the store does): the app's writes and the store's record of the hand-off
/// commit together or not at all. An error rolls the app's work back; the final status stays
/// known to the store and is handed off again later (the service's retry of the callback, or
/// the store's schedule), until it succeeds.
///
/// Work that cannot be rolled back (an e-mail, a call to another service) belongs in an outbox
/// written through `tx`, not here.
pub trait HandOff<S: TrackingStore + ?Sized>: Send + Sync {
    /// Hands `finished` to the app inside `tx`.
    fn hand_off(
        &self,
        tx: &mut S::Tx,
        finished: &Finished,
    ) -> impl Future<Output = Result<(), Box<dyn StdError + Send + Sync>>> + Send;

    /// Sees every callback event the first time it is applied, final or not, inside `tx` and
    /// before any hand-off (default: nothing): in the receiver's answer, or, with a store that
    /// records callbacks ([`TrackingStore::receive`]), in the session's next step (a final status
    /// within a poll, another status with the next read). An error is treated as a failed
    /// hand-off, and the event is not recorded as applied: the service's retry of it (or the
    /// session's next step) runs this again. For apps (and tools) that act on every status
    /// change, once.
    fn on_event(
        &self,
        tx: &mut S::Tx,
        callback: &StatusCallback,
    ) -> impl Future<Output = Result<(), Box<dyn StdError + Send + Sync>>> + Send {
        let _ = (tx, callback);
        async { Ok(()) }
    }
}

/// Where tracked sessions, the callbacks' event ids and the final hand-offs live, shared by
/// every replica of an app. Each [`apply`](Self::apply) is one unit of work: load and lock the
/// session, let [`Step::decide`](super::Step::decide) say what the app runs, run it through
/// [`Step::run_app`](super::Step::run_app) inside the unit of work, and write what
/// [`Step::commit`](super::Step::commit) says, or nothing.
///
/// `hpp_core::tracking::MemoryStore` is the one-process store; `hpp-postgres` the durable one.
/// A store author runs `hpp_testing::store_kit` on theirs.
pub trait TrackingStore: Send + Sync {
    /// What a [`HandOff`] writes through, as `&mut`: the step's open transaction (for
    /// PostgreSQL, a wrapper that runs statements and cannot end it), or `()`.
    type Tx: Send;

    /// Applies one step at `now` and, while a hand-off is due (this step made the session final,
    /// or an earlier hand-off failed), calls `hand_off` inside the same unit of work.
    fn apply<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        input: Input<'a>,
        now: SystemTime,
        hand_off: &'a H,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send + 'a;

    /// Takes a callback as a receiver gets it: by default applies it at once
    /// ([`apply`](Self::apply) of [`Input::Callback`]). A store may instead record it and make
    /// its session due ([`Received::recording`]), in one round trip, and apply it in the session's
    /// next step ([`Step::decide_with_received`](super::Step::decide_with_received), as of when it came): [`Applied::Received`]; a
    /// redelivery of a recorded event is [`Applied::Duplicate`]. The API is the authority and
    /// a callback a wake-up: the poller's next read of the session takes it from there. A
    /// callback for a session the store does not track is applied at once (to track it, or
    /// answer [`Applied::Unknown`]).
    fn receive<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        callback: &'a StatusCallback,
        now: SystemTime,
        hand_off: &'a H,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send + 'a {
        self.apply(Input::Callback(callback), now, hand_off)
    }

    /// Claims up to `max` sessions due at `now` for `owner`, for `lease`, most overdue first,
    /// and says what is due for each ([`Due::of`]); none while reads are paused
    /// ([`pause_reads`](Self::pause_reads)). Runs no app code: the caller applies each
    /// ([`Input::Read`] after reading it, or [`Input::Tick`]). No other claim returns them
    /// until the lease ends or a read or tick of them is applied; a crashed owner's claims
    /// lapse with their leases.
    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<Vec<Due>, StoreError>> + Send + 'a;

    /// Pauses every claim, on every replica sharing the store, until `until` (a later pause
    /// wins, an earlier one changes nothing): the API answered a read 429, and the account's
    /// rate limit is shared with checkout. Nothing is claimed while paused.
    fn pause_reads(&self, until: SystemTime) -> impl Future<Output = Result<(), StoreError>> + Send + '_;

    /// The stored state of `session_id`, if tracked.
    fn get<'a>(
        &'a self,
        session_id: &'a str,
    ) -> impl Future<Output = Result<Option<TrackedSession>, StoreError>> + Send + 'a;

    /// The tracked sessions of the app's order `order_key` (tracked with it:
    /// [`Input::Track`]'s `order_key`), in any order.
    fn order_sessions<'a>(
        &'a self,
        order_key: &'a str,
    ) -> impl Future<Output = Result<Vec<TrackedSession>, StoreError>> + Send + 'a;

    /// How many tracked sessions still have work outstanding: not final yet, or final and not
    /// handed off yet.
    fn pending(&self) -> impl Future<Output = Result<u64, StoreError>> + Send + '_;

    /// How many sessions stand where at `now` ([`Counts`]): for metrics and operators.
    fn counts(&self, now: SystemTime) -> impl Future<Output = Result<Counts, StoreError>> + Send + '_;

    /// Deletes at most `max` sessions handed off more than the policy's
    /// [`retention`](super::TrackingPolicy::retention) before `now` (and, up to `max` more, the
    /// callbacks' event ids recorded before then); returns how many rows it deleted. Never a
    /// session with work outstanding. A poller calls it in bounded batches; a callback for a
    /// deleted session is then [`Applied::Unknown`] (or [`Applied::Duplicate`]): nothing done.
    fn prune(&self, now: SystemTime, max: usize) -> impl Future<Output = Result<u64, StoreError>> + Send + '_;
}
