//! Knowing, exactly once, that a session is done: the tracking rules ([`TrackedSession`]), the
//! stores they are applied in ([`TrackingStore`]: [`MemoryStore`] here, `hpp-postgres` for
//! several replicas) and the app's side ([`HandOff`]). The caller passes the time in; nothing
//! here reads a clock. (`Client::wait_for_final_status` watches one session from one process:
//! its schedule is `watch.rs`'s.)

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::model::{Session, SessionCreated, SessionStatus};

mod memory;
mod step;
mod store;

pub use memory::MemoryStore;
pub use step::{Commit, Step};
pub use store::{
    Applied, CallbackRow, Counts, Due, Finished, HandOff, HandOffError, Input, Received, Recording, StoreError,
    TrackingStore, receive_by_recording,
};

impl SessionStatus {
    /// Whether the session can no longer change: `COMPLETED`, `CANCELLED`, `DISABLED`, and
    /// `TIMEOUT` (seen in callbacks: the session expired). Every other status, including ones this
    /// SDK does not know, may still change until the session expires.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Disabled | Self::Timeout)
    }
}

impl SessionCreated {
    /// `expires_at`, when present and well-formed: what [`Input::Track`] takes.
    pub fn expires_at_time(&self) -> Option<SystemTime> {
        self.expires_at.as_deref().and_then(crate::time::parse_rfc3339)
    }
}

impl Session {
    /// `expires_at`, when present and well-formed.
    pub fn expires_at_time(&self) -> Option<SystemTime> {
        self.expires_at.as_deref().and_then(crate::time::parse_rfc3339)
    }

    /// Whether the session has expired at `now` (by its `expires_at`; unknown means no).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at_time().is_some_and(|expires| now >= expires)
    }
}

/// A final outcome of a tracked session: what an app acts on (ship the order, release the stock),
/// once. The four final statuses of the API, and `Expired` for a session that ended without one
/// (read as not found, or still open, after its `expires_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum FinalStatus {
    /// Paid.
    Completed,
    /// The consumer cancelled.
    Cancelled,
    /// The merchant disabled the session.
    Disabled,
    /// The service timed the session out (a `TIMEOUT` status).
    Timeout,
    /// The session expired without a final status: read as not found
    /// [`TrackingPolicy::expiry_grace`] after its `expires_at`, or not read as final for
    /// [`TrackingPolicy::give_up_after_expiry`] past it. It means "not known to be paid":
    /// reconcile before releasing what the order holds.
    Expired,
    /// Paid after the session was handed off as [`Expired`](Self::Expired): a `COMPLETED`
    /// callback that the service delivered late (a payment just before expiry, its callbacks held
    /// back). Handed off once, on its own, so that the app can undo what it did for the expiry
    /// (or refund). The API can no longer be asked about the session (it answers 404 after
    /// expiry): check the order in the API that `payment_session_url` names before shipping.
    CompletedAfterExpired,
    /// Paid, for an order that another of its sessions had already been handed off as paid (the
    /// consumer paid on two devices, or came back through a second link): handed off on its own,
    /// never as a second plain [`Completed`](Self::Completed). Ship nothing more; refund one.
    /// Only for sessions tracked with an order key ([`TrackedSession::with_order_key`]).
    CompletedTwice,
}

impl FinalStatus {
    /// Every final status, in a fixed order.
    pub const ALL: [Self; 7] = [
        Self::Completed,
        Self::Cancelled,
        Self::Disabled,
        Self::Timeout,
        Self::Expired,
        Self::CompletedAfterExpired,
        Self::CompletedTwice,
    ];

    /// The final status a session status stands for, if it is final.
    pub(crate) fn of(status: &SessionStatus) -> Option<Self> {
        match status {
            SessionStatus::Completed => Some(Self::Completed),
            SessionStatus::Cancelled => Some(Self::Cancelled),
            SessionStatus::Disabled => Some(Self::Disabled),
            SessionStatus::Timeout => Some(Self::Timeout),
            _ => None,
        }
    }

    /// The name, as the API spells the status (`EXPIRED`, `COMPLETED_AFTER_EXPIRED` and
    /// `COMPLETED_TWICE` for the tracker's own): what a store writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Disabled => "DISABLED",
            Self::Timeout => "TIMEOUT",
            Self::Expired => "EXPIRED",
            Self::CompletedAfterExpired => "COMPLETED_AFTER_EXPIRED",
            Self::CompletedTwice => "COMPLETED_TWICE",
        }
    }
}

