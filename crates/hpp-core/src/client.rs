//! [`Client`]: the high-level calls, written once for every [`Transport`], with retries decided by
//! the pure [`RetryPolicy`].
//!
//! This is the only async code in the core. It depends on no runtime: the transport supplies the
//! future that does the I/O, and the [`Timer`] the client was built with the waiting, clocks and
//! jitter that retries, per-call timeouts and watches need.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::config::Config;
use crate::distribution::Distribution;
use crate::error::{Error, ErrorCode, TransportError};
use crate::model::{Session, SessionCreated};
use crate::ops::{CreateSession, DisableSession, DistributeSession, Operation, ReadSession};
use crate::retry::RetryPolicy;
use crate::session::SessionRef;
use crate::transport::{RequestTimeout, SharedTransport, Timer, Transport, race_deadline};
use crate::watch::{PollSchedule, PollStep};

/// Settings for [`Client::wait_for_final_status`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Time between reads at first and after each change (default 2 s).
    pub initial_interval: Duration,
    /// The longest time between reads while nothing changes (default 30 s).
    pub max_interval: Duration,
    /// Give up after this long (default: only expiry ends the watch).
    pub deadline: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self { initial_interval: Duration::from_secs(2), max_interval: Duration::from_secs(30), deadline: None }
    }
}

impl WatchOptions {
    /// Reads every `initial` at first, backing off to `max`.
    pub fn with_interval(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_interval = initial;
        self.max_interval = max;
        self
    }

    /// Gives up after `deadline`.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

/// How [`Client::wait_for_final_status`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchOutcome {
    /// The session reached a final status.
    Final(Session),
    /// The session expired; the last read of it, if any.
    Expired(Option<Session>),
    /// The deadline passed first; the last read of it, if any.
    DeadlinePassed(Option<Session>),
}

/// The HPP API over a [`Transport`], with the [`Timer`] its retries, per-call timeouts and status
/// watches wait with.
///
/// The calls are written once for every transport. They depend on no runtime: the transport
/// supplies the future that does the I/O, the timer the waiting, clock and jitter. Each call
/// builds its request with the pure [`Operation::build`](crate::Operation::build), sends it,
/// parses the answer with [`Operation::parse`](crate::Operation::parse), and asks the pure
/// [`RetryPolicy`] whether to send it again: reads and disables are retried on transient
/// failures; a create or distribution only when its side effect
/// [did not happen](crate::SideEffect::DidNotHappen).
///
/// `Client` alone is `Client<SharedTransport>`: any transport behind one type.
///
/// ```no_run
/// # async fn run<T: hpp_core::Transport>(client: hpp_core::Client<T>) -> Result<(), hpp_core::Error> {
/// use hpp_core::{CreateSession, Distribution};
/// let created = client
///     .create_session(&CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/1"))
///     .await?;
/// client.distribute_session(&created, Distribution::email("jane@example.com")?).await?;
/// let session = client.read_session(&created).await?;
/// println!("status: {:?}", session.status);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client<T = SharedTransport> {
    config: Config,
    transport: T,
    timer: Arc<dyn Timer>,
    retry: RetryPolicy,
}

impl<T: fmt::Debug> fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("transport", &self.transport)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Client<T> {
    /// A client for `config` sending through `transport` and waiting with `timer`, retrying as
    /// [`RetryPolicy::default`] allows. The timer is part of the client, not of the transport,
    /// so wrapping or replacing the transport never turns retries or watches off.
    pub fn new(config: Config, transport: T, timer: impl Timer + 'static) -> Self {
        Self { config, transport, timer: Arc::new(timer), retry: RetryPolicy::default() }
    }

    /// Uses `retry` for every call that does not bring its own.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The same client over a [`SharedTransport`], so clients over different transports have
    /// one type.
    pub fn into_shared(self) -> Client<SharedTransport>
    where
        T: Send + Sync + 'static,
    {
        Client {
            config: self.config,
            transport: SharedTransport::new(self.transport),
            timer: self.timer,
            retry: self.retry,
        }
    }

    /// Builds, sends and parses any operation, retrying as the client's policy allows.
    pub fn send<'a, O: Operation>(&'a self, operation: &'a O) -> impl Future<Output = Result<O::Output, Error>> + 'a {
        self.call(operation, self.retry.attempt_timeout, &self.retry)
    }

