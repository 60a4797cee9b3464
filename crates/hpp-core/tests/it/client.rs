//! `Client` over a closure transport: the request it sends is the one the operation built, and
//! transport failures keep what they say about the request having been sent.

use std::sync::Mutex;

use hpp_core::{
    Client, CreateSession, Distribution, Error, Operation, ReadSession, Request, Response, SessionStatus,
    TransportError, block_on_for_doctest as block_on,
};

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
    let client = Client::new(crate::playground(), transport);
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
    let client = Client::new(crate::playground(), transport);
    let error = block_on(
        client.distribute("https://evil.example/hpp/v1/sessions/s1/distribution", Distribution::token("t").unwrap()),
    )
    .unwrap_err();
    assert!(matches!(error, Error::InvalidInput(_)));
    assert!(!error.may_have_been_sent());
    assert_eq!(*calls.lock().unwrap(), 0);
}

#[test]
fn transport_errors_say_whether_the_request_left() {
    let refused = |_r: Request| async { Err::<Response, _>(TransportError::connect("connection refused")) };
    let client = Client::new(crate::playground(), refused);
    let error = block_on(client.create_session(&CreateSession::new("https://x.example/o/1"))).unwrap_err();
    assert!(!error.may_have_been_sent());
    assert!(error.to_string().contains("safe to try again"), "{error}");

    let timed_out = |_r: Request| async { Err::<Response, _>(TransportError::timeout("deadline")) };
    let client = Client::new(crate::playground(), timed_out);
    let error = block_on(client.distribute("s1", Distribution::token("t").unwrap())).unwrap_err();
    assert!(error.may_have_been_sent());
    assert!(error.to_string().contains("may have reached the server"), "{error}");
}

/// A transport that answers from a script and waits no real time: its timer records the waits.
struct Scripted {
    answers: Mutex<Vec<Result<Response, TransportError>>>,
    sent: Mutex<u32>,
    clock: FakeClock,
}

struct FakeClock {
    start: std::time::Instant,
    waited: Mutex<Vec<std::time::Duration>>,
}

impl hpp_core::Timer for FakeClock {
    fn sleep(&self, duration: std::time::Duration) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        self.waited.lock().unwrap().push(duration);
        Box::pin(async {})
    }
    fn now(&self) -> std::time::Instant {
        self.start + self.waited.lock().unwrap().iter().sum::<std::time::Duration>()
    }
    fn jitter(&self) -> f64 {
        1.0
    }
    fn system_now(&self) -> std::time::SystemTime {
        std::time::SystemTime::UNIX_EPOCH + (self.now() - self.start)
    }
}

impl Scripted {
    fn new(mut answers: Vec<Result<Response, TransportError>>) -> Self {
        answers.reverse();
        let clock = FakeClock { start: std::time::Instant::now(), waited: Mutex::new(Vec::new()) };
        Self { answers: Mutex::new(answers), sent: Mutex::new(0), clock }
    }
}

impl hpp_core::Transport for Scripted {
    fn send(&self, _request: Request) -> impl Future<Output = Result<Response, TransportError>> + Send {
        *self.sent.lock().unwrap() += 1;
        let answer = self.answers.lock().unwrap().pop().expect("no more scripted answers");
        async move { answer }
    }
    fn timer(&self) -> Option<&dyn hpp_core::Timer> {
        Some(&self.clock)
    }
}