impl fmt::Display for FinalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a tracked session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Standing {
    /// Not final yet: callbacks and reads will tell.
    Waiting,
    /// Final, its hand-off to the app due (or being retried after a failure).
    HandOffDue,
    /// Final, its hand-off failed too often: nothing is tried until it is retried.
    Parked,
    /// Handed off: done (deleted after the retention).
    HandedOff,
}

impl Standing {
    /// `waiting`, `hand_off_due`, `parked` or `handed_off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::HandOffDue => "hand_off_due",
            Self::Parked => "parked",
            Self::HandedOff => "handed_off",
        }
    }
}

/// When a tracked session is read, for sessions whose callbacks do not come (the service stops
/// retrying a callback after its fourth attempt). Build with [`Default`] and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackingPolicy {
    /// The first read after registration, and after each change of status (default 30 s: a
    /// callback usually comes first, and a read then costs nothing).
    pub first_read: Duration,
    /// The longest time between reads while nothing changes (default 4 hours). Intervals double
    /// from `first_read` up to this, and start again from `first_read` whenever the session
    /// changes (an `IN_PROGRESS` callback: the consumer opened the page). Reads are for the
    /// callbacks that were lost, and the service retries each callback three times before giving
    /// up, so a session that shows no activity is rarely worth a read: one that stays `WAITING`
    /// for its 47 hours is read 23 times (BENCHMARKS.md). The price: a payment whose every
    /// callback was lost, its `IN_PROGRESS` included, is seen at the next read, at most this
    /// long after it (and always by the reads around expiry).
    pub max_interval: Duration,
    /// The longest wait before a failed hand-off is tried again (default 10 minutes): the
    /// app's own failures (a database restarting) pass in minutes, and a payment is not left
    /// waiting for the reads' hours. Waits double from `first_read` up to this.
    pub max_hand_off_interval: Duration,
    /// A read is always due this long before `expires_at` (default 30 s): once a session has
    /// expired the service answers 404 whatever happened, so the last read that can see a payment
    /// whose callbacks were lost is one made before then.
    pub read_before_expiry: Duration,
    /// And one this long after `expires_at` (default 30 s): its 404 ends the session as
    /// [`FinalStatus::Expired`].
    pub read_after_expiry: Duration,
    /// How long past `expires_at` a session is still waited for before a 404 ends it as
    /// [`FinalStatus::Expired`] (default 10 minutes). A consumer can pay seconds before expiry,
    /// and the service delivers that payment's callback after it: a 3 s timeout per attempt and
    /// up to three retries "after a few seconds" (spec section on callbacks), later still when its
    /// queue or the network holds it back (48 s was measured). A 404 inside the grace is a failed
    /// read like any other; the reads go on until the grace has passed. Minutes, not seconds: the
    /// cost is that an expiry is handed off this much later.
    pub expiry_grace: Duration,
    /// How long past `expires_at` reads that fail (network, 5xx, 429) are retried before the
    /// session is given up as expired (default 1 hour; never before the
    /// [`expiry_grace`](Self::expiry_grace)).
    pub give_up_after_expiry: Duration,
    /// The lifetime assumed for a session registered without `expires_at` (default 47 hours: the
    /// payment session's 48 less one, as the service sets it).
    pub assumed_lifetime: Duration,
    /// Whether a final status a callback brings is confirmed by a read of the session before it
    /// is handed off (default `true`). A callback wakes the tracker; the API decides: the
    /// callback's status is recorded and a read is due at once (the poller's), and the hand-off
    /// carries the session as read. A read that shows the session not final contradicts the
    /// callback, which is then dropped (a forged or mistaken callback ships nothing). Once the
    /// session has expired the API answers 404 and nothing can be confirmed: such a payment is
    /// handed off with [`Finished::confirmed`] `false`. The cost is one read per final session;
    /// `false` trusts the callback's word (and its secret) alone.
    pub confirm_callbacks: bool,
    /// After how many failed hand-offs in a row a session is parked (default 20, about three
    /// hours at the default back-off): a hand-off that always fails (a bug, a missing row) is not
    /// retried for ever; it stays pending, visible, and the app retries it with
    /// [`Input::Unpark`] once fixed.
    pub park_after_failures: u32,
    /// Whether a callback for a session this store does not track starts tracking it (default
    /// `false`: it is answered 2xx and changes nothing, so that a forged callback for an unknown
    /// session costs no row and no reads). For tools that print every callback, such as the
    /// command-line listener.
    pub track_unknown_sessions: bool,
    /// Whether a store applies each callback as it comes, in the receiver's answer (default
    /// `false`: a store that can, the PostgreSQL ones, records the callback and makes its
    /// session due in one round trip, and the session's next step, the poller's, applies it as
    /// of when it came: [`TrackingStore::receive`]; a final status within a second or so, the
    /// time of a poll and the read that confirms it; another status with the next read, 30 s
    /// later, so that activity costs no read of its own). `true` for a receiver that runs no
    /// poller (the command-line listener) or an app whose [`HandOff::on_event`] must run before
    /// the receiver answers. The memory store always applies at once.
    pub apply_callbacks_at_once: bool,
    /// The most reads per second the pollers of every replica make together (default 20, set
    /// in the store, which keeps the budget: claims take from it): the account's rate limit is
    /// checkout's too, so a backlog (after an outage, a hundred thousand sessions due at once) is
    /// read at this rate, most likely to have changed first ([`TrackedSession::read_priority`]),
    /// never in a burst. 20 a second reads about 140,000 pending sessions on the default
    /// schedule; set it to what the account can spare. `None` (or 0): no cap.
    pub max_reads_per_second: Option<u32>,
    /// How long a session is kept once its final status was handed off (default 30 days), and
    /// a callback's event id once applied: then [`TrackingStore::prune`] deletes them (a poller
    /// does, in bounded batches). Long past the service's callback retries (minutes) and a
    /// session's life (48 hours), so that a late callback is still recognised; short enough
    /// that the tables stay the size of a month of sessions (about 500 bytes each). A session
    /// with work outstanding (pending, parked) is never deleted.
    pub retention: Duration,
}

