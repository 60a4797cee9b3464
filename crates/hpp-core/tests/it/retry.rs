//! The retry decision, table-driven: which failures are retried for which operations, and how
//! long the waits are.

use std::time::Duration;

use hpp_core::retry::{GiveUpReason, RetryPolicy};
use hpp_core::{Error, Operation, ReadSession, TransportError};

/// `Operation::REPEATABLE` of a read or disable, and of a create or distribution.
const REPEATABLE: bool = true;
const NOT_REPEATABLE: bool = false;

type Decision = Result<Duration, GiveUpReason>;

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
    let retry = |ms| Decision::Ok(MS(ms));
    let give_up = Decision::Err;
    // (policy, operation kind, attempt, elapsed ms, error, jitter, expected)
    let table: Vec<(&RetryPolicy, bool, u32, u64, Error, f64, Decision)> = vec![
        // Never left: retried whatever the operation.
        (&default, NOT_REPEATABLE, 1, 0, connect(), 1.0, retry(500)),
        (&default, REPEATABLE, 1, 0, connect(), 0.5, retry(250)),
        // May have left: only idempotent operations are retried.
        (&default, REPEATABLE, 1, 0, timeout(), 1.0, retry(500)),
        (&default, NOT_REPEATABLE, 1, 0, timeout(), 1.0, give_up(GiveUpReason::SideEffectUnknown)),
        (&default, NOT_REPEATABLE, 1, 0, reset(), 1.0, give_up(GiveUpReason::SideEffectUnknown)),
        (&default, REPEATABLE, 1, 0, reset(), 0.0, retry(0)),
        // 5xx: idempotent yes, side effects no (503 only when opted in). A 429 was refused: any.
        (&default, REPEATABLE, 1, 0, api(503, None, None), 1.0, retry(500)),
        (&default, REPEATABLE, 1, 0, api(500, None, None), 1.0, retry(500)),
        (&default, REPEATABLE, 1, 0, api(429, None, Some("2")), 0.1, retry(2000)),
        (&default, NOT_REPEATABLE, 1, 0, api(503, None, None), 1.0, give_up(GiveUpReason::SideEffectUnknown)),
        (&default, NOT_REPEATABLE, 1, 0, api(429, None, None), 1.0, retry(500)),
        (&default, NOT_REPEATABLE, 1, 0, api(429, None, Some("3")), 1.0, retry(3000)),
        (&opted_in, NOT_REPEATABLE, 1, 0, api(503, None, Some("1")), 1.0, retry(1000)),
        (
            &opted_in,
            NOT_REPEATABLE,
            1,
            0,
            api(502, Some("BAD_GATEWAY"), None),
            1.0,
            give_up(GiveUpReason::SideEffectUnknown),
        ),
        // The daily quota is never retried.
        (
            &default,
            REPEATABLE,
            1,
            0,
            api(429, Some("EMAIL_LIMIT_EXCEEDED"), Some("1")),
            1.0,
            give_up(GiveUpReason::Quota),
        ),
        (
            &opted_in,
            NOT_REPEATABLE,
            1,
            0,
            api(429, Some("EMAIL_LIMIT_EXCEEDED"), None),
            1.0,
            give_up(GiveUpReason::Quota),
        ),
        // Client errors, redirects, bad input and undecodable bodies are final.
        (
            &default,
            REPEATABLE,
            1,
            0,
            api(400, Some("CONSTRAINT_VIOLATION"), None),
            1.0,
            give_up(GiveUpReason::NotRetryable),
        ),
        (&default, REPEATABLE, 1, 0, api(404, Some("NOT_FOUND"), None), 1.0, give_up(GiveUpReason::NotRetryable)),
        (&default, REPEATABLE, 1, 0, api(302, None, None), 1.0, give_up(GiveUpReason::NotRetryable)),
        (&default, REPEATABLE, 1, 0, invalid(), 1.0, give_up(GiveUpReason::NotRetryable)),
        (&default, REPEATABLE, 1, 0, decode(), 1.0, give_up(GiveUpReason::NotRetryable)),
        // Capped exponential backoff with full jitter.
        (&default, REPEATABLE, 2, 0, timeout(), 1.0, retry(1000)),
        (&ten, REPEATABLE, 5, 0, timeout(), 1.0, retry(5000)),
        (&ten, REPEATABLE, 9, 0, timeout(), 0.5, retry(2500)),
        (&default, REPEATABLE, 1, 0, timeout(), f64::NAN, retry(500)),
        (&default, REPEATABLE, 1, 0, timeout(), 7.0, retry(500)),
        // Bounds: attempts, total time, Retry-After too long.
        (&default, REPEATABLE, 3, 0, timeout(), 1.0, give_up(GiveUpReason::Attempts)),
        (&none, NOT_REPEATABLE, 1, 0, connect(), 1.0, give_up(GiveUpReason::Attempts)),
        (&default, REPEATABLE, 2, 29_500, timeout(), 1.0, give_up(GiveUpReason::TimeBudget)),
        (&default, REPEATABLE, 1, 0, api(503, None, Some("3600")), 1.0, give_up(GiveUpReason::TimeBudget)),
        // Retry-After as an HTTP-date (RFC 9110): NOW is Tue, 14 Nov 2023 22:13:20 GMT.
        (&default, REPEATABLE, 1, 0, api(503, None, Some("Tue, 14 Nov 2023 22:13:23 GMT")), 1.0, retry(3000)),
        (&default, REPEATABLE, 1, 0, api(429, None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), 1.0, retry(0)),
        (
            &default,
            REPEATABLE,
            1,
            0,
            api(503, None, Some("Tue, 14 Nov 2023 23:13:20 GMT")),
            1.0,
            give_up(GiveUpReason::TimeBudget),
        ),
        // A Retry-After that cannot be honoured ends the retries instead of retrying at once.
        (&default, REPEATABLE, 1, 0, api(503, None, Some("soon")), 1.0, give_up(GiveUpReason::UnusableRetryAfter)),
        (&default, REPEATABLE, 1, 0, api(503, None, Some("-5")), 1.0, give_up(GiveUpReason::UnusableRetryAfter)),
        (
            &default,
            REPEATABLE,
            1,
            0,
            api(503, None, Some("99999999999999999999")),
            1.0,
            give_up(GiveUpReason::UnusableRetryAfter),
        ),
        (&default, REPEATABLE, 1, 0, api(503, None, Some("2.5")), 1.0, give_up(GiveUpReason::UnusableRetryAfter)),
    ];
    for (i, (policy, kind, attempt, elapsed, error, jitter, expected)) in table.into_iter().enumerate() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let got = policy.decide(kind, attempt, MS(elapsed), &error, jitter, now);
        assert_eq!(got, expected, "row {i}: repeatable {kind} attempt {attempt} after {error}");
    }
}

