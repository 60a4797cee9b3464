//! A local server that behaves like the Kustom Hosted Payment Page API, for integration tests
//! (as stripe-mock is for Stripe), demos and offline work.
//!
//! It serves the four HPP operations on the real paths with the real status codes and JSON shapes,
//! requires HTTP Basic credentials, and makes every distribution error code reachable by a
//! documented input. Messages it "sends" go to an outbox you can inspect.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! let sandbox = hpp_sandbox::Sandbox::start(hpp_sandbox::SandboxConfig::default()).await?;
//! println!("{} as {}", sandbox.base_url(), sandbox.username());
//! let config = sandbox.client_config(); // an hpp_core::Config pointing at the sandbox
//! assert!(sandbox.outbox().is_empty());
//! sandbox.stop().await;
//! # Ok(()) }
//! ```
//!
//! # Behaviour
//!
//! | Input | Answer |
//! |---|---|
//! | missing or wrong credentials (any API path) | 401, gateway-shaped body, nothing else happens |
//! | a path that is not one of the four operations' (matched by whole segment: `/hpp/v1/sessionsX`, a trailing `/`) | 404 `NOT_FOUND` |
//! | an operation's path with another method | 405 with `Allow` |
//! | `POST /hpp/v1/sessions` with an absolute http(s) `payment_session_url` | 201: session, distribution and pay URLs on the sandbox, a `distribution_module` and a `manual_identification_check_url`; the session expires 47 h later |
//! | create: `payment_session_url` blank or not an absolute http(s) URL; a merchant URL, `logo_url` or background image URL that is not one (placeholders allowed); an image `width` not positive; an option value outside the spec's enum (in any ASCII case: the guides send `"pay_later"`, and the sandbox follows them); a body of the wrong shape | 400 `CONSTRAINT_VIOLATION` naming the field |
//! | a session set to `MANUAL_ID_CHECK` (a control call below) | read: `manual_identification` (challenge, customer, obfuscated customer, expiry) |
//! | a session completed (pay page or control call), created without `place_order_mode` or with `NONE` | read: `authorization_token` and `customer` |
//! | a session completed, created with `PLACE_ORDER` or `CAPTURE_ORDER` | read: `order_id`, `klarna_reference` and `customer` |
//! | read or disable an unknown or expired session | 404 `NOT_FOUND` |
//! | disable a completed session | 400 `CONSTRAINT_VIOLATION` |
//! | distribute: e-mail missing or empty | 400 `MISSING_CONTACT_DATA` |
//! | distribute: malformed e-mail, missing or unknown `method`, malformed body | 400 `CONSTRAINT_VIOLATION` |
//! | distribute: unknown or expired session | 404 `NOT_FOUND` |
//! | distribute: session disabled by the merchant, or finished | 400 `CONSTRAINT_VIOLATION` |
//! | distribute: recipient on [`SandboxConfig::blocked`] | 400 `BLACKLIST_REFUSED` |
//! | distribute: e-mail past [`SandboxConfig::email_limit`] today (UTC) | 429 `EMAIL_LIMIT_EXCEEDED` |
//! | distribute: SMS in [`SandboxMode::Playground`] | 502 `BAD_GATEWAY` |
//! | distribute: SMS in production mode to a country not in [`SandboxConfig::phone_countries`] | 400 `UNSUPPORTED_COUNTRY` |
//! | distribute: recipient `unknown-error@…` or access id `unknown-error` | 400 `UNKNOWN` |
//! | a request body over 64 KiB, or slower than [`SandboxConfig::request_read_timeout`] | 413, or 408 |
//!
//! Every error body carries `error_code`, `error_messages` and a fresh `correlation_id`.
//!
//! Controls, under `/_sandbox/`, with the sandbox's own credentials (the same `Authorization` its
//! API takes; only the consumer's pay page, `GET /_sandbox/pay/{id}`, is open). Everything is
//! bounded, in count and in bytes, so no flood (authenticated or not) grows its memory past
//! about 400 MiB: at most 1,000 pending faults; 100,000 live sessions holding 256 MiB (URLs in
//! a create request at most 2,048 bytes each); 100,000 outbox messages holding 64 MiB (phone
//! numbers at most 32 bytes, access ids 256, e-mail addresses 254); 10,000 callbacks waiting for
//! delivery holding 32 MiB (a status change that would queue one more is refused, 503 with
//! `Retry-After: 1`, and changes nothing); the latest 10,000 callback attempts and bodies; a
//! clock moved at most 100 years either way.
//! - `GET /_sandbox/pay/{id}` (the session's `redirect_url`, open) is an HTML payment page whose
//!   Pay, Cancel and refusal buttons (`POST /_sandbox/pay/{id}/complete`, `/cancel` and `/fail`,
//!   open too) set the status as a consumer would (COMPLETED, CANCELLED, or FAILED, which may be
//!   tried again: the page stays payable after FAILED, BACK and ERROR), send the callbacks, and
//!   answer 303 to the merchant's `success`, `cancel` or `failure` URL (placeholders substituted);
//!   on a session that can no longer be paid (COMPLETED, CANCELLED, DISABLED, MANUAL_ID_CHECK)
//!   they change nothing and answer 409 with the page;
//!   the page suits a phone and a desktop (inline CSS, no script) and shows the QR code beside it
//!   on a wide screen while the session can be paid;
//! - `GET /_sandbox/pay/{id}/qr` (the session's `qr_code_url`, open) is a QR code of its pay link:
//!   SVG, or PNG when `Accept` names `image/png` and not SVG; `qr.svg` and `qr.png` choose
//!   directly; cacheable for an hour (`Vary: Accept`); 404 for an unknown or expired session;
//! - `GET /_sandbox/outbox` lists sent messages;
//! - `POST /_sandbox/sessions/{id}/status` with `{"status": "COMPLETED"}` (or any status) plays
//!   the consumer;
//! - `POST /_sandbox/faults` with `{"faults": [{"kind": "status", "status": 503, "retry_after": 1},
//!   ...]}` scripts one [`Fault`] per coming API request (`GET` lists, `DELETE` clears them):
//!   `delay` (`ms`), `status` (`status`, `retry_after`, `error_code`), `reset_before_read`,
//!   `reset_after_read` (the request takes effect, no answer), `truncated_body` (takes effect,
//!   JSON cut in half), `oversized_body` (`bytes` up to 16 MiB, `status`, 200 by default),
//!   `redirect` (`location`). Only an authenticated API request uses a fault up;
//! - `GET /_sandbox/callbacks` lists the `status_update` delivery attempts (URLs without their
//!   `secret`)
//!   ([`CallbackAttempt`]): on each status change of a session created with
//!   `merchant_urls.status_update`, the sandbox POSTs `{"event_id", "session"}` there
//!   (placeholders `{{session_id}}`, `{{order_id}}`, `{{authorization_token}}` substituted),
//!   expects a 2xx within [`SandboxConfig::callback_timeout`], and retries
//!   [`SandboxConfig::callback_retries`] times before giving up, as the service does;
//! - `GET /_sandbox/callback-faults` shows the callback faults drawn now ([`CallbackFaults`]);
//!   `PUT` with `{"drop": 0.2, "duplicate": 0, "delay": 0.1, "delay_by_secs": 5, "seed": 7}`
//!   (any of them) changes them while the sandbox runs, the generator restarted from the seed
//!   (`kustom-hpp sandbox callback-faults --drop 0.2`; from Rust, [`Sandbox::set_callback_faults`]);
//! - `POST /_sandbox/clock` with `{"advance_secs": N}` moves the sandbox's clock (session expiry
//!   after 47 hours, the daily e-mail quota); `GET` shows it.
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-sandbox/0.1.0")]

