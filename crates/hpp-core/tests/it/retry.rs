//! The retry decision, table-driven: which failures are retried for which operations, and how
//! long the waits are.

use std::time::Duration;

use hpp_core::retry::{Decision, GiveUpReason, Idempotency, RetryPolicy};
use hpp_core::{Error, Operation, ReadSession, TransportError};

use Idempotency::{Idempotent, SideEffect};

fn api(status: u16, code: Option<&str>, retry_after: Option<&str>) -> Error {
    let mut builder = http::Response::builder().status(status);
    if let Some(after) = retry_after {
        builder = builder.header("retry-after", after);
    }
    let body = code.map(|c| format!(r#"{{"error_code":"{c}"}}"#)).unwrap_or_default();
    ReadSession::new("s").parse(builder.body(body.into_bytes()).unwrap()).unwrap_err()
}

fn connect() -> Error {
    TransportError::connect("refused").into()
}
fn timeout() -> Error {
    TransportError::timeout("deadline").into()
}
fn reset() -> Error {
    TransportError::other("connection reset").into()
}
fn invalid() -> Error {
    ReadSession::new("").build(&crate::playground()).unwrap_err()
}
fn decode() -> Error {
    ReadSession::new("s").parse(http::Response::builder().status(200).body(b"{".to_vec()).unwrap()).unwrap_err()
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn decisions() {
    let default = RetryPolicy::default();
    let opted_in = RetryPolicy::default().with_side_effect_retry_on_503(true);
    let ten = RetryPolicy::default().with_max_attempts(10);
    let none = RetryPolicy::none();
    let retry = |ms| Decision::RetryAfter(MS(ms));
    let give_up = Decision::GiveUp;
    // (policy, operation kind, attempt, elapsed ms, error, jitter, expected)
    let table: Vec<(&RetryPolicy, Idempotency, u32, u64, Error, f64, Decision)> = vec![
        // Never left: retried whatever the operation.
        (&default, SideEffect, 1, 0, connect(), 1.0, retry(500)),
        (&default, Idempotent, 1, 0, connect(), 0.5, retry(250)),
        // May have left: only idempotent operations are retried.
        (&default, Idempotent, 1, 0, timeout(), 1.0, retry(500)),
        (&default, SideEffect, 1, 0, timeout(), 1.0, give_up(GiveUpReason::SideEffectUnknown)),
        (&default, SideEffect, 1, 0, reset(), 1.0, give_up(GiveUpReason::SideEffectUnknown)),
        (&default, Idempotent, 1, 0, reset(), 0.0, retry(0)),
        // 5xx: idempotent yes, side effects no (503 only when opted in). A 429 was refused: any.
        (&default, Idempotent, 1, 0, api(503, None, None), 1.0, retry(500)),
        (&default, Idempotent, 1, 0, api(500, None, None), 1.0, retry(500)),
        (&default, Idempotent, 1, 0, api(429, None, Some("2")), 0.1, retry(2000)),
        (&default, SideEffect, 1, 0, api(503, None, None), 1.0, give_up(GiveUpReason::SideEffectUnknown)),
        (&default, SideEffect, 1, 0, api(429, None, None), 1.0, retry(500)),
        (&default, SideEffect, 1, 0, api(429, None, Some("3")), 1.0, retry(3000)),
        (&opted_in, SideEffect, 1, 0, api(503, None, Some("1")), 1.0, retry(1000)),
        (
            &opted_in,
            SideEffect,
            1,
            0,
            api(502, Some("BAD_GATEWAY"), None),
            1.0,
            give_up(GiveUpReason::SideEffectUnknown),
        ),
        // The daily quota is never retried.
        (
            &default,
            Idempotent,
            1,
            0,
            api(429, Some("EMAIL_LIMIT_EXCEEDED"), Some("1")),
            1.0,
            give_up(GiveUpReason::Quota),
        ),
        (&opted_in, SideEffect, 1, 0, api(429, Some("EMAIL_LIMIT_EXCEEDED"), None), 1.0, give_up(GiveUpReason::Quota)),
        // Client errors, redirects, bad input and undecodable bodies are final.
        (
            &default,
            Idempotent,
            1,
            0,
            api(400, Some("CONSTRAINT_VIOLATION"), None),
            1.0,
            give_up(GiveUpReason::NotRetryable),
        ),
        (&default, Idempotent, 1, 0, api(404, Some("NOT_FOUND"), None), 1.0, give_up(GiveUpReason::NotRetryable)),
        (&default, Idempotent, 1, 0, api(302, None, None), 1.0, give_up(GiveUpReason::NotRetryable)),
        (&default, Idempotent, 1, 0, invalid(), 1.0, give_up(GiveUpReason::NotRetryable)),
        (&default, Idempotent, 1, 0, decode(), 1.0, give_up(GiveUpReason::NotRetryable)),
        // Capped exponential backoff with full jitter.
        (&default, Idempotent, 2, 0, timeout(), 1.0, retry(1000)),
        (&ten, Idempotent, 5, 0, timeout(), 1.0, retry(5000)),
        (&ten, Idempotent, 9, 0, timeout(), 0.5, retry(2500)),
        (&default, Idempotent, 1, 0, timeout(), f64::NAN, retry(500)),
        (&default, Idempotent, 1, 0, timeout(), 7.0, retry(500)),
        // Bounds: attempts, total time, Retry-After too long.
        (&default, Idempotent, 3, 0, timeout(), 1.0, give_up(GiveUpReason::Attempts)),
        (&none, SideEffect, 1, 0, connect(), 1.0, give_up(GiveUpReason::Attempts)),
        (&default, Idempotent, 2, 29_500, timeout(), 1.0, give_up(GiveUpReason::TimeBudget)),
        (&default, Idempotent, 1, 0, api(503, None, Some("3600")), 1.0, give_up(GiveUpReason::TimeBudget)),
        // Retry-After as an HTTP-date (RFC 9110): NOW is Tue, 14 Nov 2023 22:13:20 GMT.
        (&default, Idempotent, 1, 0, api(503, None, Some("Tue, 14 Nov 2023 22:13:23 GMT")), 1.0, retry(3000)),
        (&default, Idempotent, 1, 0, api(429, None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), 1.0, retry(0)),
        (
            &default,
            Idempotent,
            1,
            0,
            api(503, None, Some("Tue, 14 Nov 2023 23:13:20 GMT")),
            1.0,
            give_up(GiveUpReason::TimeBudget),
        ),
        // A Retry-After that cannot be honoured ends the retries instead of retrying at once.
        (&default, Idempotent, 1, 0, api(503, None, Some("soon")), 1.0, give_up(GiveUpReason::UnusableRetryAfter)),
        (&default, Idempotent, 1, 0, api(503, None, Some("-5")), 1.0, give_up(GiveUpReason::UnusableRetryAfter)),
        (
            &default,
            Idempotent,
            1,
            0,
            api(503, None, Some("99999999999999999999")),
            1.0,
            give_up(GiveUpReason::UnusableRetryAfter),
        ),
        (&default, Idempotent, 1, 0, api(503, None, Some("2.5")), 1.0, give_up(GiveUpReason::UnusableRetryAfter)),
    ];
    for (i, (policy, kind, attempt, elapsed, error, jitter, expected)) in table.into_iter().enumerate() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let got = policy.decide(kind, attempt, MS(elapsed), &error, jitter, now);
        assert_eq!(got, expected, "row {i}: {kind:?} attempt {attempt} after {error}");
    }
}