impl Default for TrackingPolicy {
    fn default() -> Self {
        Self {
            first_read: Duration::from_secs(30),
            max_interval: Duration::from_secs(4 * 3600),
            max_hand_off_interval: Duration::from_secs(600),
            read_before_expiry: Duration::from_secs(30),
            read_after_expiry: Duration::from_secs(30),
            expiry_grace: Duration::from_secs(600),
            give_up_after_expiry: Duration::from_secs(3600),
            assumed_lifetime: Duration::from_secs(47 * 3600),
            confirm_callbacks: true,
            park_after_failures: 20,
            track_unknown_sessions: false,
            apply_callbacks_at_once: false,
            retention: Duration::from_secs(30 * 24 * 3600),
            max_reads_per_second: Some(20),
        }
    }
}

impl TrackingPolicy {
    /// The read budget's arithmetic, for stores: a bucket refilled at
    /// [`max_reads_per_second`](Self::max_reads_per_second) that holds at most a second's worth
    /// (`0`: no cap), with `tokens` left at `since` (`None`: a full bucket). Returns how many
    /// reads may be claimed at `now` and the tokens there are before claiming them (subtract
    /// what was claimed and keep it with `now`). No cap: as many as asked.
    pub fn read_allowance(&self, tokens: Option<(f64, SystemTime)>, now: SystemTime) -> (usize, f64) {
        let Some(rate) = self.max_reads_per_second.filter(|r| *r > 0).map(f64::from) else {
            return (usize::MAX, f64::MAX);
        };
        let burst = rate;
        let available = match tokens {
            None => burst,
            Some((left, since)) => {
                let elapsed = now.duration_since(since).unwrap_or_default().as_secs_f64();
                (left + elapsed * rate).clamp(0.0, burst)
            }
        };
        (available.floor() as usize, available)
    }
}

/// How long a read can be under way (with its retries) before it is applied: a read applied
/// later than this after a callback left after it. A poller's lease is as long.
const READ_IN_FLIGHT_MS: i64 = 60_000;

/// Why a read of a tracked session gave no session: how the rules take it
/// ([`TrackedSession::read_failed`]), and how a poller counts it and whether it pauses reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadFailure {
    /// 404: the session has expired or was never there. Final only after `expires_at`.
    NotFound,
    /// 429, with the `Retry-After` wait when the answer had one.
    RateLimited(Option<Duration>),
    /// Anything else that may pass: no answer, a timeout, a 5xx.
    Transient,
}

impl ReadFailure {
    /// The failure an [`Error`](crate::Error) of a read at `now` stands for.
    pub fn of(error: &crate::Error, now: SystemTime) -> Self {
        match error {
            crate::Error::Api(api) if api.status() == http::StatusCode::NOT_FOUND => Self::NotFound,
            crate::Error::Api(api) if api.status() == http::StatusCode::TOO_MANY_REQUESTS => {
                Self::RateLimited(api.retry_after(now))
            }
            _ => Self::Transient,
        }
    }
}

