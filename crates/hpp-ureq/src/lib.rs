//! [ureq](https://docs.rs/ureq/3) transport for [`hpp_core`]: blocking, no async runtime. Each call's exchange happens
//! inside `send`; run the client's futures with [`block_on`], and let it wait between retries
//! with [`StdTimer`] (both re-exported from `hpp-runtime`).
//!
//! ```toml
#![doc = concat!("hpp-core = \"", env!("CARGO_PKG_VERSION"), "\"")]
#![doc = concat!("hpp-ureq = \"", env!("CARGO_PKG_VERSION"), "\"")]
//! ```
//!
//! ```no_run
//! use hpp_core::{Client, Config, Credentials, Environment, Mode};
//! use hpp_ureq::{StdTimer, UreqTransport, block_on};
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_...")?);
//! let client = Client::new(config, UreqTransport::new(), StdTimer::new());
//! let session = block_on(client.read_session("9cbc9884-1fdb-45a8-9694-9340340d0436"))?;
//! # Ok(()) }
//! ```
//!
//! Bring your own `ureq::Agent` (other roots, a proxy you name, pool sizes) with
//! [`UreqTransport::from_agent`]: whatever its configuration says, each request is sent with every
//! status as a response, no redirect followed, and no proxy taken from the environment unless the
//! agent names one in code (the contract, [`hpp_core::transport`]).
//!
//! The transport is a few lines of its own: `hpp_runtime::transport` has the pieces every
//! transport needs (the attempt's timeout, a capped body read, sorting failures). Copy it for
//! another blocking client.
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-ureq/0.1.0")]

use std::future::Future;

use hpp_core::{Request, Response, Transport, TransportError};
pub use hpp_runtime::transport::{DEFAULT_BODY_LIMIT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
use hpp_runtime::transport::{attempt_timeout, read_capped, sort_error};
pub use hpp_runtime::{StdTimer, block_on};
pub use ureq;

/// A blocking [`Transport`] over a `ureq::Agent` (cheap to clone: agents share their pool).
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// An agent with ureq's rustls (ring, Mozilla's roots), [`DEFAULT_CONNECT_TIMEOUT`], each
    /// attempt bounded by the call's timeout or [`DEFAULT_TIMEOUT`], no proxy.
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder().proxy(None).timeout_connect(Some(DEFAULT_CONNECT_TIMEOUT));
        Self::from_agent(config.build().into())
    }

    /// Your own agent. Redirects and errors-for-status are turned off per request, whatever it
    /// says. A proxy it names in code is used; one ureq read from the environment
    /// (`HTTP_PROXY` and friends, as `Agent::new_with_defaults()` does) never is.
    pub fn from_agent(agent: ureq::Agent) -> Self {
        Self { agent }
    }

    fn exchange(&self, request: Request) -> Result<Response, TransportError> {
        let timeout = attempt_timeout(&request);
        let call = ureq::RequestExt::with_agent(request, &self.agent).configure();
        let call = call.http_status_as_error(false).max_redirects(0).timeout_global(Some(timeout));
        // A proxy ureq read from the environment (`Agent::new_with_defaults`) is not one the app
        // named in code: never used (rule 7 of the contract; the credentials would go to it).
        let call =
            if self.agent.config().proxy().is_some_and(ureq::Proxy::is_from_env) { call.proxy(None) } else { call };
        read_capped(call.run().map_err(sort)?.map(ureq::Body::into_reader), DEFAULT_BODY_LIMIT)
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for UreqTransport {
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<> {
        std::future::ready(self.exchange(request)) // blocking: the exchange is done when send returns
    }
}

/// ureq's own connect-phase failures prove the request never left; the rest by their I/O cause.
fn sort(error: ureq::Error) -> TransportError {
    use ureq::{Error, Timeout};
    match error {
        Error::HostNotFound | Error::ConnectionFailed | Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
            TransportError::connect(error)
        }
        Error::Timeout(_) => TransportError::timeout(error),
        Error::BadUri(_) | Error::Http(_) => TransportError::before_sending(error),
        Error::Io(io) => sort_error(io), // ureq's Io is transparent: its source is not the io::Error
        error => sort_error(error),
    }
}