mod api;
mod callbacks;
mod clock;
mod ids;
mod qr;
// For the CLI's listener: plumbing, outside the public API (hidden, may change in any release).
#[doc(hidden)]
pub mod net;
mod server;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use api::{Fault, OutboxMessage};
pub use callbacks::{CallbackAttempt, CallbackFault, CallbackFaults, DeliveryOutcome};
use hpp_core::{Config, Credentials, Environment, Mode, SessionStatus};
use tokio::sync::watch;

/// Entry points for fuzz targets and property tests. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::Mutex;

    static STATE: Mutex<Option<crate::api::State>> = Mutex::new(None);

    /// Answers one request (authorized when the path says `/auth/` first, to reach both sides of
    /// the credentials check) on a state shared by all calls, and returns the status.
    pub fn handle(method: &[u8], path: &str, body: &[u8]) -> u16 {
        let Ok(method) = http::Method::from_bytes(method) else { return 400 };
        let (authorized, path) = match path.strip_prefix("/auth") {
            Some(rest) => (true, rest),
            None => (false, path),
        };
        let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
        let state = guard.get_or_insert_with(|| {
            crate::api::State::new(
                crate::SandboxConfig::default(),
                "http://127.0.0.1:1".into(),
                crate::ids::IdSource::new(),
                None,
                Default::default(),
            )
        });
        state.handle(&method, path, authorized, body).status.as_u16()
    }
}

