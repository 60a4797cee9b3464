//! Both transports against a loopback server: each must deliver the request the core built,
//! byte for byte, and return results identical to parsing the response directly.

use std::path::{Path, PathBuf};

use hpp_core::retry::RetryPolicy;
use hpp_core::{
    Client, Config, CreateSession, Credentials, DisableSession, DistributeSession, Distribution, Environment, Error,
    Operation, ReadSession, Transport,
};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_tests::fixture;
use hpp_tests::loopback::{Loopback, Recorded};

fn fixtures() -> Vec<PathBuf> {
    fixture::all()
}

fn outcome<T: serde::Serialize>(result: Result<T, Error>) -> String {
    match result {
        Ok(value) => format!("Ok {}", serde_json::to_string(&value).unwrap()),
        Err(error) => format!("Err {error} {error:?}"),
    }
}

/// Asserts that `recorded` carries everything `built` had: method, target, every header with
/// the same bytes, and the body. Transports may add connection-level headers only.
fn assert_delivered(built: &hpp_core::Request, recorded: &Recorded) {
    assert_eq!(recorded.method, built.method().as_str());
    assert_eq!(recorded.target, built.uri().path_and_query().unwrap().as_str());
    for (name, value) in built.headers() {
        assert_eq!(recorded.header(name.as_str()), Some(value.as_bytes()), "header {name}");
    }
    let added: Vec<&str> =
        recorded.headers.iter().map(|(n, _)| n.as_str()).filter(|n| !built.headers().contains_key(*n)).collect();
    for name in added {
        assert!(["host", "content-length", "connection", "accept-encoding"].contains(&name), "transport added {name}");
    }
    assert_eq!(recorded.body, *built.body());
}

async fn check_operation<T: Transport + Clone, O: Operation>(transport: &T, op: O, fixture: &Path)
where
    O::Output: serde::Serialize,
{
    let response = fixture::load(fixture).response;
    let server = Loopback::start(vec![response.clone()]);
    let config = Config::new(
        hpp_core::BaseUrl::parse(&server.base_url).map(Environment::Custom).unwrap(),
        Credentials::api_key("kco_test_api_KEY").unwrap(),
    );
    // One attempt: this checks what a transport delivers, not the retry policy.
    let client = Client::new(config.clone(), transport.clone(), hpp_runtime::TokioTimer::new())
        .with_retry_policy(RetryPolicy::none());
    let through_transport = outcome(client.send(&op).await);
    let built = op.build(&config).unwrap();
    assert_delivered(&built, &server.next_request());
    let direct = outcome(op.parse(response));
    assert_eq!(through_transport, direct, "{}", fixture.display());
}

async fn check_all<T: Transport + Clone>(transport: T) {
    for path in fixtures() {
        let operation = path.parent().unwrap().file_name().unwrap().to_str().unwrap().to_owned();
        match operation.as_str() {
            "create_session" => {
                check_operation(&transport, CreateSession::new("https://x.example/orders/1"), &path).await
            }
            "read_session" => check_operation(&transport, ReadSession::new("s-1"), &path).await,
            "disable_session" => check_operation(&transport, DisableSession::new("s-1"), &path).await,
            "distribute_session" => {
                let access_id = "klarna:\"q\"\\\u{1}é 5a5e8e70";
                check_operation(
                    &transport,
                    DistributeSession::new("s-1", Distribution::token(access_id).unwrap()),
                    &path,
                )
                .await;
            }
            other => panic!("unknown fixture directory {other}"),
        }
    }
}

#[tokio::test]
async fn reqwest_delivers_and_parses_every_fixture() {
    check_all(ReqwestTransport::new().unwrap()).await;
}

#[tokio::test]
async fn hyper_delivers_and_parses_every_fixture() {
    check_all(HyperTransport::new()).await;
}

/// A port with nothing listening: bind, note the port, drop the listener.
fn closed_port_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

async fn check_failures<T: Transport + Clone>(transport: T, timeout_transport: T, small_body_transport: T) {
    let key = Credentials::api_key("k").unwrap();
    let distribute = DistributeSession::new("s-1", Distribution::email("jane@example.com").unwrap());

    // Nothing listening: a connect error, provably not sent.
    let config =
        Config::new(hpp_core::BaseUrl::parse(&closed_port_base_url()).map(Environment::Custom).unwrap(), key.clone());
    let error = Client::new(config, transport.clone(), hpp_runtime::TokioTimer::new())
        .with_retry_policy(RetryPolicy::none())
        .send(&distribute)
        .await
        .unwrap_err();
    let Error::Transport(transport_error) = &error else { panic!("{error:?}") };
    assert!(transport_error.kind() == hpp_core::TransportErrorKind::Connect, "{error:?}");
    assert_eq!(error.side_effect(), hpp_core::SideEffect::DidNotHappen);

    // A server that accepts and never answers: a timeout, maybe sent.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = Config::new(
        hpp_core::BaseUrl::parse(&format!("http://{}", silent.local_addr().unwrap())).map(Environment::Custom).unwrap(),
        key.clone(),
    );
    let error = Client::new(config, timeout_transport, hpp_runtime::TokioTimer::new())
        .with_retry_policy(RetryPolicy::none())
        .send(&distribute)
        .await
        .unwrap_err();
    let Error::Transport(transport_error) = &error else { panic!("{error:?}") };
    assert!(transport_error.kind() == hpp_core::TransportErrorKind::Timeout, "{error:?}");
    assert_eq!(error.side_effect(), hpp_core::SideEffect::Unknown);
    drop(silent);

    // A body over the limit: refused unread, maybe sent.
    let big = http::Response::builder().status(200).body(vec![b' '; 64 * 1024]).unwrap();
    let server = Loopback::start(vec![big]);
    let config = Config::new(hpp_core::BaseUrl::parse(&server.base_url).map(Environment::Custom).unwrap(), key);
    let error = Client::new(config, small_body_transport, hpp_runtime::TokioTimer::new())
        .with_retry_policy(RetryPolicy::none())
        .send(&ReadSession::new("s-1"))
        .await
        .unwrap_err();
    // The status survives: a 2xx cut at the limit is a decode error, not "no response".
    let Error::Decode(decode) = &error else { panic!("{error:?}") };
    assert_eq!(decode.status(), 200, "{error}");
    assert!(decode.reason().contains("1024-byte limit"), "{error}");
}

#[tokio::test]
async fn reqwest_failures_are_classified() {
    let short = std::time::Duration::from_millis(200);
    check_failures(
        ReqwestTransport::new().unwrap(),
        ReqwestTransport::with_timeouts(short, short).unwrap(),
        ReqwestTransport::new().unwrap().with_body_limit(1024),
    )
    .await;
}

#[tokio::test]
async fn hyper_failures_are_classified() {
    check_failures(
        HyperTransport::new(),
        HyperTransport::new().with_timeout(std::time::Duration::from_millis(200)),
        HyperTransport::new().with_body_limit(1024),
    )
    .await;
}
