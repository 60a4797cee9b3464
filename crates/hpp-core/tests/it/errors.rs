//! The error's answers, as a caller sees them: whether the side effect could have happened (for
//! every kind and status), what the retry policy does with it, and what reporters print.

use std::time::{Duration, SystemTime};

use hpp_core::retry::{GiveUpReason, RetryPolicy};
use hpp_core::{Error, Operation, ReadSession, SideEffect, TransportError};

fn api(status: u16) -> Error {
    api_with(status, "")
}

fn api_with(status: u16, body: &str) -> Error {
    let response = http::Response::builder().status(status).body(body.as_bytes().to_vec()).unwrap();
    ReadSession::new("s1").parse(response).unwrap_err()
}

fn decode() -> Error {
    let response = http::Response::builder().status(200).body(b"<html>".to_vec()).unwrap();
    ReadSession::new("s1").parse(response).unwrap_err()
}

fn invalid_input() -> Error {
    ReadSession::new("a/b").build(&crate::playground()).unwrap_err()
}

#[test]
fn every_kind_and_status_has_one_side_effect_answer() {
    use SideEffect::*;
    let mut table: Vec<(String, Error, SideEffect)> = vec![
        ("invalid input".into(), invalid_input(), DidNotHappen),
        ("connect".into(), TransportError::connect("refused").into(), DidNotHappen),
        ("before sending".into(), TransportError::before_sending("bad uri").into(), DidNotHappen),
        ("timeout".into(), TransportError::timeout("slow").into(), Unknown),
        ("broken connection".into(), TransportError::other("reset").into(), Unknown),
        ("2xx undecodable".into(), decode(), Happened),
    ];
    for status in (300..=399).chain(400..=499).chain(500..=599).chain([100, 199, 600, 999]) {
        let expected = if (400..500).contains(&status) { DidNotHappen } else { Unknown };
        table.push((format!("status {status}"), api(status), expected));
        // Whatever code the body carries, the answer (and the advice) follows the status.
        for code in hpp_core::ErrorCode::KNOWN.iter().chain(&["SOMETHING_NEW"]) {
            let body = format!(r#"{{"error_code":"{code}"}}"#);
            table.push((format!("status {status} {code}"), api_with(status, &body), expected));
        }
    }
    for (name, error, expected) in &table {
        assert_eq!(error.side_effect(), *expected, "{name}: {error}");
        // The retry policy agrees: it never repeats a side effect that may have happened, and
        // never gives up for that reason when it did not.
        let decision = RetryPolicy::default().decide(
            hpp_core::CreateSession::REPEATABLE,
            1,
            Duration::ZERO,
            error,
            0.0,
            SystemTime::UNIX_EPOCH,
        );
        let gave_up_for_side_effect = decision == Err(GiveUpReason::SideEffectUnknown);
        if *expected == DidNotHappen {
            assert!(!gave_up_for_side_effect, "{name}: {decision:?}");
        } else {
            assert!(decision.is_err(), "{name}: a POST repeated after {expected:?}");
        }
        // The advice agrees too: an unknown outcome always sends the caller to read the session
        // (these answers are to a read: read it again).
        let advice = error.advice();
        assert_eq!(
            advice.contains("read the session before repeating") || advice.contains("read the session again"),
            *expected == Unknown,
            "{name}: {}",
            error.advice()
        );
        assert!(!expected.to_string().is_empty());
    }
}

/// `error` and its causes as `anyhow` prints `{:#}`, and as `{:?}` (what `main` returning an
/// `anyhow::Result` prints).
fn reported(error: Error) -> String {
    let error = anyhow::Error::new(error).context("distributing the session");
    let debug = format!("{error:?}");
    // Without the backtrace, which depends on the machine and RUST_BACKTRACE.
    let debug = debug.split("\n\nStack backtrace:").next().unwrap_or_default();
    format!("{error:#}\n---\n{debug}")
}

#[test]
fn reporters_print_each_cause_once_and_no_advice() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    let cases = [
        ("connect", TransportError::connect(io).into()),
        ("timeout", TransportError::timeout("no answer within the per-call timeout of 2s").into()),
        ("api", api(503)),
        ("decode", decode()),
        ("input", invalid_input()),
    ];
    for (name, error) in cases {
        let advice = error.advice();
        let text = reported(error);
        assert!(!text.contains(advice), "{name}: advice in Display:\n{text}");
        for cause in ["connection refused", "per-call timeout"] {
            assert!(text.matches(cause).count() <= 2, "{name}: {cause} printed more than once per report:\n{text}");
        }
        insta::assert_snapshot!(name, text);
    }
    // `Box<dyn Error>` from `main` prints `Debug`: the facts, never the secret or the cause twice.
    let boxed: Box<dyn std::error::Error> = Box::new(api(401));
    insta::assert_snapshot!("boxed_debug", format!("{boxed:?}"));
}