/// The shortest password [`SandboxConfig::credentials`] may have, in characters.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Refuses fixed credentials that would leave the sandbox open: an empty username, or a password
/// shorter than [`MIN_PASSWORD_LEN`] (an unset environment variable often expands to "").
fn check_credentials(username: &str, password: &str) -> std::io::Result<()> {
    let refuse = |message: String| Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, message));
    if username.trim().is_empty() {
        return refuse("the sandbox username is empty".to_owned());
    }
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return refuse(format!(
            "the sandbox password is {len} characters; at least {MIN_PASSWORD_LEN} are needed \
             (an exported but empty variable counts as given: unset it for a random one)"
        ));
    }
    Ok(())
}

/// Recipient local part (or access id) that makes a distribution fail with 400 `UNKNOWN`.
pub const UNKNOWN_ERROR_TRIGGER: &str = "unknown-error";

/// Which real environment the sandbox imitates where they differ (SMS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SandboxMode {
    /// Like the playground: SMS is refused with 502 `BAD_GATEWAY`.
    #[default]
    Playground,
    /// Like production: SMS goes out to [`SandboxConfig::phone_countries`].
    Production,
}

/// How the sandbox behaves. Start from `Default` and change what you need with the `with_*`
/// setters (or field assignment; the struct is `#[non_exhaustive]`, so struct-update syntax
/// from another crate is refused):
///
/// ```
/// use hpp_sandbox::{SandboxConfig, SandboxMode};
/// let config = SandboxConfig::default()
///     .with_email_limit(0)
///     .with_blocked(["blocked@example.com"])
///     .with_mode(SandboxMode::Production)
///     .with_credentials("user", "password-for-tests");
/// assert_eq!(config.email_limit, 0);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// The address to listen on: 127.0.0.1 by default. Anything beyond loopback lets other
    /// machines reach a server with fixed test credentials; do that on a private test network only.
    pub bind: IpAddr,
    /// The host clients reach the sandbox by (a docker-compose service name, a CI service
    /// container's host), used in its base URL and in the `session_url`s it returns. `None`: the
    /// bind address, or this machine's hostname when bound to all interfaces.
    pub advertise: Option<String>,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// E-mails allowed per UTC day (the playground allows 100).
    pub email_limit: u32,
    /// Recipients refused with `BLACKLIST_REFUSED` (compared case-insensitively).
    pub blocked: Vec<String>,
    /// Playground or production behaviour.
    pub mode: SandboxMode,
    /// Phone countries served in production mode.
    pub phone_countries: Vec<String>,
    /// Username and password to require (a non-empty username, a password of at least
    /// [`MIN_PASSWORD_LEN`] characters); random when `None`.
    pub credentials: Option<(String, String)>,
    /// How long a client may take to send a request's headers, and then its body (default 10 s);
    /// a slow body gets 408.
    pub request_read_timeout: Duration,
    /// How long a callback listener has to answer 2xx (the service allows 3 s).
    pub callback_timeout: Duration,
    /// Retries after a failed callback delivery (the service makes 3).
    pub callback_retries: u32,
    /// Pause before each callback retry ("a few seconds" at the service).
    pub callback_retry_delay: Duration,
    /// Write a line per request to stderr: method, path (no query), status. Off by default (tests).
    pub log_requests: bool,
    /// Callbacks lost, duplicated or held back, at random from a seed (none by default).
    pub callback_faults: CallbackFaults,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            advertise: None,
            port: 0,
            email_limit: 100,
            blocked: Vec::new(),
            mode: SandboxMode::Playground,
            phone_countries: ["SE", "NO", "FI", "DK", "DE", "AT", "NL", "GB"].map(String::from).to_vec(),
            credentials: None,
            request_read_timeout: Duration::from_secs(10),
            callback_timeout: Duration::from_secs(3),
            callback_retries: 3,
            callback_retry_delay: Duration::from_secs(2),
            log_requests: false,
            callback_faults: CallbackFaults::default(),
        }
    }
}