/// One tracked session and the rules that move it: the sans-IO heart of payment tracking.
///
/// It is fed what is learned of the session, in any order, duplicated, late or never: callbacks
/// and reads ([`observe`](Self::observe)), failed reads ([`read_failed`](Self::read_failed)), and
/// the passing of time ([`check_expiry`](Self::check_expiry)). The first final status learned is
/// kept for good (nothing later changes it); a status whose `updated_at` is older than the one
/// kept never replaces it.
///
/// A final status is *handed off* to the app exactly once: each step returns `Some(status)`
/// while a hand-off is due, and the store commits [`handed_off`](Self::handed_off) together with
/// the app's own work, or neither. When the app's work fails, the store commits
/// [`hand_off_failed`](Self::hand_off_failed) instead: the final status is kept (a payment seen
/// is never forgotten, even after the session has expired at the service) and the hand-off is due
/// again after a back-off. A step that was not committed at all (a crash) is simply taken again.
///
/// [`next_due_at`](Self::next_due_at) says when the store should act next: read the session, or
/// retry its hand-off (`None` once handed off). The value is `Serialize`, for stores to keep.
/// Times are the caller's: nothing here reads a clock.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use hpp_core::tracking::{FinalStatus, TrackedSession, TrackingPolicy};
/// use hpp_core::{Session, SessionStatus};
///
/// let policy = TrackingPolicy::default();
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// let mut tracked = TrackedSession::new("s1", None, now, &policy);
/// assert_eq!(tracked.next_due_at(), Some(now + policy.first_read));
///
/// let mut paid = Session::default();
/// paid.status = Some(SessionStatus::Completed);
/// assert_eq!(tracked.observe(&paid, now, &policy), Some(FinalStatus::Completed));
/// tracked.handed_off(); // committed with the app's "mark the order paid"
/// assert_eq!(tracked.observe(&paid, now, &policy), None, "a duplicate is not a second payment");
/// assert_eq!(tracked.next_due_at(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrackedSession {
    session_id: String,
    expires_at_ms: i64,
    #[serde(default)]
    status: Option<SessionStatus>,
    #[serde(default)]
    updated_at_ms: Option<i64>,
    #[serde(default)]
    final_status: Option<FinalStatus>,
    #[serde(default)]
    handed_off: bool,
    #[serde(default)]
    next_due_ms: Option<i64>,
    interval_ms: u64,
    #[serde(default)]
    failures: u32,
    /// A final status a callback brought, waiting for a read to confirm it.
    #[serde(default)]
    claimed: Option<FinalStatus>,
    /// When that callback was applied: a read after it that shows no final status contradicts it.
    #[serde(default)]
    claimed_at_ms: Option<i64>,
    /// Whether the final status was shown by the API (a read), not only by a callback.
    #[serde(default)]
    confirmed: bool,
    /// The app's order the session pays for, when the app said.
    #[serde(default)]
    order_key: Option<String>,
    /// The hand-off failed too often: nothing is due until the app asks again.
    #[serde(default)]
    parked: bool,
    /// The kind of the app's last hand-off error ([`HandOffError::kind_of`]), while it fails.
    #[serde(default)]
    last_error_kind: Option<String>,
}

impl TrackedSession {
    /// Starts tracking `session_id` at `now`; `expires_at` from the session's creation (or
    /// `now` + [`TrackingPolicy::assumed_lifetime`] when unknown). The first read is due after
    /// [`TrackingPolicy::first_read`].
    pub fn new(
        session_id: impl Into<String>,
        expires_at: Option<SystemTime>,
        now: SystemTime,
        policy: &TrackingPolicy,
    ) -> Self {
        let expires_at = expires_at.unwrap_or_else(|| now.checked_add(policy.assumed_lifetime).unwrap_or(now));
        let mut tracked = Self {
            session_id: session_id.into(),
            expires_at_ms: millis(expires_at),
            status: None,
            updated_at_ms: None,
            final_status: None,
            handed_off: false,
            next_due_ms: None,
            interval_ms: duration_millis(policy.first_read),
            failures: 0,
            claimed: None,
            claimed_at_ms: None,
            confirmed: false,
            order_key: None,
            parked: false,
            last_error_kind: None,
        };
        tracked.schedule(now, policy.first_read, policy);
        tracked
    }

    /// The session's id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// A reference to the session for logs and operators (`trk-` and 12 hex digits of the
    /// SHA-256 of its id): what a log line names instead of the id, and what `kustom-hpp
    /// tracking list --reference` finds. The same for the same session everywhere (PostgreSQL
    /// computes it as `'trk-' || left(encode(sha256(convert_to(session_id, 'UTF8')), 'hex'), 12)`).
    pub fn reference(&self) -> String {
        reference_of(&self.session_id)
    }

    /// The same session, paying for the app's order `order_key`: one order is handed off as
    /// paid once, whichever of its sessions is paid first; another of its sessions paid after is
    /// [`FinalStatus::CompletedTwice`].
    pub fn with_order_key(mut self, order_key: Option<&str>) -> Self {
        self.order_key = order_key.map(str::to_owned);
        self
    }

