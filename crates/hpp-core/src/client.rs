//! [`Client`]: the high-level calls, written once for every [`Transport`].
//!
//! This is the only async code in the core. It depends on no runtime: a transport supplies the
//! future that does the I/O.

use std::future::Future;

use crate::config::Config;
use crate::distribution::Distribution;
use crate::error::{Error, TransportError};
use crate::model::{Session, SessionCreated};
use crate::ops::{CreateSession, DisableSession, DistributeSession, Operation, ReadSession, Request, Response};
use crate::session::SessionRef;

/// Sends a request the core built and returns the response, whatever its status.
///
/// A transport converts, sends and collects; it owns timeouts, TLS, pooling and connection
/// handling, and touches nothing in the request. `hpp-reqwest` and `hpp-hyper` implement it,
/// and so does any `Fn(Request) -> impl Future<Output = Result<Response, TransportError>>`:
///
/// ```
/// use hpp_core::{Client, Config, Credentials, Environment, Mode, Request, Response, TransportError};
/// let fake = |_req: Request| async {
///     Ok::<Response, TransportError>(http::Response::builder().status(204).body(Vec::new()).unwrap())
/// };
/// let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k")?);
/// let client = Client::new(config, fake);
/// # Ok::<(), hpp_core::InputError>(())
/// ```
pub trait Transport {
    /// Sends `request` and returns the response, or why none arrived.
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, TransportError>> + Send;
}

impl<F, Fut> Transport for F
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Response, TransportError>> + Send,
{
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, TransportError>> + Send {
        self(request)
    }
}

/// The HPP API over a [`Transport`].
///
/// ```no_run
/// # async fn run<T: hpp_core::Transport>(client: hpp_core::Client<T>) -> Result<(), hpp_core::Error> {
/// use hpp_core::{CreateSession, Distribution};
/// let created = client
///     .create_session(&CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/1"))
///     .await?;
/// let distribution_url = created.distribution_url.clone().unwrap_or_default();
/// client.distribute(&distribution_url, Distribution::email("jane@example.com")?).await?;
/// let session = client.read_session(created.session_url.as_deref().unwrap_or_default()).await?;
/// println!("status: {:?}", session.status);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client<T> {
    config: Config,
    transport: T,
}

impl<T: Transport> Client<T> {
    /// A client for `config` sending through `transport`.
    pub fn new(config: Config, transport: T) -> Self {
        Self { config, transport }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Builds, sends and parses any operation. Nothing is retried: a POST that may have reached
    /// the server is never sent twice by the SDK.
    pub async fn send<O: Operation>(&self, operation: &O) -> Result<O::Output, Error> {
        let request = operation.build(&self.config)?;
        let response = self.transport.send(request).await?;
        operation.parse(response)
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

    /// Distributes a session by id or `distribution_url`.
    pub async fn distribute(&self, session: impl Into<SessionRef>, distribution: Distribution) -> Result<(), Error> {
        self.send(&DistributeSession::new(session, distribution)).await
    }
}
