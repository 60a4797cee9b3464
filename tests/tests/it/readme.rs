//! README.md's Rust examples are compiled code: every ```rust block in it appears, line for line,
//! in a function of this file (a `// ...` line in the README stands for any lines here), and
//! the functions that need no network run against the sandbox.
//!
//! Change an example in both places; `readme_examples_are_compiled_here` fails until they agree.

#![allow(dead_code, unused_variables, unused_qualifications, clippy::unused_async)]

use std::error::Error;

use hpp_core::{Config, Credentials, Environment, Mode};

type Result<T = ()> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

#[rustfmt::skip] // the lines must stay as README.md has them
pub(crate) mod examples {
use super::*;

// ---- "Errors": an app's own outcomes in one match ----

enum Outcome { RetryIn(std::time::Duration), Reject, Reconcile, Escalate }

mod outcomes {
use super::Outcome;
use std::time::{Duration, SystemTime};
use hpp_core::Action;

fn outcome(error: &hpp_core::Error) -> Outcome {
    match error.action(SystemTime::now()) {
        Action::Retry { after } => Outcome::RetryIn(after.unwrap_or(Duration::from_secs(1))),
        Action::FixRequest | Action::StartOver => Outcome::Reject,
        Action::ReadSessionFirst => Outcome::Reconcile,
        _ => Outcome::Escalate, // ContactSupport, and any answer a later release adds
    }
}

#[test]
fn a_timed_out_distribution_is_reconciled() {
    let error = hpp_core::Error::from(hpp_core::TransportError::timeout("deadline"));
    assert!(matches!(outcome(&error), Outcome::Reconcile));
    assert!(matches!(outcome(&hpp_core::Error::from(hpp_core::TransportError::connect("refused"))), Outcome::RetryIn(_)));
}
}

// ---- "Use it" (compiled, not run: it talks to the playground) ----

async fn use_it() -> Result {
    use hpp_core::{Client, Config, CreateSession, Credentials, Distribution, Environment, MerchantUrls, Mode};
    use hpp_reqwest::{ReqwestTransport, TokioTimer}; // or hpp_hyper::{HyperTransport, TokioTimer}

    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_...")?);
    // The timer is how the client waits between retries and status reads: hpp_runtime::TokioTimer on
    // Tokio (re-exported by both transports), hpp_runtime::StdTimer in blocking code.
    let client = Client::new(config, ReqwestTransport::new()?, TokioTimer::new());

    let mut order = CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/<order id>");
    let mut urls = MerchantUrls::default(); // request models: set the fields you need
    urls.success = Some("https://shop.example/thanks?sid={{session_id}}".into());
    order.merchant_urls = Some(urls);
    let created = client.create_session(&order).await?;
    // Each call takes what the previous one returned: the distribution_url for distribute, the
    // session_url for read and disable (or the session id, when the answer lacked a URL).
    client.distribute_session(&created, Distribution::email("jane@example.com")?).await?;
    let session = client.read_session(&created).await?;
    println!("{:?}", session.status);
    Ok(())
}

// ---- "Bring your own client": a transport with hpp_runtime::transport's pieces ----

mod ureq_transport {
use hpp_core::{Request, Response, Transport, TransportError};
use hpp_runtime::transport::{DEFAULT_BODY_LIMIT, attempt_timeout, read_capped, sort_error};

struct Ureq(ureq::Agent); // built with `.proxy(None)`: no proxy from HTTP_PROXY

impl Transport for Ureq {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<> {
        let timeout = Some(attempt_timeout(&request));
        let call = ureq::RequestExt::with_agent(request, &self.0).configure();
        let result = call.http_status_as_error(false).max_redirects(0).timeout_global(timeout).run();
        std::future::ready(match result {
            Ok(response) => read_capped(response.map(ureq::Body::into_reader), DEFAULT_BODY_LIMIT),
            Err(ureq::Error::Io(e)) => Err(sort_error(e)),
            Err(e @ (ureq::Error::HostNotFound | ureq::Error::ConnectionFailed)) => Err(TransportError::connect(e)),
            Err(e @ ureq::Error::Timeout(_)) => Err(TransportError::timeout(e)),
            Err(e) => Err(sort_error(e)),
        })
    }
}

#[test]
fn keeps_the_contract() {
let transport = Ureq(ureq::Agent::config_builder().proxy(None).build().into());
    hpp_runtime::block_on(hpp_conformance::check(&transport)).assert_passed();
}
}

// ---- "Bring your own client": the conformance kit ----

mod conformance {
    use hpp_hyper::HyperTransport as MyTransport;