    /// The app's order the session pays for, if it was tracked with one.
    pub fn order_key(&self) -> Option<&str> {
        self.order_key.as_deref()
    }

    /// The last status kept (the newest by `updated_at`, or the final one), if any was seen.
    pub fn status(&self) -> Option<&SessionStatus> {
        self.status.as_ref()
    }

    /// The final status, once learned (handed off or not).
    pub fn final_status(&self) -> Option<FinalStatus> {
        self.final_status
    }

    /// Where the session stands (what [`Counts`] counts and operators see).
    pub fn standing(&self) -> Standing {
        match (self.final_status, self.handed_off, self.parked) {
            (_, true, _) => Standing::HandedOff,
            (None, _, _) => Standing::Waiting,
            (Some(_), _, true) => Standing::Parked,
            (Some(_), _, false) => Standing::HandOffDue,
        }
    }

    /// The final status whose hand-off to the app is due: learned and not yet handed off.
    pub fn hand_off_due(&self) -> Option<FinalStatus> {
        self.final_status.filter(|_| !self.handed_off)
    }

    /// Whether the final status has been handed off (and tracking is over).
    pub fn is_handed_off(&self) -> bool {
        self.handed_off
    }

    /// When the session expires.
    pub fn expires_at(&self) -> SystemTime {
        from_millis(self.expires_at_ms)
    }

    /// When the store should next act on the session: read it, or (once final) retry its
    /// hand-off. `None` once handed off.
    pub fn next_due_at(&self) -> Option<SystemTime> {
        self.next_due_ms.map(from_millis)
    }

    /// Whether the session is due at `now`.
    pub fn is_due(&self, now: SystemTime) -> bool {
        self.next_due_ms.is_some_and(|due| due <= millis(now))
    }

    /// The order claims take due sessions in (every store's, and the SQL's `ORDER BY
    /// read_priority, next_due_at`): the most likely to have changed first
    /// ([`read_priority`](Self::read_priority)), then the most overdue. Sort by it.
    pub fn claim_order(&self) -> (u8, Option<SystemTime>) {
        (self.read_priority(), self.next_due_at())
    }

    /// How likely a read of it is to find something, for the order claims take under a read
    /// budget ([`TrackingPolicy::max_reads_per_second`]): `0` a final status to confirm (a
    /// callback's) or a hand-off due; `1` a session that changed within the last hour (its reads
    /// are still minutes apart: the consumer is at it); `2` one that has been quiet for longer.
    /// Lower first; within one, the most overdue first.
    pub fn read_priority(&self) -> u8 {
        if self.claimed.is_some() || self.hand_off_due().is_some() {
            0
        } else if self.interval_ms < 3_600_000 {
            1
        } else {
            2
        }
    }

    /// When a tick ([`check_expiry`](Self::check_expiry)) would end the session (as
    /// [`FinalStatus::Expired`], or as the unconfirmed final status a callback brought); `None`
    /// once a final status is known.
    pub fn gives_up_at(&self, policy: &TrackingPolicy) -> Option<SystemTime> {
        let after = policy.give_up_after_expiry.max(policy.expiry_grace);
        let give_up = self.expires_at_ms.saturating_add(duration_millis(after) as i64);
        self.final_status.is_none().then(|| from_millis(give_up))
    }

    /// Whether the final status was shown by the API itself (a read; for
    /// [`FinalStatus::Expired`], a 404 after the grace), not only by a callback or by giving up.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Failed reads (or hand-offs) in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The kind of the app's last hand-off error ([`HandOffError::kind_of`]) while its hand-off
    /// fails (and once parked); `None` once handed off, or before any failure.
    pub fn last_error_kind(&self) -> Option<&str> {
        self.last_error_kind.as_deref()
    }

    /// What a callback or a read said of the session at `now`. Returns the final status while its
    /// hand-off is due (from this step or an earlier one), `None` otherwise.
    ///
    /// A final status is taken whatever its `updated_at`, since the service never moves a session
    /// out of one; the first one learned is kept. A non-final status replaces the kept one only
    /// if its `updated_at` is not older; a new status brings the next read back to
    /// [`TrackingPolicy::first_read`], the same one doubles the interval. A non-final status never
    /// ends the session, even after `expires_at` (a late callback says nothing of the present).
    pub fn observe(&mut self, session: &Session, now: SystemTime, policy: &TrackingPolicy) -> Option<FinalStatus> {
        let became = self.learn(session, true, now, policy);
        if let Some(claimed_at) = self.claimed_at_ms.filter(|_| self.final_status.is_none()) {
            // A read that may have left before the callback came: read again once none can have.
            let fresh = claimed_at.saturating_add(READ_IN_FLIGHT_MS).saturating_add(1);
            self.next_due_ms = Some(self.next_due_ms.map_or(fresh, |due| due.min(fresh)));
        }
        became
    }

