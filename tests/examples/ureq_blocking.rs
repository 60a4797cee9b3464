//! Bring your own HTTP client: a blocking transport over ureq, with retries, in plain sync code.
//!
//! Run it: `cargo run -p hpp-tests --example ureq_blocking` (against an embedded sandbox; set
//! `KUSTOM_API_KEY` to use the Kustom playground instead). Its tests run the conformance kit
//! against the transport: `cargo test -p hpp-tests --example ureq_blocking`.

use std::io::Read;
use std::time::Duration;

use hpp_core::{Client, Config, CreateSession, Credentials, Distribution, Environment, Mode};
use hpp_runtime::{StdTimer, block_on};

// --- the transport: everything a ureq user writes ------------------------------------------
use hpp_core::transport::{BodyTruncated, RequestTimeout};
use hpp_core::{Request, Response, Transport, TransportError};

/// The response body cap.
const LIMIT: u64 = 1024 * 1024;

/// A blocking [`Transport`] over a `ureq::Agent` that keeps the transport contract.
#[derive(Clone)]
struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false) // a 401 or 503 is a response, not an error
            .max_redirects(0) // never follow a redirect
            .proxy(None) // no proxy from HTTP_PROXY: it would receive the credentials
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        Self { agent: config.into() }
    }

    fn exchange(&self, request: Request) -> Result<Response, TransportError> {
        let timeout = request.extensions().get::<RequestTimeout>().map(|t| t.0);
        let mut call = ureq::RequestExt::with_agent(request, &self.agent).configure();
        if timeout.is_some() {
            call = call.timeout_global(timeout); // honour the per-call timeout
        }
        let (parts, body) = call.run().map_err(classify)?.into_parts();
        let mut response = Response::from_parts(parts, Vec::new());
        // Read one byte past the cap at most; a longer body is cut and marked, keeping the status.
        let read = body.into_reader().take(LIMIT + 1).read_to_end(response.body_mut());
        read.map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut { TransportError::timeout(e) } else { TransportError::other(e) }
        })?;
        BodyTruncated::mark(&mut response, LIMIT as usize);
        Ok(response)
    }
}

/// Connect-phase failures prove the request never left; anything later may have reached the server.
fn classify(error: ureq::Error) -> TransportError {
    use ureq::{Error, Timeout};
    match error {
        Error::HostNotFound | Error::ConnectionFailed | Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
            TransportError::connect(error)
        }
        Error::Io(ref e) if e.kind() == std::io::ErrorKind::ConnectionRefused => TransportError::connect(error),
        Error::Timeout(_) => TransportError::timeout(error),
        Error::BadUri(_) | Error::Http(_) => TransportError::before_sending(error),
        _ => TransportError::other(error),
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
// --- end of the transport ------------------------------------------------------------------

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (config, sandbox) = match std::env::var("KUSTOM_API_KEY") {
        Ok(key) => (Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key(&key)?), None),
        Err(_) => {
            let sandbox = hpp_sandbox::Sandbox::start_on_own_thread(hpp_sandbox::SandboxConfig::default())?;
            (sandbox.client_config(), Some(sandbox))
        }
    };
    // StdTimer: retries and watches wait by blocking this thread.
    let client = Client::new(config, UreqTransport::new(), StdTimer::new());

    let created = block_on(client.create_session(&CreateSession::new(
        "https://api.playground.kustom.co/checkout/v3/orders/4f3c2d1e-ureq-example",
    )))?;
    let session_url = created.session_url.as_deref().ok_or("the API returned no session_url")?;
    let distribution_url = created.distribution_url.as_deref().ok_or("the API returned no distribution_url")?;
    println!("created   {}", created.session_id.as_deref().unwrap_or("?"));

    block_on(client.distribute(distribution_url, Distribution::email("jane.doe@example.com")?))?;
    println!("sent      the pay link by e-mail");

    if let Some(sandbox) = &sandbox {
        // The sandbox answers the next request 503 with Retry-After: 1; the client retries the read.
        sandbox.inject_faults([hpp_sandbox::Fault::Status { status: 503, retry_after: Some(1), error_code: None }]);
    }
    let session = block_on(client.read_session(session_url))?;
    println!("status    {:?}{}", session.status, if sandbox.is_some() { " (after one retried 503)" } else { "" });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ureq_transport_keeps_the_contract() {
        block_on(hpp_conformance::check(&UreqTransport::new())).assert_passed();
    }

    #[test]
    fn the_ureq_transport_takes_no_proxy_from_the_environment() {
        block_on(hpp_conformance::check_environment(UreqTransport::new)).assert_passed();
    }

    #[test]
    fn a_blocking_client_retries_a_read_and_never_resends_a_distribution() {
        let sandbox = hpp_sandbox::Sandbox::start_on_own_thread(hpp_sandbox::SandboxConfig::default()).unwrap();
        let fast =
            hpp_core::retry::RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5));
        let client =
            Client::new(sandbox.client_config(), UreqTransport::new(), StdTimer::new()).with_retry_policy(fast);
        let created = block_on(client.create_session(&CreateSession::new("https://x.example/orders/1"))).unwrap();

        sandbox.inject_faults([hpp_sandbox::Fault::Status { status: 503, retry_after: Some(0), error_code: None }]);
        let session = block_on(client.read_session(created.session_url.as_deref().unwrap()));
        assert!(session.is_ok(), "{session:?}");

        sandbox.inject_faults([hpp_sandbox::Fault::ResetAfterRead]);
        let url = created.distribution_url.as_deref().unwrap();
        let error = block_on(client.distribute(url, Distribution::email("once@example.com").unwrap())).unwrap_err();
        assert_eq!(error.side_effect(), hpp_core::SideEffect::Unknown, "{error}");
        let sent: Vec<String> = sandbox.outbox().into_iter().map(|m| m.recipient).collect();
        assert_eq!(sent, ["once@example.com"], "delivered once, not re-sent");
    }
}
