//! Finality, the polling schedule as a table, and status callbacks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpp_core::__private::Deduplicator;
use hpp_core::callback::{self, CallbackError, CallbackSecret};
use hpp_core::tracking::{PollSchedule, PollStep};
use hpp_core::{Session, SessionStatus};

fn session(status: Option<&str>, expires_at: Option<&str>) -> Session {
    let mut session = Session::default();
    session.status = status.map(SessionStatus::from);
    session.expires_at = expires_at.map(str::to_owned);
    session
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn final_statuses() {
    let finals: Vec<&str> =
        SessionStatus::KNOWN.iter().copied().filter(|s| SessionStatus::from(*s).is_final()).collect();
    assert_eq!(finals, ["COMPLETED", "CANCELLED", "DISABLED", "TIMEOUT"]);
    assert!(!SessionStatus::from("SOMETHING_NEW").is_final(), "unknown statuses may still change");
}

#[test]
fn schedule_decisions() {
    const S: fn(u64) -> Duration = Duration::from_secs;
    // Expires at 1970-01-01T00:01:40Z = 100 s.
    let expires = Some("1970-01-01T00:01:40.000Z");
    // Each row: (status, expires_at, now in s, expected step); rows run in order on one schedule.
    let rows: Vec<(Option<&str>, Option<&str>, u64, PollStep)> = vec![
        (Some("WAITING"), expires, 0, PollStep::Wait(S(2))),
        (Some("WAITING"), expires, 2, PollStep::Wait(S(4))),
        (Some("WAITING"), expires, 6, PollStep::Wait(S(8))),
        (Some("WAITING"), expires, 14, PollStep::Wait(S(16))),
        (Some("WAITING"), expires, 30, PollStep::Wait(S(30))),
        (Some("WAITING"), expires, 60, PollStep::Wait(S(30))),
        (Some("IN_PROGRESS"), expires, 61, PollStep::Wait(S(2))),
        (Some("IN_PROGRESS"), expires, 63, PollStep::Wait(S(4))),
        (Some("BACK"), expires, 67, PollStep::Wait(S(2))),
        (Some("FAILED"), expires, 69, PollStep::Wait(S(2))),
        (Some("FAILED"), expires, 71, PollStep::Wait(S(4))),
        (Some("FAILED"), expires, 75, PollStep::Wait(S(8))),
        (Some("FAILED"), expires, 83, PollStep::Wait(S(16))),
        (Some("FAILED"), expires, 95, PollStep::Wait(S(5))),
        (Some("FAILED"), expires, 100, PollStep::Expired),
    ];
    let mut schedule = PollSchedule::new(S(2), S(30));
    for (i, (status, expires_at, now, expected)) in rows.into_iter().enumerate() {
        assert_eq!(schedule.next(&session(status, expires_at), at(now)), expected, "row {i}");
    }
    for status in ["COMPLETED", "CANCELLED", "DISABLED", "TIMEOUT"] {
        let mut schedule = PollSchedule::new(S(2), S(30));
        let step = schedule.next(&session(Some(status), expires), at(500));
        assert_eq!(step, PollStep::Final(SessionStatus::from(status)), "final wins over expiry");
    }
    // No status and no expiry: keep polling, backing off.
    let mut schedule = PollSchedule::new(S(1), S(3));
    let steps: Vec<PollStep> = (0..4).map(|i| schedule.next(&session(None, None), at(i))).collect();
    assert_eq!(steps, [PollStep::Wait(S(1)), PollStep::Wait(S(2)), PollStep::Wait(S(3)), PollStep::Wait(S(3))]);
    // A malformed expires_at is ignored, not a crash.
    let mut schedule = PollSchedule::new(S(1), S(3));
    assert_eq!(schedule.next(&session(Some("WAITING"), Some("soon")), at(0)), PollStep::Wait(S(1)));
}

#[test]
fn callbacks_parse_leniently() {
    let body = br#"{"event_id":"270b2adc","session":{"session_id":"35bde117","status":"TIMEOUT","updated_at":"2019-05-13T14:51:46.288Z","new_field":1},"extra":true}"#;
    let parsed = callback::StatusCallback::parse(body).unwrap();
    assert_eq!(parsed.event_id, "270b2adc");
    assert_eq!(parsed.session.status, Some(SessionStatus::Timeout));
    assert!(parsed.session.status.as_ref().unwrap().is_final());
    let unknown = callback::StatusCallback::parse(br#"{"event_id":"e","session":{"status":"NEW_THING"}}"#).unwrap();
    assert_eq!(unknown.session.status, Some(SessionStatus::from("NEW_THING")));
    assert_eq!(callback::StatusCallback::parse(br#"{"session":{}}"#), Err(CallbackError::MissingEventId));
    assert_eq!(callback::StatusCallback::parse(br#"{"event_id":""}"#), Err(CallbackError::MissingEventId));
    assert!(matches!(callback::StatusCallback::parse(b"{not json"), Err(CallbackError::Malformed(_))));
}

#[test]
fn secrets_are_checked_exactly() {
    let secret = CallbackSecret::new("s3cr3t-7d1cbc3b0").unwrap();
    let url = secret.append_to("https://shop.example/cb?sid={{session_id}}");
    assert_eq!(url, "https://shop.example/cb?sid={{session_id}}&secret=s3cr3t-7d1cbc3b0");
    assert_eq!(secret.append_to("https://shop.example/cb"), "https://shop.example/cb?secret=s3cr3t-7d1cbc3b0");
    assert!(secret.verify_uri("/cb?sid=1&secret=s3cr3t-7d1cbc3b0"));
    assert!(secret.verify_uri("https://shop.example/cb?secret=s3cr3t-7d1cbc3b0&sid=1"));
    for wrong in [
        "/cb",
        "/cb?secret=",
        "/cb?secret=s3cr3t-7d1cbc3b",
        "/cb?secret=s3cr3t-7d1cbc3b0X",
        "/cb?xsecret=s3cr3t-7d1cbc3b0",
        "/cb?secret=wrong&secret=s3cr3t-7d1cbc3b0",
        "/cb#secret=s3cr3t-7d1cbc3b0",
    ] {
        assert!(!secret.verify_uri(wrong), "{wrong}");
    }
    assert_eq!(format!("{secret:?}"), "CallbackSecret(<redacted>)");
}

#[test]
fn deduplication_is_bounded() {
    let mut seen = Deduplicator::new(3);
    assert!(seen.first_time("a"));
    assert!(!seen.first_time("a"));
    assert!(seen.first_time("b"));
    assert!(seen.first_time("c"));
    assert!(seen.first_time("d"), "capacity 3: 'a' is forgotten");
    assert_eq!(seen.len(), 3);
    assert!(!seen.first_time("d"));
    assert!(seen.first_time("a"), "forgotten ids count as new");
    let mut large = Deduplicator::new(1000);
    for i in 0..10_000 {
        assert!(large.first_time(&i.to_string()));
    }
    assert_eq!(large.len(), 1000, "memory stays bounded");
}

#[test]
fn empty_short_and_unsafe_secrets_are_refused() {
    use callback::SecretError;
    assert_eq!(CallbackSecret::new("").unwrap_err(), SecretError::TooShort { len: 0 });
    assert_eq!(CallbackSecret::new("s3cr3t-7d1cbc3b").unwrap_err(), SecretError::TooShort { len: 15 });
    assert_eq!(CallbackSecret::new("x".repeat(257)).unwrap_err(), SecretError::TooLong);
    for unsafe_secret in ["0123456789abcdef&x=1", "0123456789abcdef#", "0123456789 abcdef", "0123456789abcdéf"] {
        assert_eq!(CallbackSecret::new(unsafe_secret).unwrap_err(), SecretError::NotUrlSafe, "{unsafe_secret}");
    }
    let shortest = CallbackSecret::new("0123456789abcdef").unwrap();
    assert!(shortest.verify_uri("/cb?secret=0123456789abcdef"));
    assert!(!shortest.verify_uri("/cb?secret="), "an empty secret never passes");
    assert!(!shortest.verify_uri("/cb?secret"), "nor a bare parameter");
    let error = CallbackSecret::new("").unwrap_err().to_string();
    assert!(error.contains("at least 16"), "{error}");
}

#[test]
fn event_ids_are_bounded_and_deduplication_is_bounded_in_bytes() {
    let long_id = "e".repeat(callback::StatusCallback::MAX_EVENT_ID_LEN + 1);
    let body = format!(r#"{{"event_id":"{long_id}","session":{{}}}}"#);
    assert_eq!(callback::StatusCallback::parse(body.as_bytes()), Err(CallbackError::EventIdTooLong));
    let longest = "e".repeat(callback::StatusCallback::MAX_EVENT_ID_LEN);
    let body = format!(r#"{{"event_id":"{longest}","session":{{}}}}"#);
    assert_eq!(callback::StatusCallback::parse(body.as_bytes()).unwrap().event_id, longest);

    let mut seen = Deduplicator::with_limits(1000, 1024);
    for i in 0..100 {
        assert!(seen.first_time(&format!("{i:0>128}")));
        assert!(seen.bytes() <= 1024, "{} bytes after {i}", seen.bytes());
    }
    assert_eq!(seen.len(), 8, "1024 bytes hold eight 128-byte ids");
    assert!(!seen.first_time(&format!("{:0>128}", 99)), "the newest are remembered");
    assert!(seen.first_time(&format!("{:0>128}", 0)), "the oldest were forgotten");
    assert!(seen.first_time(&long_id) && seen.first_time(&long_id), "ids over the limit are never stored");
    assert!(seen.bytes() <= 1024);
}