#[test]
fn a_url_of_the_other_kind_is_named_with_the_one_wanted() {
    use hpp_core::{DistributeSession, Distribution};
    let config = crate::playground();
    let session_url = "https://api.playground.kustom.co/hpp/v1/sessions/s1";
    let distribution_url = "https://api.playground.kustom.co/hpp/v1/sessions/s1/distribution";
    let error = DistributeSession::new(session_url, Distribution::token("t").unwrap()).build(&config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "https://api.playground.kustom.co/hpp/v1/sessions/s1 is a session_url, and this call takes the \
         distribution_url (or the session id); nothing was sent"
    );
    let error = ReadSession::new(distribution_url).build(&config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "https://api.playground.kustom.co/hpp/v1/sessions/s1/distribution is a distribution_url, and this call \
         takes the session_url (or the session id); nothing was sent"
    );
    let error = ReadSession::new("https://api.playground.kustom.co/hpp/v2/s1").build(&config).unwrap_err();
    assert!(
        error.to_string().contains("its path is not {base}/hpp/v1/sessions/{session_id}, the session_url"),
        "{error}"
    );
}

#[test]
fn whitespace_around_contact_data_is_named() {
    for address in ["jane@example.com ", " jane@example.com", "jane@example.com\n"] {
        let error = hpp_core::Distribution::email(address).unwrap_err();
        assert!(error.to_string().contains("starts or ends with whitespace"), "{error}");
        assert!(!error.to_string().contains("jane@"), "masked: {error}");
    }
    let error = hpp_core::Distribution::sms("0701234567 ", "SE").unwrap_err();
    assert!(error.to_string().contains("starts or ends with whitespace"), "{error}");
}

