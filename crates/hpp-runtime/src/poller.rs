//! [`Poller`]: the background task that reads tracked sessions when they are due, so that a
//! session whose callbacks never came (the service stops after its fourth attempt) still
//! reaches the app, once.

use std::sync::Arc;
use std::time::Duration;

use hpp_core::tracking::{Applied, HandOff, Input, StoreError, TrackingStore};
use hpp_core::{Client, Timer, Transport};
use tokio::task::JoinSet;

/// How a [`Poller`] works. Build with [`Default`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollerOptions {
    /// This poller's name in the store's claims (default: `poller-<process id>`). Give each
    /// replica its own.
    pub owner: String,
    /// Sessions claimed at a time (default 32).
    pub batch: usize,
    /// Reads in flight at once (default 8).
    pub concurrency: usize,
    /// How long a claim keeps other pollers off a session (default 60 s): longer than a read
    /// with its retries takes. A crashed poller's sessions are read again after it.
    pub lease: Duration,
    /// How long to wait before looking again when nothing was due (default 1 s).
    pub idle: Duration,
}

impl Default for PollerOptions {
    fn default() -> Self {
        Self {
            owner: format!("poller-{}", std::process::id()),
            batch: 32,
            concurrency: 8,
            lease: Duration::from_secs(60),
            idle: Duration::from_secs(1),
        }
    }
}

/// What one round of a [`Poller`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollRound {
    /// Sessions claimed and read.
    pub read: usize,
    /// Final statuses handed to the app.
    pub handed_off: usize,
    /// Reads whose step could not be applied (busy elsewhere, a failed hand-off, a store
    /// error): their claims lapse and they are read again.
    pub deferred: usize,
}

/// Reads due sessions through a [`Client`] and feeds the answers to a [`TrackingStore`]: the
/// same rules and the same exactly-once hand-off as the callbacks. Several pollers (one per
/// replica) share a store's sessions through its claims.
///
/// ```no_run
/// use std::sync::Arc;
/// use hpp_core::tracking::{Finished, HandOff, MemoryStore};
/// use hpp_runtime::{Poller, TokioTimer};
///
/// struct Ship;
/// impl HandOff<MemoryStore> for Ship {
///     async fn hand_off(&self, _tx: &(), finished: &Finished) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///         println!("{} is {}", finished.session_id, finished.status);
///         Ok(())
///     }
/// }
///
/// # async fn run(client: hpp_core::Client) {
/// let store = Arc::new(MemoryStore::default());
/// let poller = Poller::new(store, client, Arc::new(Ship), TokioTimer::new());
/// tokio::spawn(poller.run(std::future::pending()));
/// # }
/// ```
pub struct Poller<S, T, H, C = crate::TokioTimer> {
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

    /// Runs rounds until `shutdown` completes, waiting [`PollerOptions::idle`] when a round found
    /// nothing due. A store error ends a round, not the poller (it is logged; the next round
    /// tries again).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let idle = match self.round().await {
                Ok(round) => round.read == 0,
                Err(e) => {
                    tracing::warn!(error = %e, "hpp poller: a round failed");
                    true
                }
            };
            let wait = if idle { self.inner.options.idle } else { Duration::ZERO };
            tokio::select! {
                () = &mut shutdown => return,
                () = self.inner.clock.sleep(wait) => {}
            }
        }
    }

    /// One round: claims up to [`PollerOptions::batch`] due sessions, reads them (at most
    /// [`PollerOptions::concurrency`] at once; the client retries reads on transient failures)
    /// and applies each read.
    pub async fn round(&self) -> Result<PollRound, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.system_now();
        let claimed = inner
            .store
            .claim_due(&inner.options.owner, inner.options.batch, inner.options.lease, now, &*inner.hand_off)
            .await?;
        let mut round = PollRound { read: claimed.len(), ..PollRound::default() };
        let mut reads = JoinSet::new();
        let mut queue = claimed.into_iter();
        loop {
            while reads.len() < inner.options.concurrency.max(1) {
                let Some(session_id) = queue.next() else { break };
                let inner = self.inner.clone();
                reads.spawn(async move { inner.read_and_apply(&session_id).await });
            }
            let Some(done) = reads.join_next().await else { break };
            match done {
                Ok(Ok(Applied::Done { handed_off: Some(_) })) => round.handed_off += 1,
                Ok(Ok(Applied::Done { .. } | Applied::Duplicate)) => {}
                Ok(Ok(_) | Err(_)) | Err(_) => round.deferred += 1,
            }
        }
        Ok(round)
    }
}

impl<S, T, H, C> Inner<S, T, H, C>
where
    S: TrackingStore,
    T: Transport,
    H: HandOff<S>,
    C: Timer,
{
    async fn read_and_apply(&self, session_id: &str) -> Result<Applied, StoreError> {
        let read = self.client.read_session(session_id).await;
        let now = self.clock.system_now();
        if let Err(e) = &read {
            // Its status only, never the error's text (a transport's message can name the URL).
            tracing::debug!(status = ?e.status().map(|s| s.as_u16()), "hpp poller: a read failed");
        }
        let result = read.as_ref();
        let applied = self.store.apply(Input::Read { session_id, result }, now, &*self.hand_off).await;
        match &applied {
            Err(StoreError::HandOff(_)) => tracing::info!("hpp poller: the app's hand-off failed; it is retried"),
            Err(e) => tracing::warn!(error = %e, "hpp poller: a read could not be applied"),
            Ok(_) => {}
        }
        applied
    }
}
