//! The error's answers, as a caller sees them: whether the side effect could have happened (for
//! every kind and status), what the retry policy does with it, and what reporters print.

use std::time::{Duration, SystemTime};

use hpp_core::retry::{Decision, GiveUpReason, Idempotency, RetryPolicy};
use hpp_core::{Error, Operation, ReadSession, SideEffect, TransportError};

fn api(status: u16) -> Error {
    let response = http::Response::builder().status(status).body(Vec::new()).unwrap();
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
    }
    for (name, error, expected) in &table {
        assert_eq!(error.side_effect(), *expected, "{name}: {error}");
        // The retry policy agrees: it never repeats a side effect that may have happened, and
        // never gives up for that reason when it did not.
        let decision = RetryPolicy::default().decide(
            Idempotency::SideEffect,
            1,
            Duration::ZERO,
            error,
            0.0,
            SystemTime::UNIX_EPOCH,
        );
        let gave_up_for_side_effect = decision == Decision::GiveUp(GiveUpReason::SideEffectUnknown);
        assert_eq!(gave_up_for_side_effect, *expected == Unknown, "{name}: {decision:?}");
        if *expected != DidNotHappen {
            assert!(!matches!(decision, Decision::RetryAfter(_)), "{name}: a POST repeated after {expected:?}");
        }
        // The advice agrees too: an unknown outcome always sends the caller to read the session.
        assert_eq!(
            error.advice().contains("read the session"),
            *expected != DidNotHappen,
            "{name}: {}",
            error.advice()
        );
        assert_eq!(expected.to_string(), expected.as_str());
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