#[test]
fn each_call_takes_what_the_previous_one_returned() {
    use hpp_core::model::{Session, SessionCreated};
    use hpp_core::{DisableSession, DistributeSession, Distribution};
    let config = crate::playground();
    let created: SessionCreated = serde_json::from_str(
        r#"{"session_id":"s1","session_url":"https://api.playground.kustom.co/hpp/v1/sessions/s1",
            "distribution_url":"https://api.playground.kustom.co/hpp/v1/sessions/s1/distribution"}"#,
    )
    .unwrap();
    let token = || Distribution::token("t").unwrap();
    let uri = |request: http::Request<Vec<u8>>| request.uri().to_string();
    let base = "https://api.playground.kustom.co/hpp/v1/sessions/s1";
    assert_eq!(uri(DistributeSession::new(&created, token()).build(&config).unwrap()), format!("{base}/distribution"));
    assert_eq!(uri(ReadSession::new(&created).build(&config).unwrap()), base);
    assert_eq!(uri(DisableSession::new(&created).build(&config).unwrap()), base);
    let read: Session = serde_json::from_str(r#"{"session_id":"s1","status":"WAITING"}"#).unwrap();
    assert_eq!(uri(DisableSession::new(&read).build(&config).unwrap()), base);

    // The API marks no field required: without the URLs, the session id serves ...
    let id_only: SessionCreated = serde_json::from_str(r#"{"session_id":"s1"}"#).unwrap();
    assert_eq!(uri(DistributeSession::new(&id_only, token()).build(&config).unwrap()), format!("{base}/distribution"));
    // ... and without either, the error names what the answer lacked.
    let neither: SessionCreated =
        serde_json::from_str(r#"{"session_url":"https://api.playground.kustom.co/hpp/v1/sessions/s1"}"#).unwrap();
    let error = DistributeSession::new(&neither, token()).build(&config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the created session has no distribution_url and no session_id to derive it from; nothing was sent"
    );
    assert_eq!(error.side_effect(), SideEffect::DidNotHappen);
    // A returned URL is still checked: a created session cannot send credentials elsewhere.
    let elsewhere: SessionCreated = serde_json::from_str(
        r#"{"session_id":"s1","distribution_url":"https://evil.example/hpp/v1/sessions/s1/distribution"}"#,
    )
    .unwrap();
    assert!(matches!(DistributeSession::new(&elsewhere, token()).build(&config), Err(Error::InvalidInput(_))));
}

#[test]
fn a_constraint_violation_on_a_distribution_mentions_a_disabled_session() {
    let response = http::Response::builder()
        .status(400)
        .body(
            br#"{"error_code":"CONSTRAINT_VIOLATION","error_messages":["HPP session was disabled by the merchant."]}"#
                .to_vec(),
        )
        .unwrap();
    let error = ReadSession::new("s1").parse(response).unwrap_err();
    assert!(error.advice().contains("disabled or finished"), "{}", error.advice());
    assert!(!error.advice().contains("malformed address"), "{}", error.advice());
}

/// Every accessor of the error types returns what the response said (found by mutation
/// testing: these were reached by the workspace's tests but not by the core's own).
#[test]
fn every_accessor_returns_what_the_answer_said() {
    use hpp_core::{ErrorCode, Operation, TransportErrorKind};
    let body = r#"{"error_code":"NOT_FOUND","correlation_id":42,"service_version":"hpp-1.2"}"#;
    let error = api_with(404, body);
    assert_eq!(error.error_code(), Some(&ErrorCode::NotFound));
    let Error::Api(not_found) = &error else { panic!("{error:?}") };
    assert_eq!(not_found.correlation_id(), Some("42"), "a numeric correlation id is kept");
    assert_eq!(not_found.service_version(), Some("hpp-1.2"));
    assert!(!not_found.status().is_redirection());
    let Error::Api(redirect) = api_with(302, "") else { panic!() };
    assert!(redirect.status().is_redirection());
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(Error::from(TransportError::timeout("t")).error_code(), None);

    let mut cut =
        http::Response::builder().status(500).header("content-type", "application/json").body(vec![b'x'; 11]).unwrap();
    hpp_core::transport::BodyTruncated::mark(&mut cut, 10);
    let Err(Error::Api(truncated)) = ReadSession::new("s1").parse(cut) else { panic!() };
    assert_eq!(truncated.body_truncated_at(), Some(10));
    assert_eq!(
        truncated.to_string(),
        "the API answered 500 Internal Server Error (JSON body longer than the 10-byte limit, cut there)"
    );
    let Error::Api(plain) = api_with(500, "oops") else { panic!() };
    assert_eq!(plain.body_truncated_at(), None);
    assert_eq!(plain.to_string(), "the API answered 500 Internal Server Error (body of 4 bytes)");

    for (status, advice) in [(409, "state that does not allow"), (429, "too many requests")] {
        assert!(api(status).advice().contains(advice), "{status}: {}", api(status).advice());
    }

    let timeout = TransportError::timeout("slow");
    let connect = TransportError::connect("refused");
    let other = TransportError::other("reset");
    assert_eq!(timeout.kind(), TransportErrorKind::Timeout);
    assert_eq!(connect.kind(), TransportErrorKind::Connect);
    assert_eq!(other.kind(), TransportErrorKind::Other);
    assert_eq!(
        format!("{timeout:?}"),
        r#"TransportError { kind: Timeout, may_have_been_sent: true, operation: None, source: Some("slow") }"#
    );

    let retry_after = |value: &str| {
        let response = http::Response::builder().status(429).header("retry-after", value).body(Vec::new()).unwrap();
        let Err(Error::Api(api)) = ReadSession::new("s1").parse(response) else { panic!() };
        api.retry_after(SystemTime::UNIX_EPOCH)
    };
    assert_eq!(retry_after("1000000000"), Some(Duration::from_secs(1_000_000_000)));
    assert_eq!(retry_after("1000000001"), None, "over about 31 years");

    let Error::Decode(decode) = decode() else { panic!() };
    assert!(decode.reason().starts_with("expected value at line 1 column 1"), "{}", decode.reason());
    assert_eq!(decode.body(), b"<html>");
}