impl SandboxConfig {
    /// Sets [`bind`](Self::bind).
    pub fn with_bind(mut self, bind: IpAddr) -> Self {
        self.bind = bind;
        self
    }

    /// Sets [`advertise`](Self::advertise).
    pub fn with_advertise(mut self, host: impl Into<String>) -> Self {
        self.advertise = Some(host.into());
        self
    }

    /// Sets [`port`](Self::port).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets [`email_limit`](Self::email_limit).
    pub fn with_email_limit(mut self, limit: u32) -> Self {
        self.email_limit = limit;
        self
    }

    /// Sets [`blocked`](Self::blocked).
    pub fn with_blocked<S: Into<String>>(mut self, recipients: impl IntoIterator<Item = S>) -> Self {
        self.blocked = recipients.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`mode`](Self::mode).
    pub fn with_mode(mut self, mode: SandboxMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets [`phone_countries`](Self::phone_countries).
    pub fn with_phone_countries<S: Into<String>>(mut self, countries: impl IntoIterator<Item = S>) -> Self {
        self.phone_countries = countries.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`credentials`](Self::credentials): a username that is not empty and a password of at
    /// least [`MIN_PASSWORD_LEN`] characters, or [`Sandbox::start`] refuses them.
    pub fn with_credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((username.into(), password.into()));
        self
    }

    /// Sets [`request_read_timeout`](Self::request_read_timeout).
    pub fn with_request_read_timeout(mut self, timeout: Duration) -> Self {
        self.request_read_timeout = timeout;
        self
    }

    /// Sets [`callback_timeout`](Self::callback_timeout), [`callback_retries`](Self::callback_retries)
    /// and [`callback_retry_delay`](Self::callback_retry_delay).
    pub fn with_callback_delivery(mut self, timeout: Duration, retries: u32, retry_delay: Duration) -> Self {
        self.callback_timeout = timeout;
        self.callback_retries = retries;
        self.callback_retry_delay = retry_delay;
        self
    }

