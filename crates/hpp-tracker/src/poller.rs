//! [`Poller`]: the background task that steps tracked sessions when they are due, so that a
//! session whose callbacks never came (the service stops after its fourth attempt) still
//! reaches the app, once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hpp_core::tracking::{Applied, Due, FinalStatus, HandOff, Input, ReadFailure, StoreError, TrackingStore};
use hpp_core::{Client, Timer, Transport};
use tokio::task::JoinSet;

use crate::contain::within;

/// How a [`Poller`] works. Build with [`Default`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollerOptions {
    /// This poller's name in the store's claims (default: `poller-<host name>-<process id>-<a
    /// random part>`, unique per process even where every container replica is process 1).
    pub owner: String,
    /// Sessions stepped at once (default 8): each slot claims one due session, reads it (or
    /// expires it), applies the result, and claims the next. A slow read or a stuck hand-off
    /// holds its own slot only.
    pub slots: usize,
    /// How long a claim keeps other pollers off a session (default 60 s): longer than
    /// [`step_budget`](Self::step_budget). A crashed poller's sessions are stepped again after
    /// it; so is a session whose step panicked or ran out of time (the lease is its back-off).
    pub lease: Duration,
    /// The most time one step may take, its read (with the client's retries) and the app's work
    /// included (default 30 s, half the lease): past it the step is abandoned (nothing of it
    /// commits), logged, and the slot goes on.
    pub step_budget: Duration,
    /// How long a slot waits before looking again when nothing was due (default 1 s).
    pub idle: Duration,
    /// When this poller hands a session off as paid (the first of its order; with
    /// `TrackingPolicy::confirm_callbacks`, every confirmed payment is handed off by a poller's
    /// read), disable the order's other sessions that are still open, through the client
    /// (default `false`): a consumer with a
    /// second link (another device, an e-mail) cannot pay the order twice. Sessions tracked
    /// without an order key have none. A failed disable is logged; the session then ends as it
    /// ends (a second payment is handed off as `COMPLETED_TWICE`).
    pub disable_other_sessions_when_paid: bool,
    /// How often [`run`](Poller::run) deletes what the store keeps no longer
    /// ([`TrackingStore::prune`]: sessions handed off, and event ids, older than
    /// `TrackingPolicy::retention`) (default every 10 minutes; the first pass one interval after
    /// the start). Several replicas may prune at once: each deletes rows the others skip.
    pub prune_every: Duration,
    /// How often [`run`](Poller::run) counts the store's sessions for the gauges
    /// (`hpp_tracker_sessions`, `hpp_tracker_sessions_due`, `hpp_tracker_oldest_pending_seconds`;
    /// default every 15 seconds, one query).
    pub gauges_every: Duration,
    /// Rows one prune statement deletes at most (default 1,000): short statements, short locks.
    /// A pass goes on while they find rows, up to 100 of them.
    pub prune_batch: usize,
}

impl Default for PollerOptions {
    fn default() -> Self {
        Self {
            owner: default_owner(),
            slots: 8,
            lease: Duration::from_secs(60),
            step_budget: Duration::from_secs(30),
            idle: Duration::from_secs(1),
            disable_other_sessions_when_paid: false,
            prune_every: Duration::from_secs(600),
            gauges_every: Duration::from_secs(15),
            prune_batch: 1000,
        }
    }
}

/// How long reads pause after a 429 without `Retry-After`.
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// What stepping due sessions did ([`Poller::round`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollRound {
    /// Sessions claimed and stepped (read, or expired).
    pub stepped: usize,
    /// Final statuses handed to the app.
    pub handed_off: usize,
    /// Steps not applied (busy elsewhere, a failed or panicking hand-off, a store error): their
    /// claims lapse and they are stepped again.
    pub deferred: usize,
}

/// What one slot's step came to.
enum Stepped {
    /// Nothing was due.
    Idle,
    /// A session was stepped: whether its final status was handed off, or whether the step
    /// was deferred.
    Done { handed_off: bool, deferred: bool },
    /// The claim itself failed (the store is unreachable).
    ClaimFailed,
}

