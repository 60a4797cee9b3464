//! [reqwest](https://docs.rs/reqwest/0.13) transport for [`hpp_core`]: sends what the core built, returns what came back.
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
//! **Your own `reqwest::Client`s.** This crate builds reqwest with rustls and no crypto provider
//! of reqwest's (the SDK's is `ring`, with no cmake). Cargo turns that on for every reqwest in
//! the build, so a `reqwest::Client` of your app's that is built before any SDK transport (with
//! `default-features = false`, say) panics "No rustls crypto provider is configured". Call
//! [`install_default_provider`] once at the start of `main`, before building any client:
//!
//! ```
//! // First thing in main:
//! hpp_reqwest::install_default_provider(); // ring, unless a provider is installed already
//! let yours = reqwest::Client::new(); // your app's own client: no panic
//! ```
//!
//! (Or enable reqwest's `rustls` feature in your own `Cargo.toml`: reqwest then falls back to its
//! aws-lc-rs provider, which needs a C toolchain and cmake on some targets.)
//!
//! ```no_run
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use hpp_reqwest::ReqwestTransport;
//! let builder = ReqwestTransport::builder()
//!     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
//!     .pool_max_idle_per_host(4);
//! let transport = ReqwestTransport::from_builder(builder)?;
//! // Other roots: .tls_backend_preconfigured(hpp_runtime::tls::client_config_with_roots(roots))
//! # Ok(()) }
//! ```
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-reqwest/0.1.0")]

use std::time::Duration;

use hpp_core::transport::{BodyTruncated, RequestTimeout};
use hpp_core::{Request, Response, Transport, TransportError};
pub use hpp_runtime::TokioTimer;
pub use hpp_runtime::tls::install_default_provider;
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
        Ok(Self { client: Self::build(Self::builder())?, body_limit: DEFAULT_BODY_LIMIT })
    }

    /// The default client with other timeouts.
    pub fn with_timeouts(connect: Duration, total: Duration) -> Result<Self, reqwest::Error> {
        let client = Self::build(Self::builder().connect_timeout(connect).timeout(total))?;
        Ok(Self { client, body_limit: DEFAULT_BODY_LIMIT })
    }

    /// A `reqwest::ClientBuilder` with this crate's defaults (TLS from `hpp_runtime::tls`, no redirects,
    /// no proxy, [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_TIMEOUT`]), to change and pass to
    /// [`from_builder`](Self::from_builder). A proxy you add with `.proxy(…)` is used; none is
    /// taken from the environment.
    pub fn builder() -> reqwest::ClientBuilder {
        install_default_provider();
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
    ///
    /// The builder is reqwest 0.13's (re-exported: [`hpp_reqwest::reqwest`](https://docs.rs/reqwest/0.13); a
    /// builder from another reqwest major does not type-check). Default headers on it are sent
    /// with every request, except those the SDK sets itself on each (`User-Agent`, `Accept`,
    /// `Authorization`, `Content-Type`): a builder with a default for one of them (a
    /// `.user_agent(…)`, say) is refused with [`BuilderError::HeaderTheSdkSets`] rather than
    /// ignored. Your product goes in the `User-Agent` through
    /// `Config::with_user_agent_product("my-shop/1.4")`.
    pub fn from_builder(builder: reqwest::ClientBuilder) -> Result<Self, BuilderError> {
        let client = Self::build(builder)?;
        if let Some(header) = default_sdk_header(&client) {
            let fix = if header == "user-agent" {
                "put your product in the SDK's User-Agent with Config::with_user_agent_product, and remove it from the builder"
            } else {
                "remove it from the builder"
            };
            return Err(BuilderError::HeaderTheSdkSets { header, fix });
        }
        Ok(Self { client, body_limit: DEFAULT_BODY_LIMIT })
    }

    /// `builder`'s client, never following a redirect.
    fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, reqwest::Error> {
        install_default_provider();
        builder.redirect(reqwest::redirect::Policy::none()).build()
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

/// The headers the core sets on every request it builds: a default for one of them on the
/// builder would never reach the API.
const SDK_HEADERS: [&str; 4] = ["user-agent", "accept", "authorization", "content-type"];

/// The first of [`SDK_HEADERS`] a built client has a default for (reqwest's own `Accept: */*`
/// aside). reqwest has no getter for its
/// default headers; its `Debug` shows them (`default_headers: {"user-agent": …}`). The test
/// `headers_the_sdk_sets_are_refused_on_the_builder` fails if a reqwest release shows them
/// otherwise.
fn default_sdk_header(client: &reqwest::Client) -> Option<&'static str> {
    let shown = format!("{client:?}");
    let headers = &shown[shown.find("default_headers: {")?..];
    SDK_HEADERS.into_iter().find(|name| {
        headers.match_indices(&format!("\"{name}\": ")).any(|(at, key)| {
            // reqwest's own default, `Accept: */*`, is no one's choice.
            !(*name == "accept" && headers[at + key.len()..].starts_with("\"*/*\""))
        })
    })
}

/// Why [`ReqwestTransport::from_builder`] built no transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuilderError {
    /// reqwest could not build the client (its TLS backend, the system's proxy settings).
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
    /// The builder sets a default header that every request the SDK builds carries with its own
    /// value, so the builder's would silently never be sent.
    #[error(
        "the reqwest builder sets a default `{header}` header, which every SDK request carries with its own value; {fix}"
    )]
    HeaderTheSdkSets {
        /// The header's name, lower case.
        header: &'static str,
        /// What to do instead.
        fix: &'static str,
    },
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
