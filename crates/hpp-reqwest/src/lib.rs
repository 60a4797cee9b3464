//! [reqwest] transport for [`hpp_core`]: sends what the core built, returns what came back.
//!
//! ```toml
#![doc = concat!("hpp-core = \"", env!("CARGO_PKG_VERSION"), "\"")]
#![doc = concat!("hpp-reqwest = \"", env!("CARGO_PKG_VERSION"), "\"")]
//! ```
//!
//! ```no_run
//! use hpp_core::{Client, Config, Credentials, Environment, Mode};
//! use hpp_reqwest::{ReqwestTransport, TokioTimer};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_...")?);
//! let client = Client::new(config, ReqwestTransport::new()?, TokioTimer::new());
//! let session = client.read_session("9cbc9884-1fdb-45a8-9694-9340340d0436").await?;
//! # Ok(()) }
//! ```
//!
//! Change what you need (proxy, pool, roots, timeouts, default headers) starting from the safe
//! defaults, [`ReqwestTransport::builder`], and hand the builder back with
//! [`ReqwestTransport::from_builder`]. Whatever the builder says, the transport never follows a
//! redirect: `from_builder` sets `redirect::Policy::none()` last. No proxy is used unless you add
//! one: `builder()` turns off reqwest's reading of `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY`
//! (a proxy picked from the environment would receive the credentials, in clear over http). It
//! also installs `ring` as rustls' process default when none is installed, so no path panics for
//! a missing provider.
//!
//! ```no_run
//! # fn run() -> Result<(), reqwest::Error> {
//! use hpp_reqwest::ReqwestTransport;
//! let builder = ReqwestTransport::builder()
//!     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
//!     .pool_max_idle_per_host(4);
//! let transport = ReqwestTransport::from_builder(builder)?;
//! // Other roots: .tls_backend_preconfigured(hpp_runtime::tls::client_config_with_roots(roots))
//! # Ok(()) }
//! ```

use std::time::Duration;

use hpp_core::transport::{BodyTruncated, RequestTimeout};
use hpp_core::{Request, Response, Transport, TransportError};
pub use hpp_runtime::TokioTimer;
pub use reqwest;

/// The defaults every shipped transport uses, defined once in `hpp-runtime`: connect timeout,
/// time for a whole attempt, and the largest response body read (a longer one is cut there and
/// marked `BodyTruncated`, and the connection dropped).
pub use hpp_runtime::transport::{DEFAULT_BODY_LIMIT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};

/// A [`Transport`] over a `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    body_limit: usize,
}

impl ReqwestTransport {
    /// The default client: rustls with the ring provider and Mozilla's roots, no redirects, no
    /// proxy, [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_TIMEOUT`]. Unlike `HyperTransport::new`, this
    /// can fail: reqwest's `ClientBuilder::build` reports what it could not set up (its TLS
    /// backend, or the system's proxy settings) rather than panicking, and so does this.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::from_builder(Self::builder())
    }

    /// The default client with other timeouts.
    pub fn with_timeouts(connect: Duration, total: Duration) -> Result<Self, reqwest::Error> {
        Self::from_builder(Self::builder().connect_timeout(connect).timeout(total))
    }

    /// A `reqwest::ClientBuilder` with this crate's defaults (TLS from `hpp_runtime::tls`, no redirects,
    /// no proxy, [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_TIMEOUT`]), to change and pass to
    /// [`from_builder`](Self::from_builder). A proxy you add with `.proxy(…)` is used; none is
    /// taken from the environment.
    pub fn builder() -> reqwest::ClientBuilder {
        hpp_runtime::tls::install_default_provider();
        reqwest::Client::builder()
            .no_proxy()
            .tls_backend_preconfigured(hpp_runtime::tls::client_config())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .timeout(DEFAULT_TIMEOUT)
    }

    /// Builds the client from `builder` (yours, or [`builder`](Self::builder) changed), with
    /// redirects turned off whatever the builder said. A builder of your own keeps reqwest's
    /// defaults: no timeouts unless you set them, and proxies read from the environment (call
    /// `.no_proxy()` on it, or start from [`builder`](Self::builder)).
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self, reqwest::Error> {
        hpp_runtime::tls::install_default_provider();
        let client = builder.redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Self { client, body_limit: DEFAULT_BODY_LIMIT })
    }

    /// The underlying client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Reads response bodies up to `limit` bytes.
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }
}

/// Sorts a failure by what it proves; the URL is dropped from the message (it carries the session id).
fn classify(error: reqwest::Error) -> TransportError {
    let error = error.without_url();
    if error.is_connect() {
        TransportError::connect(error)
    } else if error.is_timeout() {
        TransportError::timeout(error)
    } else {
        TransportError::other(error)
    }
}

impl Transport for ReqwestTransport {
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<> {
        let client = self.client.clone();
        let limit = self.body_limit;
        async move {
            let timeout = request.extensions().get::<RequestTimeout>().map(|t| t.0);
            let mut request = reqwest::Request::try_from(request).map_err(TransportError::before_sending)?;
            if timeout.is_some() {
                *request.timeout_mut() = timeout;
            }
            let mut response = client.execute(request).await.map_err(classify)?;
            let mut out = http::Response::new(Vec::new());
            *out.status_mut() = response.status();
            *out.version_mut() = response.version();
            *out.headers_mut() = std::mem::take(response.headers_mut());
            // Read one byte past the limit at most, then cut and mark (the status is kept).
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if BodyTruncated::append_capped(&mut out, &chunk, limit) {
                    break;
                }
            }
            Ok(out)
        }
    }
}