    /// What a read (`from_read`, the API's word) or a callback said of the session.
    fn learn(
        &mut self,
        session: &Session,
        from_read: bool,
        now: SystemTime,
        policy: &TrackingPolicy,
    ) -> Option<FinalStatus> {
        if self.final_status.is_some() {
            return self.hand_off_due();
        }
        self.failures = 0;
        let shows_final = session.status.as_ref().and_then(FinalStatus::of);
        if shows_final.is_some() {
            self.confirmed = from_read;
        } else if from_read && self.claimed_at_ms.is_some_and(|at| millis(now) > at.saturating_add(READ_IN_FLIGHT_MS)) {
            // A read that left after the callback was applied, and not final: the API
            // contradicts the callback (forged, or mistaken), which is dropped.
            self.claimed = None;
            self.claimed_at_ms = None;
        }
        if let Some(expires) = session.expires_at_time() {
            self.expires_at_ms = millis(expires);
        }
        let updated_at = session.updated_at.as_deref().and_then(crate::time::parse_rfc3339).map(millis);
        if let Some(status) = &session.status {
            if let Some(done) = FinalStatus::of(status) {
                self.status = Some(status.clone());
                self.updated_at_ms = updated_at.or(self.updated_at_ms);
                return self.finish(done, now);
            }
            let stale = matches!((updated_at, self.updated_at_ms), (Some(new), Some(kept)) if new < kept);
            if !stale {
                let changed = self.status.as_ref() != Some(status);
                self.status = Some(status.clone());
                self.updated_at_ms = updated_at.or(self.updated_at_ms);
                if changed {
                    self.interval_ms = duration_millis(policy.first_read);
                    self.schedule(now, policy.first_read, policy);
                    return self.check_expiry(now, policy);
                }
            }
        }
        self.back_off(now, None, policy);
        self.check_expiry(now, policy)
    }

    /// A read of the session failed at `now`. Reads back off (doubling, at least the
    /// `Retry-After` of a 429); a 404 [`TrackingPolicy::expiry_grace`] or more after `expires_at`
    /// ends the session as [`FinalStatus::Expired`] (before then, it is retried like any failure,
    /// and a read is due when the grace ends), and so does failing to read it for
    /// [`TrackingPolicy::give_up_after_expiry`] past it. A final status a callback brought and no
    /// read could confirm (a 404 once the session expired) is handed off unconfirmed. Returns the
    /// final status while its hand-off is due.
    pub fn read_failed(
        &mut self,
        error: &crate::Error,
        now: SystemTime,
        policy: &TrackingPolicy,
    ) -> Option<FinalStatus> {
        let failure = ReadFailure::of(error, now);
        if self.final_status.is_some() {
            return self.hand_off_due();
        }
        self.failures = self.failures.saturating_add(1);
        let expired = millis(now) >= self.expires_at_ms;
        if failure == ReadFailure::NotFound && expired {
            if let Some(claimed) = self.claimed {
                return self.finish(claimed, now);
            }
            if millis(now) >= self.grace_ends_ms(policy) {
                self.confirmed = true;
                return self.finish(FinalStatus::Expired, now);
            }
        }
        let at_least = match failure {
            ReadFailure::RateLimited(wait) => wait,
            _ => None,
        };
        self.back_off(now, at_least, policy);
        self.check_expiry(now, policy)
    }

    /// Ends the session as [`FinalStatus::Expired`] when `now` is
    /// [`TrackingPolicy::give_up_after_expiry`] past `expires_at` and nothing final was seen (for
    /// a poller that cannot read it at all). Returns the final status while its hand-off is due.
    pub fn check_expiry(&mut self, now: SystemTime, policy: &TrackingPolicy) -> Option<FinalStatus> {
        if self.final_status.is_some() {
            return self.hand_off_due();
        }
        if self.gives_up_at(policy).is_some_and(|give_up| now >= give_up) {
            return self.finish(self.claimed.unwrap_or(FinalStatus::Expired), now);
        }
        None
    }