    /// [`send`](Self::send) with this call's own retry policy (and its attempt timeout) in place
    /// of the client's.
    ///
    /// A create or distribution that may have reached the server is never sent again unless
    /// `policy` opted in to retrying it on 503.
    ///
    /// ```no_run
    /// # async fn run(client: hpp_core::Client, op: hpp_core::DistributeSession) -> Result<(), hpp_core::Error> {
    /// use std::time::Duration;
    /// use hpp_core::retry::RetryPolicy;
    ///
    /// // This distribution may be sent twice on a 503: the caller accepts a second e-mail.
    /// let policy = RetryPolicy::default()
    ///     .with_attempt_timeout(Duration::from_secs(5))
    ///     .with_side_effect_retry_on_503(true);
    /// client.send_with(&op, &policy).await?;
    /// # Ok(()) }
    /// ```
    pub fn send_with<'a, O: Operation>(
        &'a self,
        operation: &'a O,
        policy: &'a RetryPolicy,
    ) -> impl Future<Output = Result<O::Output, Error>> + 'a {
        self.call(operation, policy.attempt_timeout, policy)
    }

    /// The retry loop of [`send_with`](Self::send_with). Returned as it is, not wrapped in
    /// another `async fn` per public method: every layer of future is one more copy of it, per
    /// call.
    fn call<'a, O: Operation>(
        &'a self,
        operation: &'a O,
        timeout: Option<Duration>,
        policy: &'a RetryPolicy,
    ) -> impl Future<Output = Result<O::Output, Error>> + 'a {
        // Field names as OpenTelemetry's HTTP client conventions spell them; never an id (the
        // URL's template, not the URL).
        let span =
            tracing::info_span!("hpp", operation = O::NAME, url = O::URL_TEMPLATE, url.template = O::URL_TEMPLATE);
        async move {
            let timer = &*self.timer;
            let started = timer.now();
            let mut attempt = 1;
            loop {
                let error = match self.attempt(operation, timeout, attempt).await {
                    Ok(output) => return Ok(output),
                    Err(error) => error,
                };
                let elapsed = timer.now().saturating_sub(started);
                match policy.decide(O::REPEATABLE, attempt, elapsed, &error, timer.jitter(), timer.system_now()) {
                    Ok(wait) => {
                        tracing::info!(attempt, wait_ms = wait.as_millis() as u64, "retrying");
                        timer.sleep(wait).await;
                        attempt += 1;
                    }
                    Err(reason) => {
                        tracing::debug!(attempt, ?reason, "not retrying");
                        return Err(error.during(O::KIND));
                    }
                }
            }
        }
        .instrument(span)
    }

    async fn attempt<O: Operation>(
        &self,
        operation: &O,
        timeout: Option<Duration>,
        attempt: u32,
    ) -> Result<O::Output, Error> {
        let mut request = operation.build(&self.config)?;
        if let Some(timeout) = timeout {
            request.extensions_mut().insert(RequestTimeout(timeout));
        }
        let span = tracing::debug_span!(
            "attempt",
            attempt,
            http.request.method = %request.method(),
            server.address = request.uri().host().unwrap_or_default(),
            server.port = request.uri().port_u16().unwrap_or_else(|| if request.uri().scheme_str() == Some("http") { 80 } else { 443 }),
            http.request.resend_count = attempt.saturating_sub(1),
            http.response.status_code = tracing::field::Empty,
            error.r#type = tracing::field::Empty,
        );
        // One await for both cases (with a per-call deadline or without), and the transport's
        // future pinned where it was made: it is held in one place, not moved between two.
        let sending = std::pin::pin!(self.transport.send(request));
        let deadline = timeout.map(|timeout| self.timer.sleep(timeout));
        let response = race_deadline(sending, deadline).instrument(span.clone()).await;
        span.in_scope(|| {
            let response = response
                .unwrap_or_else(|| {
                    let timeout = timeout.unwrap_or_default();
                    Err(TransportError::timeout(PerCallTimeout(timeout)))
                })
                .inspect_err(|e| {
                    tracing::Span::current().record("error.type", e.kind().as_str());
                    tracing::info!(kind = ?e.kind(), may_have_been_sent = e.may_have_been_sent(), "no response");
                })?;
            let status = response.status().as_u16();
            let current = tracing::Span::current();
            current.record("http.response.status_code", status);
            if !response.status().is_success() {
                current.record("error.type", status);
            }
            let result = operation.parse(response);
            match &result {
                Ok(_) => tracing::debug!(status, "success"),
                Err(Error::Api(api)) => tracing::info!(
                    status,
                    error_code = api.error_code().map(|c| c.as_str()),
                    correlation_id = api.correlation_id(),
                    "api error"
                ),
                Err(_) => tracing::info!(status, "undecodable response"),
            }
            result
        })
    }

    /// Reads `session` on a backing-off schedule (from `options.initial_interval`, doubling while
    /// nothing changes, up to `options.max_interval`, never past `expires_at`) until it reaches a final status, expires, or
    /// `options.deadline` passes, calling `on_change` with each new status (the first read
    /// included). Transient failures (no response, 429, 5xx) do not end the watch; other errors
    /// are returned, and so is a 404 on the first read (no such session: expiry is for a session
    /// that was seen). Cancel it by dropping the future. It waits with the client's [`Timer`].
    ///
    /// Use it beside `status_update` callbacks, which stop after a few retries.
    pub async fn wait_for_final_status(
        &self,
        session: impl Into<SessionRef>,
        options: &WatchOptions,
        mut on_change: impl FnMut(&Session),
    ) -> Result<WatchOutcome, Error> {
        let timer = &*self.timer;
        let read = ReadSession::new(session);
        let mut schedule = PollSchedule::new(options.initial_interval, options.max_interval);
        let started = timer.now();
        let mut last: Option<Session> = None;
        loop {
            let wait = match self.send(&read).await {
                Ok(session) => {
                    if schedule.is_change(&session) {
                        on_change(&session);
                    }
                    match schedule.next(&session, timer.system_now()) {
                        PollStep::Final(_) => return Ok(WatchOutcome::Final(session)),
                        PollStep::Expired => return Ok(WatchOutcome::Expired(Some(session))),
                        PollStep::Wait(wait) => {
                            last = Some(session);
                            wait
                        }
                    }
                }
                // Expiry is for a session that was seen: a first read that finds nothing is an
                // error (a wrong id), not a session that ended.
                Err(e)
                    if last.is_some()
                        && (e.error_code() == Some(&ErrorCode::NotFound) || e.status().is_some_and(|s| s == 404)) =>
                {
                    return Ok(WatchOutcome::Expired(last));
                }
                Err(Error::Transport(e)) => {
                    // The kind only: a transport's message can carry the URL, and with it the id.
                    tracing::info!(kind = ?e.kind(), "watch: read failed, will read again");
                    options.initial_interval
                }
                Err(e) if e.status().is_some_and(|s| s == 429 || s.is_server_error()) => options.initial_interval,
                Err(e) => return Err(e),
            };
            let wait = match options.deadline {
                Some(deadline) => {
                    let elapsed = timer.now().saturating_sub(started);
                    if elapsed >= deadline {
                        return Ok(WatchOutcome::DeadlinePassed(last));
                    }
                    wait.min(deadline - elapsed)
                }
                None => wait,
            };
            timer.sleep(wait).await;
        }
    }

    /// Creates a session.
    pub async fn create_session(&self, request: &CreateSession) -> Result<SessionCreated, Error> {
        self.send(request).await
    }

    /// Reads a session by id or `session_url`.
    pub async fn read_session(&self, session: impl Into<SessionRef>) -> Result<Session, Error> {
        self.send(&ReadSession::new(session)).await
    }

    /// Disables a session by id or `session_url`.
    pub async fn disable_session(&self, session: impl Into<SessionRef>) -> Result<(), Error> {
        self.send(&DisableSession::new(session)).await
    }

    /// Distributes a session by id or `distribution_url`. Never sent twice by the SDK, unless a
    /// policy from [`send_with`](Self::send_with) opts in.
    pub async fn distribute_session(
        &self,
        session: impl Into<SessionRef>,
        distribution: Distribution,
    ) -> Result<(), Error> {
        self.send(&DistributeSession::new(session, distribution)).await
    }
}

/// The cause of a timeout the client enforced itself.
#[derive(Debug)]
struct PerCallTimeout(Duration);

impl fmt::Display for PerCallTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the per-call timeout of {:?} passed", self.0)
    }
}

impl std::error::Error for PerCallTimeout {}