    #[tokio::test] // or hpp_runtime::block_on(...) for a blocking transport
    async fn keeps_the_contract() {
        hpp_conformance::check(&MyTransport::new()).await.assert_passed();
    }
}

// ---- "Or skip transports entirely" ----

// ---- "Knowing when the consumer has paid, in production" (compiled, not run: see the
// paid_once example, which CI runs; the hand-off is run by tracking.rs against PostgreSQL) ----

pub(crate) mod paid_in_production {
    use hpp_core::tracking::{FinalStatus, Finished, HandOff};
    use hpp_postgres::PgStore;
    use std::result::Result;

struct MarkOrder;
impl HandOff<PgStore> for MarkOrder {
    async fn hand_off(&self, tx: &mut hpp_postgres::PgTx, finished: &Finished) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let order = finished.order_key.as_deref().ok_or("tracked without an order key")?;
        let marked = match finished.status {
            // Another session of this order was paid first: ship nothing more, refund one.
            FinalStatus::CompletedTwice => tx.execute("UPDATE orders SET refund_due = true WHERE id = $1", &[&order]).await?,
            // COMPLETED (check finished.confirmed), COMPLETED_AFTER_EXPIRED, CANCELLED, ..., EXPIRED
            // ("not known to be paid": reconcile before releasing the stock).
            status => tx.execute("UPDATE orders SET payment = $2 WHERE id = $1", &[&order, &status.as_str()]).await?,
        };
        if marked == 0 {
            // The callback beat the checkout's commit: fail, and it is handed off again later.
            return Err(format!("order {order} is not stored yet").into());
        }
        Ok(())
    }
}

    /// The README's hand-off, for `tracking.rs`'s test of it.
    pub(crate) fn mark_order() -> impl HandOff<PgStore> + 'static {
        MarkOrder
    }

#[allow(clippy::too_many_arguments)] // what the README's block takes as given
async fn paid_exactly_once_in_production(
    database_url: String,
    secret: hpp_core::callback::CallbackSecret,
    client: hpp_core::Client<hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>>,
    your_router: axum::Router,
    shutdown: std::future::Pending<()>,
    mut db: tokio_postgres::Client,
    session_id: String,
    order_id: String,
    expires_at: Option<std::time::SystemTime>,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;
    use std::time::SystemTime;
    use hpp_tracker::CallbackReceiver;
    use hpp_core::tracking::TrackingPolicy;
    use hpp_runtime::TokioTimer;
    use hpp_tracker::Poller;
    use std::time::Duration;

    // (startup)
let store = Arc::new(PgStore::connect(&database_url, TrackingPolicy::default()).await?);
store.migrate().await?;
let receiver = CallbackReceiver::new(store.clone(), Arc::new(MarkOrder), secret.clone(), TokioTimer::new());
let app: axum::Router = your_router.merge(receiver.router("/hpp/callback"));
let poller = Poller::new(store.clone(), client.clone(), Arc::new(MarkOrder), TokioTimer::new());
tokio::spawn(poller.run(shutdown, Duration::from_secs(10))); // 10 s to finish steps under way
    let tx = db.transaction().await?;
store.track_in(&tx, &session_id, Some(&order_id), expires_at, SystemTime::now()).await?;
    tx.commit().await?;
    Ok(())
}
}

fn my_client_roundtrip(request: hpp_core::Request) -> Result<hpp_core::Response> {
    assert_eq!(request.uri().path(), "/hpp/v1/sessions/9cbc9884-1fdb-45a8-9694-9340340d0436");
    let body = br#"{"session_id":"9cbc9884-1fdb-45a8-9694-9340340d0436","status":"WAITING"}"#;
    Ok(http::Response::builder().status(200).body(body.to_vec())?)
}

#[test]
fn skip_transports() -> Result {
    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k")?);
    use hpp_core::{Operation, ReadSession};

    let op = ReadSession::new("9cbc9884-1fdb-45a8-9694-9340340d0436");
    let request = op.build(&config)?; // http::Request<Vec<u8>>, credentials attached
    let response = my_client_roundtrip(request)?; // ureq, curl, your own: keeping the contract above
    let session = op.parse(response)?; // typed result or typed error
    assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting));
    Ok(())
}

// ---- "The sandbox in your tests" ----