    /// What a `status_update` callback said of the session at `now`. A status that is not final
    /// is taken as [`observe`](Self::observe) takes it (it moves the schedule). A final one, with
    /// [`TrackingPolicy::confirm_callbacks`] and before `expires_at`, is not trusted yet: it is
    /// recorded, and a read is due at once (its answer decides, [`observe`](Self::observe)).
    /// Otherwise (no confirmation asked, or the session expired, so that the API can no longer
    /// confirm anything) it is taken unconfirmed. A `COMPLETED` that comes after the session was
    /// handed off as [`FinalStatus::Expired`] is a late payment:
    /// [`FinalStatus::CompletedAfterExpired`], handed off once; one that comes while that expiry
    /// is still due for hand-off replaces it. Returns the final status while its hand-off is due.
    pub fn observe_callback(
        &mut self,
        session: &Session,
        now: SystemTime,
        policy: &TrackingPolicy,
    ) -> Option<FinalStatus> {
        let Some(status) = session.status.as_ref().and_then(FinalStatus::of) else {
            return self.learn(session, false, now, policy);
        };
        if self.final_status == Some(FinalStatus::Expired) && status == FinalStatus::Completed {
            let late = if self.handed_off { FinalStatus::CompletedAfterExpired } else { FinalStatus::Completed };
            self.handed_off = false;
            self.confirmed = false;
            self.status = session.status.clone();
            return self.finish(late, now);
        }
        if self.final_status.is_some() {
            return self.hand_off_due();
        }
        let expired = session.expires_at_time().map_or(self.expires_at_ms, millis).min(self.expires_at_ms);
        if policy.confirm_callbacks && millis(now) < expired {
            self.claimed = Some(status);
            self.claimed_at_ms = Some(millis(now));
            self.next_due_ms = Some(millis(now));
            return None;
        }
        self.status = session.status.clone();
        self.finish(status, now)
    }

    /// The app took the final status: commit this with the app's work. Tracking is over.
    pub fn handed_off(&mut self) {
        if self.final_status.is_some() {
            self.handed_off = true;
            self.parked = false;
            self.next_due_ms = None;
            self.failures = 0;
            self.last_error_kind = None;
        }
    }

    /// The app's work failed at `now` with an error of `error_kind` ([`HandOffError::kind_of`],
    /// kept for operators: [`last_error_kind`](Self::last_error_kind)): the final status is
    /// kept and its hand-off is due again after a back-off (doubling up to
    /// [`TrackingPolicy::max_hand_off_interval`]); after [`TrackingPolicy::park_after_failures`] failures
    /// in a row it is parked instead: nothing more is due until the app asks for it again
    /// ([`Input::Unpark`], [`unpark`](Self::unpark)).
    pub fn hand_off_failed(&mut self, error_kind: &str, now: SystemTime, policy: &TrackingPolicy) {
        if self.hand_off_due().is_some() {
            self.last_error_kind = Some(error_kind.to_owned());
            self.failures = self.failures.saturating_add(1);
            self.back_off(now, None, policy);
            if self.failures >= policy.park_after_failures.max(1) {
                self.parked = true;
                self.next_due_ms = None;
            }
        }
    }

    /// Whether the session's hand-off failed too often and it waits for the app
    /// ([`Input::Unpark`]): nothing is due, and it still counts as pending.
    pub fn is_parked(&self) -> bool {
        self.parked
    }

    /// The app (or an operator) asked for a parked session again: its hand-off is due at once,
    /// failures forgotten (the last error's kind stays until it is handed off). Nothing for a
    /// session not parked. [`Input::Unpark`] does this and runs the hand-off in the same step;
    /// a store's operator command does only this, and the next poller runs the hand-off.
    pub fn unpark(&mut self, now: SystemTime) {
        if self.parked {
            self.parked = false;
            self.failures = 0;
            self.next_due_ms = Some(millis(now));
        }
    }

    /// Whether a hand-off of this session would hand off a payment (the first of its order, or
    /// not).
    pub(crate) fn hands_off_a_payment(&self) -> bool {
        matches!(self.hand_off_due(), Some(FinalStatus::Completed | FinalStatus::CompletedAfterExpired))
    }

    /// Another session of the order was handed off as paid: this payment, due for hand-off, is
    /// the order's second.
    pub(crate) fn paid_twice(&mut self) {
        if self.hands_off_a_payment() {
            self.final_status = Some(FinalStatus::CompletedTwice);
        }
    }

    /// When a 404 may end the session as expired: `expires_at` and the grace.
    fn grace_ends_ms(&self, policy: &TrackingPolicy) -> i64 {
        self.expires_at_ms.saturating_add(duration_millis(policy.expiry_grace) as i64)
    }

    fn finish(&mut self, status: FinalStatus, now: SystemTime) -> Option<FinalStatus> {
        self.final_status = Some(status);
        self.claimed = None;
        self.claimed_at_ms = None;
        // Due at once: the hand-off, should the store commit this without it.
        self.next_due_ms = Some(millis(now));
        self.interval_ms = duration_millis(Duration::ZERO);
        Some(status)
    }

