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
