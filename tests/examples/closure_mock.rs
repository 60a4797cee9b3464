//! A mock transport in a few lines: a closure that answers from a script and records what the
//! code under test sent, with a `VirtualTimer` so retries take no real time. For your own unit
//! tests of code that uses the SDK; no server, no runtime.
//!
//! Run it: `cargo run -p hpp-tests --example closure_mock`; its test: `cargo test -p hpp-tests --example closure_mock`.

use std::sync::{Arc, Mutex};

use hpp_core::{Client, Config, Credentials, Environment, Mode, Request, Response, TransportError};
use hpp_runtime::block_on;
use hpp_testing::VirtualTimer;

/// Answers each request with the next scripted response and keeps a copy of the request.
fn scripted(
    answers: Vec<(u16, &'static str)>,
) -> (impl hpp_core::Transport + Send + Sync + 'static, Arc<Mutex<Vec<Request>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(answers.into_iter()));
    let log = sent.clone();
    let transport = move |request: Request| {
        let (method, uri) = (request.method().clone(), request.uri().clone());
        log.lock()
            .unwrap()
            .push(http::Request::builder().method(method).uri(uri).body(request.body().clone()).unwrap());
        let (status, body) = queue.lock().unwrap().next().expect("an unexpected request");
        async move { Ok::<Response, TransportError>(http::Response::builder().status(status).body(body.into()).unwrap()) }
    };
    (transport, sent)
}

/// The code under test: the merchant's "is it paid?" check.
async fn is_paid(client: &Client, session_id: &str) -> Result<bool, hpp_core::Error> {
    let session = client.read_session(session_id).await?;
    Ok(session.status == Some(hpp_core::SessionStatus::Completed))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (transport, sent) = scripted(vec![(503, ""), (200, r#"{"session_id":"s1","status":"COMPLETED"}"#)]);
    let timer = VirtualTimer::new();
    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_x")?);
    let client = Client::new(config, transport, timer.clone()).into_shared();
    let paid = block_on(is_paid(&client, "s1"))?;
    println!("paid: {paid}; requests: {}; waited (virtually): {:?}", sent.lock().unwrap().len(), timer.slept());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_is_retried_without_real_waiting_and_the_request_is_the_read() {
        let (transport, sent) = scripted(vec![(503, ""), (200, r#"{"session_id":"s1","status":"COMPLETED"}"#)]);
        let timer = VirtualTimer::new();
        let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k").unwrap());
        let client = Client::new(config, transport, timer.clone()).into_shared();
        assert!(block_on(is_paid(&client, "s1")).unwrap());
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].uri(), "https://api.playground.kustom.co/hpp/v1/sessions/s1");
        assert_eq!(timer.slept().len(), 1, "one backoff between the two reads");
    }
}
