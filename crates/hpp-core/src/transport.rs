//! The transport contract: what any HTTP stack must do to carry the core's requests, and the
//! time source a [`Client`](crate::Client) waits with.
//!
//! # The contract
//!
//! A [`Transport`] takes a [`Request`] the core built (absolute URI, headers, body) and returns the
//! [`Response`] that came back. The core relies on every rule below; the conformance kit
//! (`hpp-conformance`) checks each of them against a live loopback server, with one call from a
//! transport crate's own tests (`check`; `check_tls` for https with a test root;
//! `check_environment` for rule 7), and names the rule and the fix for each failure.
//!
//! 1. **Deliver the request as built.** Method, URI, every header and the body, byte for byte.
//!    Adding `Host`, `Content-Length` and connection headers is fine; changing or dropping
//!    anything the core set (`Authorization`, `User-Agent`, `Content-Type`) is not. An `https`
//!    URI goes over TLS, the server's certificate verified against the roots the user gave (a
//!    refused certificate fails the handshake: nothing was sent, rule 5).
//! 2. **Any status is a response.** 3xx, 4xx and 5xx come back as `Ok(Response)` with their
//!    status, headers and body: the core turns them into typed API errors. Never turn a 401 or a
//!    503 into a [`TransportError`] (many clients do by default): it would say "no response" about
//!    a request the server refused.
//! 3. **Never follow a redirect.** A followed redirect can turn a read of one session into a
//!    read of another, re-send a POST (307/308), or carry the credentials elsewhere. Return the
//!    3xx; the core reports it as the API error it is (its `status()` a redirection).
//! 4. **Cap the response body.** Read at most a bounded number of bytes (1 MiB in the shipped
//!    transports). A longer body is still a response: return it with its status and headers,
//!    the body cut at the limit, marked with [`BodyTruncated::mark`] (`hpp_runtime::transport::read_capped`
//!    does both for a blocking body). The core then reports a
//!    non-2xx as the API error it is (with its status) and a 2xx as a decode error, never as
//!    "no response".
//! 5. **Sort failures by what they prove.** [`TransportError::connect`] only when no connection
//!    was made (DNS, refused, TLS handshake): the request provably did not leave, and even a POST
//!    is retried. [`TransportError::before_sending`] when the request could not be converted (its
//!    own kind, `NotSent`: never retried, since it would fail the same way).
//!    Everything after the first byte may have reached the server: [`TransportError::timeout`]
//!    when time ran out, [`TransportError::other`] otherwise. When unsure, say "may have been
//!    sent": a wrong "not sent" makes the SDK send a distribution twice.
//!    (`hpp_runtime::transport::sort_error` sorts any error by the `io::Error` among its sources.)
//! 6. **Honour [`RequestTimeout`].** When the request carries one, it bounds the whole attempt
//!    (connect, send, response, body) instead of the transport's default, and running out is a
//!    timeout. (The client also enforces it with its [`Timer`], so a transport that cannot
//!    interrupt itself is still bounded when it yields; a blocking transport must apply it itself.)
//! 7. **Take no proxy from the environment.** Send to the request's host, or through a proxy the
//!    user configured in code; never through one named by `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`
//!    or their lower-case forms. The core sends `Authorization` with every request and allows plain
//!    http to loopback (the sandbox): a proxy picked up from the environment would receive the
//!    credentials in clear, and no environment variable may change where they go. (reqwest and
//!    ureq read these variables by default: `ClientBuilder::no_proxy`, `Config::proxy(None)`.)
//! 8. **Return a `'static` future.** `send` takes `&self` but its future owns what it needs
//!    (clone a handle into it), so transports compose: `move |req| inner.send(req)` is a transport.
//!
//! What a transport does *not* do: retry, wait, read clocks, look at JSON, credentials or URLs.
//! Retries and status watches belong to the [`Client`](crate::Client), which gets its [`Timer`]
//! when it is built, so wrapping a transport never turns them off.
//!
//! # Shapes a transport can take
//!
//! - A type implementing [`Transport`] (`hpp_reqwest::ReqwestTransport`, `hpp_hyper::HyperTransport`).
//! - A closure `Fn(Request) -> impl Future<Output = Result<Response, TransportError>>` (a mock, or
//!   a wrapper adding a header or a metric around another transport).
//! - [`SharedTransport`]: any of the above behind one cloneable dynamic type, chosen at run time.
//! - With the `tower` feature, a tower `Service` (`hpp_runtime::tower::ServiceTransport`) and a
//!   transport as a `Service`, so tower layers wrap transports.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::TransportError;
pub use crate::exchange::BodyTruncated;
use crate::exchange::{Request, Response};

