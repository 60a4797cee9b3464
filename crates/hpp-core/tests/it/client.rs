//! `Client` over a closure transport: the request it sends is the one the operation built, and
//! transport failures keep what they say about the request having been sent.

use std::sync::Mutex;

use hpp_core::{
    Client, CreateSession, Distribution, Error, Operation, ReadSession, Request, Response, SessionStatus,
    TransportError,
};
use hpp_runtime::block_on;
use hpp_testing::VirtualTimer;

#[test]
fn sends_what_the_operation_built_and_parses_the_answer() {
    let seen: Mutex<Vec<Request>> = Mutex::new(Vec::new());
    let transport = |request: Request| {
        seen.lock().unwrap().push(request);
        async {
            Ok::<Response, TransportError>(
                http::Response::builder()
                    .status(200)
                    .body(br#"{"session_id":"s1","status":"COMPLETED"}"#.to_vec())
                    .unwrap(),
            )
        }
    };
    let client = Client::new(crate::playground(), transport, VirtualTimer::new());
    let session = block_on(client.read_session("s1")).unwrap();
    assert_eq!(session.status, Some(SessionStatus::Completed));
    let expected = ReadSession::new("s1").build(&crate::playground()).unwrap();
    let sent = seen.lock().unwrap().pop().unwrap();
    assert_eq!(crate::render(&sent), crate::render(&expected));
}

#[test]
fn invalid_input_never_reaches_the_transport() {
    let calls = Mutex::new(0);
    let transport = |_request: Request| {
        *calls.lock().unwrap() += 1;
        async { Err::<Response, _>(TransportError::other("unreachable")) }
    };
    let client = Client::new(crate::playground(), transport, VirtualTimer::new());
    let error =
        block_on(client.distribute_session(
            "https://evil.example/hpp/v1/sessions/s1/distribution",
            Distribution::token("t").unwrap(),
        ))
        .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)));
    assert_eq!(error.side_effect(), hpp_core::SideEffect::DidNotHappen);
    assert_eq!(*calls.lock().unwrap(), 0);
}

#[test]
fn transport_errors_say_whether_the_request_left() {
    let refused = |_r: Request| async { Err::<Response, _>(TransportError::connect("connection refused")) };
    let client = Client::new(crate::playground(), refused, VirtualTimer::new());
    let error = block_on(client.create_session(&CreateSession::new("https://x.example/o/1"))).unwrap_err();
    assert_eq!(error.side_effect(), hpp_core::SideEffect::DidNotHappen);
    assert_eq!(error.to_string(), "could not connect to the API; the request was not sent");
    assert!(error.advice().contains("safe to send the request again"), "{}", error.advice());

    let timed_out = |_r: Request| async { Err::<Response, _>(TransportError::timeout("deadline")) };
    let client = Client::new(crate::playground(), timed_out, VirtualTimer::new());
    let error = block_on(client.distribute_session("s1", Distribution::token("t").unwrap())).unwrap_err();
    assert_eq!(error.side_effect(), hpp_core::SideEffect::Unknown);
    assert_eq!(error.to_string(), "no response from the API in time; the request may have reached the server");
    assert!(error.advice().contains("read the session before repeating the distribution"), "{}", error.advice());
}

/// A transport that answers from a script; its client waits no real time (a [`VirtualTimer`]).
struct Scripted {
    answers: Mutex<Vec<Result<Response, TransportError>>>,
    sent: Mutex<u32>,
}

impl Scripted {
    fn new(mut answers: Vec<Result<Response, TransportError>>) -> Self {
        answers.reverse();
        Self { answers: Mutex::new(answers), sent: Mutex::new(0) }
    }

    /// A client over this script, and the timer it waits with.
    fn client(answers: Vec<Result<Response, TransportError>>) -> (Client<Self>, VirtualTimer) {
        let timer = VirtualTimer::new();
        (Client::new(crate::playground(), Self::new(answers), timer.clone()), timer)
    }
}

