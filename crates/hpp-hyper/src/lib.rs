//! [hyper](https://docs.rs/hyper/1) transport for [`hpp_core`]: sends what the core built, returns what came back.
//!
//! ```toml
#![doc = concat!("hpp-core = \"", env!("CARGO_PKG_VERSION"), "\"")]
#![doc = concat!("hpp-hyper = \"", env!("CARGO_PKG_VERSION"), "\"")]
//! ```
//!
//! ```no_run
//! use hpp_core::{Client, Config, Credentials, Environment, Mode};
//! use hpp_hyper::{HyperTransport, TokioTimer};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_...")?);
//! let client = Client::new(config, HyperTransport::new(), TokioTimer::new());
//! let session = client.read_session("9cbc9884-1fdb-45a8-9694-9340340d0436").await?;
//! # Ok(()) }
//! ```
//!
//! Needs a Tokio runtime. Change what you need (pool, connector, roots) starting from the safe
//! defaults, and pass the client to [`HyperTransport::from_client`]; hyper-util's client never
//! follows redirects, and the transport keeps its own per-request timeout:
//!
//! ```no_run
//! use hpp_hyper::HyperTransport;
//! let connector = HyperTransport::connector(hpp_runtime::tls::client_config(), std::time::Duration::from_secs(5));
//! let client = HyperTransport::client_builder().pool_max_idle_per_host(4).build(connector);
//! let transport = HyperTransport::from_client(client);
//! ```
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-hyper/0.1.0")]

use std::sync::Arc;
use std::time::Duration;

/// Re-exported for [`HyperTransport::from_client`]'s body type ([`RequestBody`]).
pub use bytes;
use bytes::Bytes;
use hpp_core::transport::{BodyTruncated, RequestTimeout};
use hpp_core::{Request, Response, Transport, TransportError};
pub use hpp_runtime::TokioTimer;
/// Re-exported for [`HyperTransport::from_client`]'s body type ([`RequestBody`]).
pub use http_body_util;
use http_body_util::{BodyExt, Full};
pub use hyper_util;

/// The request body type of the hyper client a [`HyperTransport`] drives:
/// `http_body_util::Full<bytes::Bytes>`.
pub type RequestBody = Full<Bytes>;
use hyper_util::client::legacy::{Client, connect::Connect, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

/// The defaults every shipped transport uses, defined once in `hpp-runtime`: connect timeout,
/// time for a whole attempt, and the largest response body read (a longer one is cut there and
/// marked `BodyTruncated`, and the connection dropped).
pub use hpp_runtime::transport::{DEFAULT_BODY_LIMIT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
/// Re-exported for [`DefaultConnector`] and for building a client of your own with
/// [`HyperTransport::from_client`] (custom roots: `hyper_rustls::HttpsConnectorBuilder`).
pub use hyper_rustls;

/// The default connector: rustls (ring, Mozilla roots); http too, which the core allows to loopback only.
pub type DefaultConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A [`Transport`] over a hyper-util client, shared: a clone (a tower layer's, per request) is cheap.
#[derive(Debug, Clone)]
pub struct HyperTransport<C> {
    client: Arc<Client<C, Full<Bytes>>>,
    timeout: Duration,
    body_limit: usize,
}

impl HyperTransport<DefaultConnector> {
    /// The default client, with [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        Self::with_connect_timeout(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The default client with another connect timeout.
    pub fn with_connect_timeout(connect: Duration) -> Self {
        Self::from_client(Self::client_builder().build(Self::connector(hpp_runtime::tls::client_config(), connect)))
    }

    /// The default connector over `tls` (see `hpp_runtime::tls::client_config`): https, and http,
    /// which the core allows to loopback only; `TCP_NODELAY` set, as reqwest does.
    pub fn connector(tls: rustls::ClientConfig, connect_timeout: Duration) -> DefaultConnector {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        // As reqwest and curl do: a request's last segment is not held back waiting for an ACK.
        http.set_nodelay(true);
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http)
    }

    /// A hyper-util client builder on Tokio, to change and `build` with a connector.
    pub fn client_builder() -> hyper_util::client::legacy::Builder {
        Client::builder(TokioExecutor::new())
    }
}

impl Default for HyperTransport<DefaultConnector> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> HyperTransport<C> {
    /// Uses a client you built, with [`DEFAULT_TIMEOUT`] per request and [`DEFAULT_BODY_LIMIT`].
    pub fn from_client(client: Client<C, RequestBody>) -> Self {
        Self { client: Arc::new(client), timeout: DEFAULT_TIMEOUT, body_limit: DEFAULT_BODY_LIMIT }
    }

    /// Allows `timeout` for each request and its response.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads response bodies up to `limit` bytes.
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }
}

impl<C: Connect + Clone + Send + Sync + 'static> Transport for HyperTransport<C> {
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<C> {
        let timeout = request.extensions().get::<RequestTimeout>().map_or(self.timeout, |t| t.0);
        let pending = self.client.request(request.map(|body| Full::new(Bytes::from(body))));
        let limit = self.body_limit;
        let exchange = async move {
            let response = pending
                .await
                .map_err(|e| if e.is_connect() { TransportError::connect(e) } else { TransportError::other(e) })?;
            let (parts, mut body) = response.into_parts();
            // Read one byte past the limit at most, then cut and mark (the status is kept).
            let mut out = Response::from_parts(parts, Vec::new());
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame.map_err(TransportError::other)?.into_data() else { continue };
                if BodyTruncated::append_capped(&mut out, &data, limit) {
                    break;
                }
            }
            Ok(out)
        };
        async move { tokio::time::timeout(timeout, exchange).await.map_err(TransportError::timeout)? }
    }
}