/// A boxed, sendable future, as dynamic transports and timers return.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Sends a request the core built and returns the response, whatever its status, as [the
/// contract](self) says.
///
/// The future owns what it needs (`'static`) and captures no borrow of `self`, which an
/// implementation states with `use<>` (or `use<T>` for its type parameters):
///
/// ```
/// use hpp_core::{Request, Response, Transport, TransportError};
/// #[derive(Clone)]
/// struct Offline;
/// impl Transport for Offline {
///     fn send(&self, _request: Request) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<> {
///         async { Err(TransportError::connect("offline")) }
///     }
/// }
/// ```
///
/// Closures are transports:
///
/// ```
/// use hpp_core::{Client, Config, Credentials, Environment, Mode, Request, Response, TransportError};
/// use hpp_testing::VirtualTimer;
/// let fake = |_req: Request| async {
///     Ok::<Response, TransportError>(http::Response::builder().status(204).body(Vec::new()).unwrap())
/// };
/// let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k")?);
/// let client = Client::new(config, fake, VirtualTimer::new());
/// # Ok::<(), hpp_core::InputError>(())
/// ```
pub trait Transport {
    /// Sends `request` and returns the response, or why none arrived.
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<Self>;
}

impl<F, Fut> Transport for F
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response, TransportError>> + Send + 'static,
{
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<F, Fut> {
        self(request)
    }
}

/// The object-safe form of [`Transport`], implemented for every `Transport + Send + Sync`:
/// what [`SharedTransport`] holds.
pub(crate) trait DynTransport: Send + Sync {
    /// [`Transport::send`], boxed.
    fn send_boxed(&self, request: Request) -> BoxFuture<Result<Response, TransportError>>;
}

impl<T: Transport + Send + Sync> DynTransport for T {
    fn send_boxed(&self, request: Request) -> BoxFuture<Result<Response, TransportError>> {
        Box::pin(self.send(request))
    }
}

/// Any transport behind one cloneable type: pick the transport at run time, or keep a mock and a
/// real transport behind the same `Client<SharedTransport>` (which is what plain `Client` means).
///
/// ```
/// use hpp_core::transport::SharedTransport;
/// use hpp_core::{Request, Response, TransportError};
/// let offline = |_req: Request| async { Err::<Response, _>(TransportError::connect("offline")) };
/// let transport: SharedTransport = SharedTransport::new(offline);
/// let also_usable = transport.clone();
/// ```
#[derive(Clone)]
pub struct SharedTransport(Arc<dyn DynTransport>);

impl SharedTransport {
    /// Wraps `transport`.
    pub fn new(transport: impl Transport + Send + Sync + 'static) -> Self {
        Self(Arc::new(transport))
    }
}

impl fmt::Debug for SharedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedTransport(..)")
    }
}

impl Transport for SharedTransport {
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<> {
        self.0.send_boxed(request)
    }
}

/// Request extension: the total time allowed for this attempt, overriding the transport's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs)] // a newtype by design: the duration is all it will ever hold
pub struct RequestTimeout(pub Duration);

/// Time and chance for a [`Client`](crate::Client): how it waits between retries and status
/// reads, a monotonic clock, the wall clock (to compare with `expires_at`), and jitter.
///
/// Given to the client when it is built, so the core reads no clock of its own. Implementations:
/// `hpp_runtime::TokioTimer` (Tokio's clock, so paused-time tests work), `hpp_runtime::StdTimer`
/// (for blocking code), and `hpp_testing::VirtualTimer` (tests: no real waiting).
pub trait Timer: Send + Sync {
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
    /// Monotonic time since an origin of the timer's choosing.
    fn now(&self) -> Duration;
    /// The wall clock.
    fn system_now(&self) -> SystemTime;
    /// A uniform sample from `[0, 1)`.
    fn jitter(&self) -> f64;
}

/// Runs `future` until it completes or `deadline` does, whichever is first (`None` then); with
/// no deadline, until it completes. It borrows the future pinned where its caller made it, so
/// the future is not moved again.
pub(crate) fn race_deadline<F: Future>(
    mut future: Pin<&mut F>,
    mut deadline: Option<BoxFuture<()>>,
) -> impl Future<Output = Option<F::Output>> + '_ {
    std::future::poll_fn(move |cx| {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(out));
        }
        match deadline.as_mut() {
            Some(deadline) => deadline.as_mut().poll(cx).map(|()| None),
            None => std::task::Poll::Pending,
        }
    })
}