/// Steps due sessions: claims each from a [`TrackingStore`], reads it through a [`Client`] (or
/// expires it, past giving up) and applies the result: the same rules and the same
/// exactly-once hand-off as the callbacks. Several pollers (one per replica) share a store's
/// sessions through its claims.
///
/// The app's code runs inside each step: a panic there is contained (logged at error, counted
/// as deferred; the session's claim lapses and it is stepped again), never the end of
/// [`run`](Self::run).
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hpp_core::tracking::{Finished, HandOff, MemoryStore};
/// use hpp_runtime::TokioTimer;
/// use hpp_tracker::Poller;
///
/// struct Ship;
/// impl HandOff<MemoryStore> for Ship {
///     async fn hand_off(&self, _tx: &mut (), finished: &Finished) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///         println!("{} is {}", finished.session_id, finished.status);
///         Ok(())
///     }
/// }
///
/// # async fn run(client: hpp_core::Client) {
/// let store = Arc::new(MemoryStore::default());
/// let poller = Poller::new(store, client, Arc::new(Ship), TokioTimer::new());
/// let shutdown = std::future::pending::<()>(); // your app's shutdown signal (tokio::signal::ctrl_c)
/// tokio::spawn(poller.run(shutdown, Duration::from_secs(10)));
/// # }
/// ```
pub struct Poller<S, T, H, C = hpp_runtime::TokioTimer> {
    inner: Arc<Inner<S, T, H, C>>,
}

struct Inner<S, T, H, C> {
    store: Arc<S>,
    client: Client<T>,
    hand_off: Arc<H>,
    clock: C,
    options: PollerOptions,
}

impl<S, T, H, C> std::fmt::Debug for Poller<S, T, H, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").field("options", &self.inner.options).finish_non_exhaustive()
    }
}

impl<S, T, H, C> Clone for Poller<S, T, H, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<S, T, H, C> Poller<S, T, H, C>
where
    S: TrackingStore + 'static,
    T: Transport + Clone + Send + Sync + 'static,
    H: HandOff<S> + 'static,
    C: Timer + 'static,
{
    /// A poller with the default options, reading the time from `clock`.
    pub fn new(store: Arc<S>, client: Client<T>, hand_off: Arc<H>, clock: C) -> Self {
        Self::with_options(store, client, hand_off, clock, PollerOptions::default())
    }

    /// A poller with `options`.
    pub fn with_options(store: Arc<S>, client: Client<T>, hand_off: Arc<H>, clock: C, options: PollerOptions) -> Self {
        Self { inner: Arc::new(Inner { store, client, hand_off, clock, options }) }
    }

    /// Runs [`PollerOptions::slots`] slots until `shutdown` completes, then lets the steps under
    /// way finish for at most `grace`; steps still running then are abandoned (nothing of an
    /// abandoned step commits: its session is stepped again later, here or elsewhere). Returns
    /// once every slot has stopped. A failed claim (the store unreachable) or a failed step is
    /// logged and waited out, never the end of the poller.
    pub async fn run(self, shutdown: impl Future<Output = ()>, grace: Duration) {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut slots = JoinSet::new();
        for _ in 0..self.inner.options.slots.max(1) {
            let inner = self.inner.clone();
            let mut stop = stop.clone();
            slots.spawn(async move {
                while !*stop.borrow() {
                    let wait = match inner.step_one().await {
                        Stepped::Done { .. } => continue,
                        Stepped::Idle | Stepped::ClaimFailed => inner.options.idle,
                    };
                    tokio::select! {
                        _ = stop.changed() => {}
                        () = inner.clock.sleep(wait) => {}
                    }
                }
            });
        }
        let inner = self.inner.clone();
        let mut stop_pruning = stop.clone();
        slots.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop_pruning.changed() => return,
                    () = inner.clock.sleep(inner.options.prune_every) => {}
                }
                match inner.prune().await {
                    Ok(0) => {}
                    Ok(deleted) => {
                        crate::report::pruned(deleted);
                        tracing::info!(deleted, "hpp poller: deleted sessions and events past their retention");
                    }
                    Err(e) => tracing::warn!(error = %e, "hpp poller: pruning past the retention failed"),
                }
            }
        });
        let inner = self.inner.clone();
        let mut stop_counting = stop.clone();
        slots.spawn(async move {
            loop {
                match inner.store.counts(inner.clock.system_now()).await {
                    Ok(counts) => crate::report::counts(&counts, inner.clock.system_now()),
                    Err(e) => tracing::warn!(error = %e, "hpp poller: counting the store's sessions failed"),
                }
                tokio::select! {
                    _ = stop_counting.changed() => return,
                    () = inner.clock.sleep(inner.options.gauges_every) => {}
                }
            }
        });
        shutdown.await;
        let _ = stop_tx.send(true);
        let drained = async { while slots.join_next().await.is_some() {} };
        tokio::select! {
            () = drained => {}
            () = self.inner.clock.sleep(grace) => {
                tracing::warn!(grace = ?grace, "hpp poller: steps still under way at the end of the grace period were abandoned");
                slots.abort_all();
                while slots.join_next().await.is_some() {}
            }
        }
    }

    /// Deletes what the store keeps no longer, now ([`TrackingStore::prune`]): batches of
    /// [`PollerOptions::prune_batch`] while they find rows, at most 100, each within the step
    /// budget; returns how many rows were deleted. [`run`](Self::run) does this every
    /// [`PollerOptions::prune_every`]; for one-shot jobs and tests.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        self.inner.prune().await
    }

    /// Steps every session due now, once, in up to [`PollerOptions::slots`] slots, and returns
    /// what was done: for tests and one-shot jobs (`run` is this, for ever). Each slot claims
    /// one session at a time, so a slow one holds one slot; the round ends when no slot finds
    /// anything due.
    pub async fn round(&self) -> Result<PollRound, StoreError> {
        let mut slots = JoinSet::new();
        for _ in 0..self.inner.options.slots.max(1) {
            let inner = self.inner.clone();
            slots.spawn(async move {
                let mut round = PollRound::default();
                loop {
                    match inner.step_one().await {
                        Stepped::Idle => return Ok(round),
                        Stepped::ClaimFailed => return Err(()),
                        Stepped::Done { handed_off, deferred } => {
                            round.stepped += 1;
                            round.handed_off += usize::from(handed_off);
                            round.deferred += usize::from(deferred);
                        }
                    }
                }
            });
        }
        let mut total = PollRound::default();
        let mut failed = false;
        while let Some(slot) = slots.join_next().await {
            match slot {
                Ok(Ok(round)) => {
                    total.stepped += round.stepped;
                    total.handed_off += round.handed_off;
                    total.deferred += round.deferred;
                }
                Ok(Err(())) | Err(_) => failed = true,
            }
        }
        if failed && total.stepped == 0 {
            return Err(StoreError::Backend("the store could not be claimed from".into()));
        }
        Ok(total)
    }
}