/// "May I try later, and when?" in one call (a wrapper had rebuilt "a 429, except the daily
/// e-mail quota" by hand): the same rules as the client's own retries, without their bounds.
#[test]
fn retry_later_answers_by_the_policys_rules() {
    const S: fn(u64) -> Duration = Duration::from_secs;
    let policy = RetryPolicy::default();
    let now = std::time::SystemTime::UNIX_EPOCH + S(1_700_000_000);
    let later = |repeatable, error: &Error| policy.retry_later(repeatable, error, now);
    // Refused for now: yes, when the server says, however long (longer than the client waits).
    assert_eq!(later(NOT_REPEATABLE, &api(429, None, Some("3600"))), Some(S(3600)));
    assert_eq!(later(NOT_REPEATABLE, &api(429, None, None)), Some(MS(500)), "the policy's first backoff");
    assert_eq!(later(NOT_REPEATABLE, &api(429, None, Some("soon"))), Some(MS(500)), "an unusable header");
    // The daily e-mail quota: not today.
    assert_eq!(later(NOT_REPEATABLE, &api(429, Some("EMAIL_LIMIT_EXCEEDED"), None)), None);
    // Nothing was sent: yes, even a create.
    assert_eq!(later(NOT_REPEATABLE, &connect()), Some(MS(500)));
    // May have been sent: a read yes, a create or distribution no (read the session first).
    assert_eq!(later(REPEATABLE, &timeout()), Some(MS(500)));
    assert_eq!(later(NOT_REPEATABLE, &timeout()), None);
    assert_eq!(later(REPEATABLE, &api(503, None, Some("7"))), Some(S(7)));
    assert_eq!(later(NOT_REPEATABLE, &api(503, None, None)), None);
    let opted_in = RetryPolicy::default().with_side_effect_retry_on_503(true);
    assert_eq!(opted_in.retry_later(NOT_REPEATABLE, &api(503, None, None), now), Some(MS(500)));
    // The same request would fail the same way.
    for error in [api(400, Some("BAD_VALUE"), None), api(404, Some("NOT_FOUND"), None), invalid(), decode()] {
        assert_eq!(later(REPEATABLE, &error), None, "{error}");
    }
    assert_eq!(later(REPEATABLE, &TransportError::before_sending("no such exchange").into()), None);

    // Consistent with the client's retries: a policy with room to wait retries the first attempt
    // exactly when retry_later says yes.
    let roomy = RetryPolicy::default().with_max_retry_after(S(86_400)).with_max_elapsed(S(86_400));
    let errors = [api(429, None, Some("3600")), api(429, Some("EMAIL_LIMIT_EXCEEDED"), None), api(500, None, None)];
    let errors = errors.into_iter().chain([api(409, None, None), connect(), timeout(), reset(), invalid(), decode()]);
    for error in errors {
        for repeatable in [REPEATABLE, NOT_REPEATABLE] {
            let retried = roomy.decide(repeatable, 1, Duration::ZERO, &error, 1.0, now).is_ok();
            assert_eq!(later(repeatable, &error).is_some(), retried, "repeatable {repeatable}: {error}");
        }
    }
}