fn status(code: u16) -> Result<Response, TransportError> {
    let body = if code == 200 { br#"{"status":"WAITING"}"#.to_vec() } else { Vec::new() };
    Ok(http::Response::builder().status(code).header("retry-after", "1").body(body).unwrap())
}

#[test]
fn reads_are_retried_and_distributions_are_not_sent_twice() {
    let client = Client::new(crate::playground(), Scripted::new(vec![status(503), status(200)]));
    assert!(block_on(client.read_session("s1")).is_ok());
    assert_eq!(*client.transport().sent.lock().unwrap(), 2);
    assert_eq!(*client.transport().clock.waited.lock().unwrap(), [std::time::Duration::from_secs(1)]);

    let client = Client::new(crate::playground(), Scripted::new(vec![Err(TransportError::timeout("t"))]));
    let error = block_on(client.distribute("s1", Distribution::token("t").unwrap())).unwrap_err();
    assert!(error.may_have_been_sent());
    assert_eq!(*client.transport().sent.lock().unwrap(), 1, "a distribution that may have arrived is not re-sent");

    let client = Client::new(crate::playground(), Scripted::new(vec![status(503)]));
    assert!(block_on(client.distribute("s1", Distribution::token("t").unwrap())).is_err());
    assert_eq!(*client.transport().sent.lock().unwrap(), 1);

    let refused = || Err(TransportError::connect("refused"));
    let client = Client::new(crate::playground(), Scripted::new(vec![refused(), refused(), status(201)]));
    assert!(block_on(client.distribute("s1", Distribution::token("t").unwrap())).is_ok());
    assert_eq!(*client.transport().sent.lock().unwrap(), 3, "never-sent requests are retried");
}

#[test]
fn retrying_a_distribution_on_503_is_an_explicit_per_call_choice() {
    let client = Client::new(crate::playground(), Scripted::new(vec![status(503), status(201)]));
    let op = hpp_core::DistributeSession::new("s1", Distribution::token("t").unwrap());
    let options = hpp_core::CallOptions::default()
        .with_retry(hpp_core::retry::RetryPolicy::default().with_side_effect_retry_on_503(true));
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
    let client = Client::new(crate::playground(), Scripted::new(answers))
        .with_retry_policy(hpp_core::retry::RetryPolicy::none());
    let mut changes = Vec::new();
    let options = hpp_core::WatchOptions::default()
        .with_interval(std::time::Duration::from_secs(1), std::time::Duration::from_secs(8));
    let outcome = block_on(client.wait_for_final_status("s1", &options, |s| changes.push(s.status.clone().unwrap())));
    let Ok(hpp_core::WatchOutcome::Final(session)) = outcome else { panic!("{outcome:?}") };
    assert_eq!(session.status, Some(SessionStatus::Completed));
    assert_eq!(changes, [SessionStatus::Waiting, SessionStatus::InProgress, SessionStatus::Completed]);
    let secs: Vec<u64> = client.transport().clock.waited.lock().unwrap().iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [1, 2, 1, 1], "backs off while unchanged, starts over after a change or a failed read");
}

#[test]
fn watching_ends_on_expiry_and_on_the_deadline() {
    let not_found = Ok(http::Response::builder().status(404).body(br#"{"error_code":"NOT_FOUND"}"#.to_vec()).unwrap());
    let client = Client::new(crate::playground(), Scripted::new(vec![read("WAITING"), not_found]));
    let outcome = block_on(client.wait_for_final_status("s1", &hpp_core::WatchOptions::default(), |_| {})).unwrap();
    assert!(matches!(outcome, hpp_core::WatchOutcome::Expired(Some(_))), "{outcome:?}");

    let client = Client::new(crate::playground(), Scripted::new((0..10).map(|_| read("WAITING")).collect()));
    let options = hpp_core::WatchOptions::default().with_deadline(std::time::Duration::from_secs(5));
    let outcome = block_on(client.wait_for_final_status("s1", &options, |_| {})).unwrap();
    assert!(matches!(outcome, hpp_core::WatchOutcome::DeadlinePassed(Some(_))), "{outcome:?}");
    let waited: std::time::Duration = client.transport().clock.waited.lock().unwrap().iter().sum();
    assert_eq!(waited, std::time::Duration::from_secs(5), "never waits past the deadline");

    let closure = |_r: Request| async { read("WAITING") };
    let client = Client::new(crate::playground(), closure);
    let error = block_on(client.wait_for_final_status("s1", &hpp_core::WatchOptions::default(), |_| {})).unwrap_err();
    assert!(matches!(error, Error::InvalidInput(hpp_core::InputError::Unsupported { .. })));
}