impl<S, T, H, C> Inner<S, T, H, C>
where
    S: TrackingStore,
    T: Transport,
    H: HandOff<S>,
    C: Timer,
{
    /// One pass of pruning (see [`Poller::prune`]).
    async fn prune(&self) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for _ in 0..100 {
            let now = self.clock.system_now();
            let batch = self.store.prune(now, self.options.prune_batch.max(1));
            match within(&self.clock, self.options.step_budget, batch).await {
                Some(Ok(0)) => break,
                Some(Ok(n)) => deleted += n,
                Some(Err(e)) => return Err(e),
                None => return Err(StoreError::Backend("pruning ran out of time (the step budget)".into())),
            }
        }
        Ok(deleted)
    }

    /// Claims one due session and steps it, the app's code contained.
    async fn step_one(&self) -> Stepped {
        let now = self.clock.system_now();
        // The claim has the step's budget too: a store cut off (a partition) holds no slot.
        let claim = self.store.claim_due(&self.options.owner, 1, self.options.lease, now);
        let Some(claimed) = within(&self.clock, self.options.step_budget, claim).await else {
            tracing::warn!(budget = ?self.options.step_budget, "hpp poller: claiming due sessions ran out of time");
            return Stepped::ClaimFailed;
        };
        let due = match claimed {
            Ok(mut due) => match due.pop() {
                Some(due) => due,
                None => return Stepped::Idle,
            },
            Err(e) => {
                tracing::warn!(error = %e, "hpp poller: claiming due sessions failed");
                return Stepped::ClaimFailed;
            }
        };
        let started = self.clock.now();
        let budgeted = within(&self.clock, self.options.step_budget, self.step(&due));
        let stepped = hpp_runtime::caught(budgeted).await;
        crate::report::poller_step(self.clock.now().saturating_sub(started));
        let stepped = match stepped {
            Ok(Some(applied)) => Ok(applied),
            Ok(None) => {
                tracing::warn!(budget = ?self.options.step_budget, "hpp poller: a step ran out of time and was abandoned; it is retried after its lease");
                return Stepped::Done { handed_off: false, deferred: true };
            }
            Err(hpp_runtime::Panicked) => Err(()),
        };
        match stepped {
            Ok(Ok(Applied::Done { handed_off })) => {
                if let Some(status) = handed_off {
                    crate::report::handed_off("poller", status);
                }
                if handed_off == Some(FinalStatus::Completed) && self.options.disable_other_sessions_when_paid {
                    self.disable_other_sessions(due.session_id()).await;
                }
                Stepped::Done { handed_off: handed_off.is_some(), deferred: false }
            }
            Ok(Ok(Applied::Duplicate)) => Stepped::Done { handed_off: false, deferred: false },
            Ok(Ok(_)) => Stepped::Done { handed_off: false, deferred: true },
            Ok(Err(StoreError::HandOff(e))) => {
                crate::report::hand_off_failed(&*self.store, due.session_id(), &*e, "poller").await;
                Stepped::Done { handed_off: false, deferred: true }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "hpp poller: a step could not be applied");
                Stepped::Done { handed_off: false, deferred: true }
            }
            Err(()) => {
                tracing::error!("hpp poller: a step panicked (the app's hand-off?); it is retried after its lease");
                Stepped::Done { handed_off: false, deferred: true }
            }
        }
    }

    /// Disables the open sessions of the order `session_id` paid (logged, never failing).
    async fn disable_other_sessions(&self, session_id: &str) {
        let order_key = match self.store.get(session_id).await {
            Ok(Some(state)) => state.order_key().map(str::to_owned),
            _ => None,
        };
        let Some(order_key) = order_key else { return };
        let siblings = match self.store.order_sessions(&order_key).await {
            Ok(siblings) => siblings,
            Err(e) => {
                tracing::warn!(error = %e, "hpp poller: the order's other sessions could not be listed");
                return;
            }
        };
        for sibling in siblings.iter().filter(|s| s.session_id() != session_id && s.final_status().is_none()) {
            if let Err(e) = self.client.disable_session(sibling.session_id()).await {
                // Its status only (a transport's message can name the URL).
                tracing::warn!(status = ?e.status().map(|s| s.as_u16()), "hpp poller: disabling a paid order's other session failed");
            }
        }
    }

    /// Reads (or expires) one claimed session and applies the result.
    async fn step(&self, due: &Due) -> Result<Applied, StoreError> {
        let session_id = due.session_id();
        match due {
            Due::Expire(_) => {
                let now = self.clock.system_now();
                self.store.apply(Input::Tick { session_id }, now, &*self.hand_off).await
            }
            _ => {
                let read = self.client.read_session(session_id).await;
                let now = self.clock.system_now();
                // The rules' own classification of the failure (hpp-core's), for the metric and the pause.
                let failure = read.as_ref().err().map(|e| ReadFailure::of(e, now));
                crate::report::read(match failure {
                    None => "ok",
                    Some(ReadFailure::NotFound) => "not_found",
                    Some(ReadFailure::RateLimited(_)) => "rate_limited",
                    Some(_) => "failed",
                });
                if let Err(e) = &read {
                    // Its status only, never the error's text (a transport's message can name the URL).
                    tracing::debug!(status = ?e.status().map(|s| s.as_u16()), "hpp poller: a read failed");
                    if let Some(ReadFailure::RateLimited(retry_after)) = failure {
                        // The account's rate limit is checkout's too: every replica pauses.
                        let pause = retry_after.unwrap_or(RATE_LIMIT_PAUSE);
                        tracing::warn!(
                            pause_secs = pause.as_secs(),
                            "hpp poller: the API rate-limited a read; reads pause on every replica"
                        );
                        if let Err(e) = self.store.pause_reads(now + pause).await {
                            tracing::warn!(error = %e, "hpp poller: the pause of reads could not be stored");
                        }
                    }
                }
                let result = read.as_ref();
                self.store.apply(Input::Read { session_id, result }, now, &*self.hand_off).await
            }
        }
    }
}

/// `poller-<host name>-<process id>-<random>`: unique per process, also where every container
/// replica is process 1 and host names repeat.
fn default_owner() -> String {
    use std::hash::BuildHasher;
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect::<String>())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    // Random enough to tell processes apart (not a secret): the standard library's hash keys.
    let random = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    format!("poller-{host}-{}-{:08x}", std::process::id(), random as u32)
}
