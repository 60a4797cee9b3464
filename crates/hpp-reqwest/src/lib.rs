//! [reqwest] transport for [`hpp_core`]: sends what the core built, returns what came back.
//!
//! ```toml
#![doc = concat!("hpp-core = \"", env!("CARGO_PKG_VERSION"), "\"")]
#![doc = concat!("hpp-reqwest = \"", env!("CARGO_PKG_VERSION"), "\"")]
//! ```
//!
//! ```no_run
//! use hpp_core::{Client, Config, Credentials, Environment, Mode};
//! use hpp_reqwest::ReqwestTransport;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_...")?);
//! let client = Client::new(config, ReqwestTransport::new()?);
//! let session = client.read_session("9cbc9884-1fdb-45a8-9694-9340340d0436").await?;
//! # Ok(()) }
//! ```
//!
//! Bring your own `reqwest::Client` (proxy, pool, roots) with [`ReqwestTransport::from_client`];
//! build it with `redirect(Policy::none())`: the SDK never follows redirects.

use std::sync::Arc;
use std::time::Duration;

use hpp_core::{Request, RequestTimeout, Response, Timer, Transport, TransportError};
pub use reqwest;

/// Connect timeout of the default client.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Total time allowed for one request and its response, in the default client.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read; larger ones are an error and the connection is dropped.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A [`Transport`] over a `reqwest::Client`.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    body_limit: usize,
}

impl ReqwestTransport {
    /// The default client: rustls with the ring provider and Mozilla's roots, no redirects,
    /// [`DEFAULT_CONNECT_TIMEOUT`] and [`DEFAULT_TIMEOUT`].
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_timeouts(DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)
    }

    /// The default client with other timeouts.
    pub fn with_timeouts(connect: Duration, total: Duration) -> Result<Self, reqwest::Error> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            // invariant: ring implements TLS 1.2 and 1.3, rustls' default versions.
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect)
            .timeout(total)
            .build()?;
        Ok(Self::from_client(client))
    }

    /// Uses a client you built (configure it not to follow redirects).
    pub fn from_client(client: reqwest::Client) -> Self {
        Self { client, body_limit: DEFAULT_BODY_LIMIT }
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

fn classify(error: reqwest::Error) -> TransportError {
    if error.is_connect() {
        TransportError::connect(error)
    } else if error.is_timeout() {
        TransportError::timeout(error)
    } else {
        TransportError::other(error)
    }
}

impl Transport for ReqwestTransport {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, TransportError>> + Send {
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
            if response.content_length().is_some_and(|len| len > limit as u64) {
                return Err(TransportError::body_too_large(limit));
            }
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if out.body().len() + chunk.len() > limit {
                    return Err(TransportError::body_too_large(limit));
                }
                out.body_mut().extend_from_slice(&chunk);
            }
            Ok(out)
        }
    }

    fn timer(&self) -> Option<&dyn Timer> {
        Some(&hpp_tokio::TokioTimer)
    }
}