#[tokio::test]
async fn the_sandbox_in_your_tests() -> Result {
    let sandbox = hpp_sandbox::Sandbox::start(hpp_sandbox::SandboxConfig::default()).await?;
    let client = hpp_core::Client::new(sandbox.client_config(), hpp_hyper::HyperTransport::new(), hpp_hyper::TokioTimer::new());
    // ... exercise your code ...
    let created = client.create_session(&hpp_core::CreateSession::new("https://x.example/orders/1")).await?;
    client.distribute_session(&created, hpp_core::Distribution::email("jane@example.com")?).await?;
    let session_id = created.session_id.clone().ok_or("no session id")?;
    assert_eq!(sandbox.outbox().len(), 1); // exactly one e-mail went out
    sandbox.set_status(&session_id, hpp_core::SessionStatus::Completed); // play the consumer
    assert_eq!(client.read_session(&created).await?.status, Some(hpp_core::SessionStatus::Completed));
    Ok(())
}

#[test]
fn plain_http_beyond_loopback_is_an_explicit_opt_in() -> Result {
    let environment = hpp_core::BaseUrl::parse_allowing_plain_http("http://sandbox:8080").map(hpp_core::Environment::Custom)?;
    // Debug of the Config says CREDENTIALS IN CLEAR; BaseUrl::sends_credentials_in_clear() is true.
    assert!(environment.base_url().sends_credentials_in_clear());
    Ok(())
}

#[test]
fn the_sandbox_on_its_own_thread() -> Result {
    let sandbox = hpp_sandbox::Sandbox::start_on_own_thread(hpp_sandbox::SandboxConfig::default())?;
    // ... a blocking client against sandbox.base_url() ...
    drop(sandbox); // stops it and waits until it has
    Ok(())
}

// ---- "Testing your integration" ----

#[test]
fn snapshots() -> Result {
    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k")?);
    let request = hpp_core::Operation::build(&hpp_core::ReadSession::new("s1"), &config)?;
    let result: std::result::Result<(), String> = Ok(());
    let mut redactor = hpp_testing::Redactor::new();
    insta::assert_snapshot!(redactor.request(&request)); // what the wrapper sent
    insta::assert_snapshot!(redactor.debug(&result)); // what it got back
    Ok(())
}

async fn cassettes(config: Config) -> Result {
    use hpp_core::Client;
    let recorder = hpp_testing::Recorder::new(hpp_hyper::HyperTransport::new(), "tests/cassettes/pay.cassette");
    // ... later, with no server:
    let replayer = hpp_testing::Replayer::from_file("tests/cassettes/pay.cassette")?;
    let client = Client::new(config, replayer.clone(), hpp_testing::VirtualTimer::new());
    // ... run the same code ...
    replayer.assert_all_used();
    Ok(())
}

}

// ---- The check ----

/// The ```rust blocks of `markdown`, each as its trimmed, non-empty lines.
fn rust_blocks(markdown: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in markdown.lines() {
        let trimmed = line.trim();
        match (&mut current, trimmed) {
            (None, "```rust") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) if !text.is_empty() => block.push(normalise(text)),
            _ => {}
        }
    }
    blocks
}

/// One line as rustfmt would lay it out here: a trailing comment after one space... or two.
fn normalise(line: &str) -> String {
    match line.split_once(" //") {
        Some((code, comment)) if !code.trim_start().starts_with("//") => format!("{} //{comment}", code.trim_end()),
        _ => line.to_owned(),
    }
}

/// Whether `block` matches `source` from `at`, a `// ...` line matching any run of lines.
fn matches_at(block: &[String], source: &[String], at: usize) -> bool {
    let Some((first, rest)) = block.split_first() else { return true };
    if first.starts_with("// ...") {
        return (at..=source.len()).any(|next| matches_at(rest, source, next));
    }
    source.get(at).is_some_and(|line| line == first) && matches_at(rest, source, at + 1)
}

#[test]
fn readme_examples_are_compiled_here() {
    let readme = include_str!("../../../README.md");
    let this_file: Vec<String> =
        include_str!("readme.rs").lines().map(str::trim).filter(|l| !l.is_empty()).map(normalise).collect();
    let blocks = rust_blocks(readme);
    assert!(blocks.len() >= 7, "found only {} rust blocks in README.md", blocks.len());
    for block in blocks {
        let found = (0..this_file.len()).any(|at| matches_at(&block, &this_file, at));
        assert!(found, "this README example is not compiled in tests/tests/readme.rs:\n{}", block.join("\n"));
    }
}

#[test]
fn the_matcher_notices_a_change() {
    let source: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let block = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(matches_at(&block(&["b", "c"]), &source, 1));
    assert!(!matches_at(&block(&["b", "d"]), &source, 1));
    assert!(matches_at(&block(&["a", "// ... anything", "d"]), &source, 0));
    assert!(!matches_at(&block(&["a", "// ...", "e"]), &source, 0));
}
