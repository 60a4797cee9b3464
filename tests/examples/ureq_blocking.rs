//! Blocking code: the client over ureq (`hpp-ureq`), with retries, in plain sync code, no async
//! runtime.
//!
//! Run it: `cargo run -p hpp-tests --example ureq_blocking` (against an embedded sandbox; set
//! `KUSTOM_API_KEY` to use the Kustom playground instead). Its test checks retries and that a
//! distribution is never re-sent: `cargo test -p hpp-tests --example ureq_blocking`.
use hpp_core::{Client, Config, CreateSession, Credentials, Distribution, Environment, Mode};
use hpp_ureq::{StdTimer, UreqTransport, block_on};

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

    block_on(client.distribute_session(distribution_url, Distribution::email("jane.doe@example.com")?))?;
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
    fn a_blocking_client_retries_a_read_and_never_resends_a_distribution() {
        let sandbox = hpp_sandbox::Sandbox::start_on_own_thread(hpp_sandbox::SandboxConfig::default()).unwrap();
        let fast = hpp_core::retry::RetryPolicy::default()
            .with_backoff(std::time::Duration::from_millis(1), std::time::Duration::from_millis(5));
        let client =
            Client::new(sandbox.client_config(), UreqTransport::new(), StdTimer::new()).with_retry_policy(fast);
        let created = block_on(client.create_session(&CreateSession::new("https://x.example/orders/1"))).unwrap();

        sandbox.inject_faults([hpp_sandbox::Fault::Status { status: 503, retry_after: Some(0), error_code: None }]);
        let session = block_on(client.read_session(created.session_url.as_deref().unwrap()));
        assert!(session.is_ok(), "{session:?}");

        sandbox.inject_faults([hpp_sandbox::Fault::ResetAfterRead]);
        let url = created.distribution_url.as_deref().unwrap();
        let error =
            block_on(client.distribute_session(url, Distribution::email("once@example.com").unwrap())).unwrap_err();
        assert_eq!(error.side_effect(), hpp_core::SideEffect::Unknown, "{error}");
        let sent: Vec<String> = sandbox.outbox().into_iter().map(|m| m.recipient).collect();
        assert_eq!(sent, ["once@example.com"], "delivered once, not re-sent");
    }
}