    /// Sets [`log_requests`](Self::log_requests).
    pub fn with_log_requests(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("bind", &self.bind)
            .field("advertise", &self.advertise)
            .field("port", &self.port)
            .field("email_limit", &self.email_limit)
            .field("blocked", &self.blocked.len())
            .field("mode", &self.mode)
            .field("credentials", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A running sandbox. Dropping it stops it too; [`Sandbox::stop`] waits until it has.
pub struct Sandbox {
    base_url: String,
    username: String,
    password: String,
    state: Arc<Mutex<api::State>>,
    callback_attempts: Arc<Mutex<Vec<CallbackAttempt>>>,
    callback_count: watch::Receiver<usize>,
    callback_faults: Arc<Mutex<std::collections::VecDeque<CallbackFault>>>,
    callback_chances: Arc<Mutex<callbacks::FaultChances>>,
    callback_bodies: Arc<Mutex<Vec<hpp_core::callback::StatusCallback>>>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    deliverer: tokio::task::JoinHandle<()>,
    /// The thread of [`Sandbox::start_on_own_thread`], joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sandbox {
    /// Binds [`SandboxConfig::bind`] and [`SandboxConfig::port`] and starts serving on the
    /// current Tokio runtime; ready when this returns. From blocking code or a plain `#[test]`,
    /// use [`Sandbox::start_on_own_thread`]: a blocking client on the runtime that serves the
    /// sandbox would wait for an answer that runtime can never give.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.bind, config.port)).await?;
        let port = listener.local_addr()?.port();
        let host = match (&config.advertise, config.bind) {
            (Some(host), _) => host.clone(),
            (None, ip) if ip.is_unspecified() => hostname().unwrap_or_else(|| "127.0.0.1".to_owned()),
            (None, IpAddr::V6(ip)) => format!("[{ip}]"),
            (None, ip) => ip.to_string(),
        };
        let base_url = format!("http://{host}:{port}");
        if hpp_core::BaseUrl::parse_allowing_plain_http(&base_url).is_err() {
            let message = format!("{base_url:?} is not a usable base URL (check --advertise)");
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, message));
        }
        let mut ids = ids::IdSource::new();
        if let Some((username, password)) = &config.credentials {
            check_credentials(username, password)?;
        }
        let (username, password) =
            config.credentials.clone().unwrap_or_else(|| (format!("sandbox-{}", &ids.token()[..8]), ids.token()));
        if let Err(e) = Credentials::basic(&username, &password) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()));
        }
        let accepted = [Credentials::basic(&username, &password), Credentials::api_key(&password)]
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|credentials| {
                // The header the SDK sends with these credentials: from a request it builds.
                let config = Config::new(Environment::Kustom(Mode::Playground), credentials);
                let request = hpp_core::Operation::build(&hpp_core::ReadSession::new("s"), &config).ok()?;
                request.headers().get(http::header::AUTHORIZATION).map(|v| v.as_bytes().to_vec())
            })
            .collect();
        let policy = callbacks::DeliveryPolicy {
            timeout: config.callback_timeout,
            retries: config.callback_retries,
            retry_delay: config.callback_retry_delay,
        };
        let chances = Arc::new(Mutex::new(callbacks::FaultChances::new(config.callback_faults)));
        let (jobs, queued) = tokio::sync::mpsc::unbounded_channel();
        let callback_attempts = Arc::new(Mutex::new(Vec::new()));
        let (count, callback_count) = watch::channel(0);
        let callback_faults = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let callback_bodies = Arc::new(Mutex::new(Vec::new()));
        let record = callbacks::Record {
            bodies: callback_bodies.clone(),
            attempts: callback_attempts.clone(),
            count: Arc::new(count),
            scripted: callback_faults.clone(),
            chances: chances.clone(),
        };
        let deliverer = tokio::spawn(callbacks::deliver(queued, policy, record));
        let read_timeout = config.request_read_timeout;
        let log_requests = config.log_requests;
        let queue = callbacks::CallbackQueue::new(jobs, api::MAX_QUEUED_CALLBACKS, api::MAX_QUEUED_CALLBACK_BYTES);
        let state = api::State::new(config, base_url.clone(), ids, Some(queue), callback_attempts.clone())
            .with_callback_chances(chances.clone());
        let state = Arc::new(Mutex::new(state));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, state.clone(), accepted, read_timeout, log_requests, stopped));
        Ok(Self {
            base_url,
            username,
            password,
            state,
            callback_attempts,
            callback_count,
            callback_faults,
            callback_chances: chances,
            callback_bodies,
            stop,
            task: Some(task),
            deliverer,
            thread: None,
        })
    }

    /// `http://{host}:{port}`: the advertised host (127.0.0.1 by default).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The username it requires.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password it requires (also accepted alone, as an API key: `Basic <password>`).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A client configuration for this sandbox with its credentials.
    pub fn client_config(&self) -> Config {
        // invariant: `start` checked the base URL and the credentials. Plain http beyond loopback
        // is allowed here (the sandbox is a test server), and shows in the Config's Debug.
        let environment = hpp_core::BaseUrl::parse_allowing_plain_http(&self.base_url)
            .map(Environment::Custom)
            .expect("checked in start");
        let credentials = Credentials::basic(&self.username, &self.password).expect("sandbox credentials are valid");
        Config::new(environment, credentials)
    }

    /// Every message sent so far, in order.
    pub fn outbox(&self) -> Vec<OutboxMessage> {
        self.state().outbox().to_vec()
    }

    /// Plays the consumer: sets `session_id`'s status. `None` if there is no such live session,
    /// or the callback it would send does not fit in the full callback queue (nothing changed).
    pub fn set_status(&self, session_id: &str, status: SessionStatus) -> Option<hpp_core::Session> {
        self.state().set_status(session_id, status).ok()
    }

    /// Every callback delivery attempt so far, in order.
    pub fn callback_attempts(&self) -> Vec<CallbackAttempt> {
        self.callback_attempts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until at least `n` callback delivery attempts have been made, then returns them all.
    /// (Pair it with a timeout in tests: if fewer are ever made, this waits forever.)
    pub async fn wait_for_callback_attempts(&self, n: usize) -> Vec<CallbackAttempt> {
        let mut count = self.callback_count.clone();
        let _ = count.wait_for(|made| *made >= n).await;
        self.callback_attempts()
    }

    /// Every callback the sandbox sent (or lost to a fault), once each, in the order they were
    /// queued (the latest 10,000): what a test re-delivers to a receiver to check it answers a
    /// duplicate, or delivers itself in another order. (Rust only: the HTTP listing of
    /// attempts carries no bodies, since a body holds the customer's details and the token.)
    pub fn callback_bodies(&self) -> Vec<hpp_core::callback::StatusCallback> {
        self.callback_bodies.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes the callback faults drawn from now on (as `PUT /_sandbox/callback-faults` does),
    /// their generator restarted from `faults.seed`; refused when the chances cannot be used
    /// ([`CallbackFaults::check`]).
    pub fn set_callback_faults(&self, faults: CallbackFaults) -> Result<(), &'static str> {
        faults.check()?;
        self.callback_chances.lock().unwrap_or_else(|p| p.into_inner()).set(faults);
        Ok(())
    }

    /// The callback faults drawn now.
    pub fn callback_faults(&self) -> CallbackFaults {
        self.callback_chances.lock().unwrap_or_else(|p| p.into_inner()).get()
    }

    /// Scripts faults for the next callbacks, one callback each, in order (before any drawn by
    /// [`SandboxConfig::callback_faults`]).
    pub fn inject_callback_faults(&self, faults: impl IntoIterator<Item = CallbackFault>) {
        self.callback_faults.lock().unwrap_or_else(|p| p.into_inner()).extend(faults);
    }

    /// Scripts faults for the next API requests, one request each, in order.
    pub fn inject_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state().add_faults(faults);
    }

    /// Moves the sandbox's clock by `secs` seconds (session expiry, the daily quota).
    pub fn advance_clock(&self, secs: i64) {
        self.state().advance_clock(secs);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, api::State> {
        // A poisoned lock means a bug panicked mid-update; keep serving what is there.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the sandbox on a thread of its own with its own Tokio runtime, which serves it until
    /// the returned handle is dropped (the drop waits until it has stopped). For blocking code and
    /// plain `#[test]`s:
    ///
    /// ```
    /// let sandbox = hpp_sandbox::Sandbox::start_on_own_thread(hpp_sandbox::SandboxConfig::default())?;
    /// // Any client, blocking ones included, on this thread.
    /// let (host, port) = sandbox.base_url().trim_start_matches("http://").split_once(':').unwrap();
    /// std::net::TcpStream::connect((host, port.parse::<u16>().unwrap()))?;
    /// drop(sandbox); // stops it and ends its thread
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_on_own_thread(config: SandboxConfig) -> std::io::Result<Self> {
        let (ready, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("hpp-sandbox".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return drop(ready.send(Err(e))),
            };
            runtime.block_on(async move {
                let sandbox = Self::start(config).await;
                let mut stopped = match &sandbox {
                    Ok(sandbox) => sandbox.stop.subscribe(),
                    Err(_) => return drop(ready.send(sandbox)),
                };
                if ready.send(sandbox).is_ok() {
                    // Serve until the handle is dropped (or stopped).
                    let _ = stopped.wait_for(|stop| *stop).await;
                }
            });
        })?;
        let mut sandbox =
            started.recv().map_err(|_| std::io::Error::other("the sandbox thread ended before starting"))??;
        sandbox.thread = Some(thread);
        Ok(sandbox)
    }

    /// Stops accepting, closes open connections and waits for the server task to end.
    pub async fn stop(mut self) {
        self.deliverer.abort();
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.deliverer.abort();
        let _ = self.stop.send(true);
        // On its own thread, wait until that thread's runtime (and with it the listener) is gone.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// This machine's hostname (Linux), for a sandbox bound to all interfaces.
fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}