    /// Doubles the interval (from [`TrackingPolicy::first_read`] up to its maximum) and schedules
    /// the next read after it, or after `at_least` when that is longer.
    fn back_off(&mut self, now: SystemTime, at_least: Option<Duration>, policy: &TrackingPolicy) {
        // A hand-off due is retried on its own, shorter, cap.
        let cap = if self.hand_off_due().is_some() { policy.max_hand_off_interval } else { policy.max_interval };
        let max = duration_millis(cap).max(duration_millis(policy.first_read));
        self.interval_ms = self.interval_ms.saturating_mul(2).clamp(duration_millis(policy.first_read), max);
        let wait = Duration::from_millis(self.interval_ms).max(at_least.unwrap_or_default());
        self.schedule(now, wait, policy);
    }

    /// The next read after `wait`, but never past the read due just before expiry, nor past the
    /// one due just after it; after both, reads go on at the interval until the session is given
    /// up. (A final session's hand-off retries are not capped: expiry no longer matters.)
    fn schedule(&mut self, now: SystemTime, wait: Duration, policy: &TrackingPolicy) {
        let now = millis(now);
        let next = now.saturating_add(duration_millis(wait) as i64);
        let before = self.expires_at_ms.saturating_sub(duration_millis(policy.read_before_expiry) as i64);
        let after = self.expires_at_ms.saturating_add(duration_millis(policy.read_after_expiry) as i64);
        let grace = self.grace_ends_ms(policy);
        let cap = [before, after, grace].into_iter().find(|&at| now < at && self.final_status.is_none());
        self.next_due_ms = Some(cap.map_or(next, |cap| next.min(cap)));
    }
}

/// [`TrackedSession::reference`] of `session_id`.
pub(crate) fn reference_of(session_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(session_id.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("trk-{hex}")
}

fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(i64::MAX as u64)
}

fn millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
    }
}

fn from_millis(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(magnitude)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(magnitude)
    };
    t.unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_callback_wakes_its_session_by_what_it_says() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let callback = |body: &str| crate::callback::StatusCallback::parse(body.as_bytes()).unwrap();
        let paid = callback(r#"{"event_id":"e1","session":{"session_id":"s1","status":"COMPLETED"}}"#);
        let opened = callback(r#"{"event_id":"e2","session":{"session_id":"s1","status":"IN_PROGRESS"}}"#);
        let nameless = callback(r#"{"event_id":"e3","session":{"status":"COMPLETED"}}"#);
        let mut policy = TrackingPolicy::default();
        let at_once = Received::recording(&paid, now, &policy).unwrap();
        assert_eq!((at_once.session_id, at_once.due_at, at_once.read_priority), ("s1", now, 0));
        let later = Received::recording(&opened, now, &policy).unwrap();
        assert_eq!((later.due_at, later.read_priority), (now + policy.first_read, 1), "activity: the next read");
        assert!(Received::recording(&nameless, now, &policy).is_none(), "applied at once: no session to wake");
        assert_eq!(at_once.answer(true, true), Some(Applied::Received));
        assert_eq!(at_once.answer(true, false), Some(Applied::Duplicate));
        assert_eq!(at_once.answer(false, false), None, "not tracked: applied at once");
        policy.apply_callbacks_at_once = true;
        assert!(Received::recording(&paid, now, &policy).is_none());
    }

    #[test]
    fn a_failed_read_is_classified_from_the_error() {
        use crate::{Operation, ReadSession};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let read_error = |status: u16, retry_after: Option<&str>| {
            let mut response = http::Response::builder().status(status);
            if let Some(value) = retry_after {
                response = response.header("retry-after", value);
            }
            ReadSession::new("s1").parse(response.body(Vec::new()).unwrap()).unwrap_err()
        };
        assert_eq!(ReadFailure::of(&read_error(404, None), now), ReadFailure::NotFound);
        assert_eq!(
            ReadFailure::of(&read_error(429, Some("120")), now),
            ReadFailure::RateLimited(Some(Duration::from_secs(120)))
        );
        assert_eq!(ReadFailure::of(&read_error(429, None), now), ReadFailure::RateLimited(None));
        for status in [400, 401, 500, 503] {
            assert_eq!(ReadFailure::of(&read_error(status, Some("120")), now), ReadFailure::Transient, "{status}");
        }
        let no_answer = crate::Error::Transport(crate::TransportError::connect("refused"));
        assert_eq!(ReadFailure::of(&no_answer, now), ReadFailure::Transient);
    }
}