impl hpp_core::Transport for Scripted {
    fn send(
        &self,
        _request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<> {
        *self.sent.lock().unwrap() += 1;
        let answer = self.answers.lock().unwrap().pop().expect("no more scripted answers");
        async move { answer }
    }
}

fn status(code: u16) -> Result<Response, TransportError> {
    let body = if code == 200 { br#"{"status":"WAITING"}"#.to_vec() } else { Vec::new() };
    Ok(http::Response::builder().status(code).header("retry-after", "1").body(body).unwrap())
}

#[test]
fn reads_are_retried_and_distributions_are_not_sent_twice() {
    let (client, timer) = Scripted::client(vec![status(503), status(200)]);
    assert!(block_on(client.read_session("s1")).is_ok());
    assert_eq!(*client.transport().sent.lock().unwrap(), 2);
    assert_eq!(timer.slept(), [std::time::Duration::from_secs(1)]);

    let (client, _) = Scripted::client(vec![Err(TransportError::timeout("t"))]);
    let error = block_on(client.distribute_session("s1", Distribution::token("t").unwrap())).unwrap_err();
    assert_eq!(error.side_effect(), hpp_core::SideEffect::Unknown);
    assert_eq!(*client.transport().sent.lock().unwrap(), 1, "a distribution that may have arrived is not re-sent");

    let (client, _) = Scripted::client(vec![status(503)]);
    assert!(block_on(client.distribute_session("s1", Distribution::token("t").unwrap())).is_err());
    assert_eq!(*client.transport().sent.lock().unwrap(), 1);

    let refused = || Err(TransportError::connect("refused"));
    let (client, _) = Scripted::client(vec![refused(), refused(), status(201)]);
    assert!(block_on(client.distribute_session("s1", Distribution::token("t").unwrap())).is_ok());
    assert_eq!(*client.transport().sent.lock().unwrap(), 3, "never-sent requests are retried");
}

#[test]
fn retrying_a_distribution_on_503_is_an_explicit_per_call_choice() {
    let (client, _) = Scripted::client(vec![status(503), status(201)]);
    let op = hpp_core::DistributeSession::new("s1", Distribution::token("t").unwrap());
    let options = hpp_core::retry::RetryPolicy::default().with_side_effect_retry_on_503(true);
    assert!(block_on(client.send_with(&op, &options)).is_ok());
    assert_eq!(*client.transport().sent.lock().unwrap(), 2);
}

fn read(status: &str) -> Result<Response, TransportError> {
    let body = format!(r#"{{"session_id":"s1","status":"{status}"}}"#);
    Ok(http::Response::builder().status(200).body(body.into_bytes()).unwrap())
}

#[test]
fn watching_reports_each_change_and_ends_on_a_final_status() {
    let answers = vec![read("WAITING"), read("WAITING"), status(503), read("IN_PROGRESS"), read("COMPLETED")];
    let (client, timer) = Scripted::client(answers);
    let client = client.with_retry_policy(hpp_core::retry::RetryPolicy::none());
    let mut changes = Vec::new();
    let options = hpp_core::WatchOptions::default()
        .with_interval(std::time::Duration::from_secs(1), std::time::Duration::from_secs(8));
    let outcome = block_on(client.wait_for_final_status("s1", &options, |s| changes.push(s.status.clone().unwrap())));
    let Ok(hpp_core::WatchOutcome::Final(session)) = outcome else { panic!("{outcome:?}") };
    assert_eq!(session.status, Some(SessionStatus::Completed));
    assert_eq!(changes, [SessionStatus::Waiting, SessionStatus::InProgress, SessionStatus::Completed]);
    let secs: Vec<u64> = timer.slept().iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [1, 2, 1, 1], "backs off while unchanged, starts over after a change or a failed read");
}

#[test]
fn watching_ends_on_expiry_and_on_the_deadline() {
    let not_found = Ok(http::Response::builder().status(404).body(br#"{"error_code":"NOT_FOUND"}"#.to_vec()).unwrap());
    let (client, _) = Scripted::client(vec![read("WAITING"), not_found]);
    let outcome = block_on(client.wait_for_final_status("s1", &hpp_core::WatchOptions::default(), |_| {})).unwrap();
    assert!(matches!(outcome, hpp_core::WatchOutcome::Expired(Some(_))), "{outcome:?}");

    let (client, timer) = Scripted::client((0..10).map(|_| read("WAITING")).collect());
    let options = hpp_core::WatchOptions::default().with_deadline(std::time::Duration::from_secs(5));
    let outcome = block_on(client.wait_for_final_status("s1", &options, |_| {})).unwrap();
    assert!(matches!(outcome, hpp_core::WatchOutcome::DeadlinePassed(Some(_))), "{outcome:?}");
    let waited: std::time::Duration = timer.slept().iter().sum();
    assert_eq!(waited, std::time::Duration::from_secs(5), "never waits past the deadline");
}

#[test]
fn a_wrapped_transport_keeps_retries_and_sees_every_attempt() {
    let inner = std::sync::Arc::new(Scripted::new(vec![status(503), status(200)]));
    let seen = std::sync::Arc::new(Mutex::new(0));
    let (inner2, seen2) = (inner.clone(), seen.clone());
    // A wrapper that counts and tags each request, then hands it on.
    let wrapped = move |mut request: Request| {
        *seen2.lock().unwrap() += 1;
        request.headers_mut().insert("x-trace", http::HeaderValue::from_static("1"));
        hpp_core::Transport::send(&*inner2, request)
    };
    let timer = VirtualTimer::new();
    let client = Client::new(crate::playground(), wrapped, timer.clone());
    assert!(block_on(client.read_session("s1")).is_ok());
    assert_eq!(*seen.lock().unwrap(), 2, "the 503 was retried through the wrapper");
    assert_eq!(*inner.sent.lock().unwrap(), 2);
    assert_eq!(timer.slept(), [std::time::Duration::from_secs(1)], "Retry-After honoured");
}

#[test]
fn the_client_enforces_a_per_call_timeout_the_transport_ignores() {
    // Never answers, and never looks at RequestTimeout.
    let silent = |_request: Request| std::future::pending::<Result<Response, TransportError>>();
    let client = Client::new(crate::playground(), silent, VirtualTimer::new())
        .with_retry_policy(hpp_core::retry::RetryPolicy::none());
    let options = hpp_core::retry::RetryPolicy::none().with_attempt_timeout(std::time::Duration::from_secs(2));
    let op = hpp_core::DistributeSession::new("s1", Distribution::token("t").unwrap());
    let error = block_on(client.send_with(&op, &options)).unwrap_err();
    let Error::Transport(transport) = &error else { panic!("{error:?}") };
    assert_eq!(transport.kind(), hpp_core::TransportErrorKind::Timeout, "{error}");
    assert_eq!(
        error.side_effect(),
        hpp_core::SideEffect::Unknown,
        "a distribution cut off by a timeout may have arrived"
    );
    let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    assert!(cause.contains("per-call timeout of 2s"), "{cause}");
}

#[test]
fn the_per_call_timeout_travels_to_the_transport() {
    let seen = std::sync::Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let transport = move |request: Request| {
        *seen2.lock().unwrap() = request.extensions().get::<hpp_core::transport::RequestTimeout>().copied();
        async { status(200) }
    };
    let client = Client::new(crate::playground(), transport, VirtualTimer::new());
    let options = hpp_core::retry::RetryPolicy::default().with_attempt_timeout(std::time::Duration::from_millis(1500));
    block_on(client.send_with(&ReadSession::new("s1"), &options)).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some(hpp_core::transport::RequestTimeout(std::time::Duration::from_millis(1500)))
    );
}

#[test]
fn transports_chosen_at_run_time_share_one_client_type() {
    let answering = |_r: Request| async { read("COMPLETED") };
    let offline = |_r: Request| async { Err::<Response, _>(TransportError::connect("offline")) };
    let clients: Vec<Client> = [true, false]
        .into_iter()
        .map(|online| {
            let transport = if online {
                hpp_core::transport::SharedTransport::new(answering)
            } else {
                hpp_core::transport::SharedTransport::new(offline)
            };
            Client::new(crate::playground(), transport, VirtualTimer::new())
        })
        .collect();
    let session = block_on(clients[0].read_session("s1")).unwrap();
    assert_eq!(session.status, Some(SessionStatus::Completed));
    let error = block_on(clients[1].read_session("s1")).unwrap_err();
    assert_eq!(error.side_effect(), hpp_core::SideEffect::DidNotHappen);
    let shared: Client = Client::new(crate::playground(), answering, VirtualTimer::new()).into_shared();
    assert!(block_on(shared.read_session("s1")).is_ok());
}

#[test]
fn watching_a_session_that_never_existed_is_an_error_not_an_expiry() {
    let not_found =
        || Ok(http::Response::builder().status(404).body(br#"{"error_code":"NOT_FOUND"}"#.to_vec()).unwrap());
    let (client, _) = Scripted::client(vec![not_found()]);
    let outcome = block_on(client.wait_for_final_status("s1", &hpp_core::WatchOptions::default(), |_| {}));
    let Err(Error::Api(api)) = outcome else { panic!("{outcome:?}") };
    assert_eq!(api.status(), 404);
}

#[test]
fn retries_stop_at_the_attempt_limit_whatever_the_time_left() {
    let refused = || Err(TransportError::connect("refused"));
    let (client, timer) = Scripted::client((0..10).map(|_| refused()).collect());
    assert!(block_on(client.read_session("s1")).is_err());
    assert_eq!(*client.transport().sent.lock().unwrap(), 3, "three attempts, then the error");
    assert_eq!(timer.slept().len(), 2);
}

#[test]
fn a_bare_404_after_a_read_is_expiry_too() {
    let bare = Ok(http::Response::builder().status(404).body(Vec::new()).unwrap());
    let (client, _) = Scripted::client(vec![read("WAITING"), bare]);
    let outcome = block_on(client.wait_for_final_status("s1", &hpp_core::WatchOptions::default(), |_| {})).unwrap();
    assert!(matches!(outcome, hpp_core::WatchOutcome::Expired(Some(_))), "{outcome:?}");
}

#[test]
fn disabling_sends_a_delete_and_reports_refusals() {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let transport = move |request: Request| {
        log.lock().unwrap().push(request.method().clone());
        async { status(400) }
    };
    let client = Client::new(crate::playground(), transport, VirtualTimer::new());
    assert!(block_on(client.disable_session("s1")).is_err(), "a 400 is an error");
    assert_eq!(*seen.lock().unwrap(), [http::Method::DELETE]);
}

/// A failure before sending (the transport refused the request: a conversion failure, or a
/// replayer that did not expect it) is its own kind: not sent, never retried (sending again
/// fails the same way), and its message and advice name that, not the network.
#[test]
fn a_refusal_before_sending_is_not_retried_and_not_blamed_on_the_network() {
    for call in ["create", "read"] {
        let (client, _timer) = Scripted::client(vec![
            Err(TransportError::before_sending("unexpected request, not in the cassette")),
            status(200),
            status(200),
            status(200),
        ]);
        let error = match call {
            "create" => block_on(client.create_session(&CreateSession::new("https://x.example/o/1"))).unwrap_err(),
            _ => block_on(client.read_session("s1")).unwrap_err(),
        };
        assert_eq!(*client.transport().sent.lock().unwrap(), 1, "{call}: retried a deterministic failure");
        let Error::Transport(transport) = &error else { panic!("{error:?}") };
        assert_eq!(transport.kind(), hpp_core::TransportErrorKind::NotSent);
        assert_eq!(error.side_effect(), hpp_core::SideEffect::DidNotHappen);
        assert!(!error.to_string().contains("connection") && !error.to_string().contains("connect"), "{error}");
        assert!(error.to_string().contains("before"), "{error}");
        assert!(!error.advice().contains("network"), "{}", error.advice());
    }
}

/// Issue 37: an error knows the call it came from, and what to do (prose and [`Action`]) is
/// about that call: a read that timed out is read again, a distribution is read first, a create
/// (whose session cannot be looked up) is made again.
#[test]
fn errors_know_their_operation_and_what_to_do_about_it() {
    use hpp_core::retry::RetryPolicy;
    use hpp_core::{Action, DisableSession, DistributeSession, OperationKind};
    use std::time::{Duration, SystemTime};

    let answer = |status: u16, retry_after: Option<&'static str>| {
        move |_r: Request| async move {
            let mut response = http::Response::builder().status(status);
            if let Some(value) = retry_after {
                response = response.header("retry-after", value);
            }
            Ok::<Response, TransportError>(response.body(Vec::new()).unwrap())
        }
    };
    let timed_out = |_r: Request| async { Err::<Response, _>(TransportError::timeout("deadline")) };
    let refused = |_r: Request| async { Err::<Response, _>(TransportError::connect("refused")) };
    let never = RetryPolicy::none();
    let now = SystemTime::UNIX_EPOCH;
    let create = CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/1");
    let distribute = DistributeSession::new("s1", Distribution::token("t").unwrap());

    // Timed out: what to do depends on the call.
    let client = Client::new(crate::playground(), timed_out, VirtualTimer::new());
    let read = block_on(client.send_with(&ReadSession::new("s1"), &never)).unwrap_err();
    assert_eq!(read.operation(), Some(OperationKind::ReadSession));
    assert_eq!(read.action(now), Action::Retry { after: None });
    assert!(read.advice().contains("a read changes nothing"), "{}", read.advice());
    assert!(!read.advice().contains("create or a distribution"), "{}", read.advice());
    let disable = block_on(client.send_with(&DisableSession::new("s1"), &never)).unwrap_err();
    assert_eq!(disable.operation(), Some(OperationKind::DisableSession));
    assert_eq!(disable.action(now), Action::Retry { after: None });
    let created = block_on(client.send_with(&create, &never)).unwrap_err();
    assert_eq!(created.operation(), Some(OperationKind::CreateSession));
    assert_eq!(created.action(now), Action::Retry { after: None });
    assert!(created.advice().contains("cannot be found"), "{}", created.advice());
    assert!(!created.advice().contains("read the session"), "a create has no session to read: {}", created.advice());
    let distributed = block_on(client.send_with(&distribute, &never)).unwrap_err();
    assert_eq!(distributed.operation(), Some(OperationKind::DistributeSession));
    assert_eq!(distributed.action(now), Action::ReadSessionFirst);

    // Not sent at all: any call may be sent again.
    let client = Client::new(crate::playground(), refused, VirtualTimer::new());
    let distributed = block_on(client.send_with(&distribute, &never)).unwrap_err();
    assert_eq!(distributed.action(now), Action::Retry { after: None });

    // Answers: by status, code and call.
    let action_of = |status: u16, retry_after: Option<&'static str>, distribute_it: bool| {
        let client = Client::new(crate::playground(), answer(status, retry_after), VirtualTimer::new());
        let error = if distribute_it {
            block_on(client.send_with(&distribute, &never)).unwrap_err()
        } else {
            block_on(client.send_with(&ReadSession::new("s1"), &never)).unwrap_err()
        };
        (error.action(now), error.advice())
    };
    assert_eq!(action_of(429, Some("7"), false).0, Action::Retry { after: Some(Duration::from_secs(7)) });
    assert_eq!(action_of(503, Some("2"), false).0, Action::Retry { after: Some(Duration::from_secs(2)) });
    let (action, advice) = action_of(503, None, true);
    assert_eq!(action, Action::ReadSessionFirst);
    assert!(advice.contains("before repeating the distribution"), "{advice}");
    assert_eq!(action_of(400, None, true).0, Action::FixRequest);
    assert_eq!(action_of(401, None, false).0, Action::FixRequest);
    assert_eq!(action_of(404, None, false).0, Action::StartOver);
    assert_eq!(action_of(409, None, true).0, Action::ReadSessionFirst);
    let input = block_on(Client::new(crate::playground(), refused, VirtualTimer::new()).read_session("")).unwrap_err();
    assert_eq!((input.operation(), input.action(now)), (None, Action::FixRequest));

    // An undefined error from the service: support, with the correlation id.
    let response = http::Response::builder()
        .status(400)
        .body(br#"{"error_code":"UNKNOWN","correlation_id":"c-1"}"#.to_vec())
        .unwrap();
    let error = ReadSession::new("s1").parse(response).unwrap_err();
    assert_eq!(error.operation(), Some(OperationKind::ReadSession), "parse names its call without a client");
    assert_eq!(error.action(now), Action::ContactSupport { correlation_id: Some("c-1".to_owned()) });
}
