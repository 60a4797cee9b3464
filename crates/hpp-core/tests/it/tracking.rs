//! Finality and status callbacks. (The polling schedule's table is a unit test of
//! `hpp_core::tracking`.)

use hpp_core::__private::Deduplicator;
use hpp_core::InputError;
use hpp_core::SessionStatus;
use hpp_core::callback::{self, CallbackSecret};

#[test]
fn final_statuses() {
    let finals: Vec<&str> =
        SessionStatus::KNOWN.iter().copied().filter(|s| SessionStatus::from(*s).is_final()).collect();
    assert_eq!(finals, ["COMPLETED", "CANCELLED", "DISABLED", "TIMEOUT"]);
    assert!(!SessionStatus::from("SOMETHING_NEW").is_final(), "unknown statuses may still change");
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
    let refused = |body: &[u8]| match callback::StatusCallback::parse(body) {
        Err(InputError::InvalidCallback { reason }) => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(br#"{"session":{}}"#), "it has no event_id");
    assert_eq!(refused(br#"{"event_id":""}"#), "it has no event_id");
    assert!(refused(b"{not json").starts_with("not a status callback: "));
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
    use hpp_core::InputError;
    let refused = |secret: &str| match CallbackSecret::new(secret) {
        Err(InputError::InvalidCallbackSecret { len, reason }) => Some((len, reason)),
        _ => None,
    };
    assert_eq!(refused(""), Some((0, "at least 16 characters are needed")));
    assert_eq!(refused("s3cr3t-7d1cbc3b"), Some((15, "at least 16 characters are needed")));
    assert_eq!(refused(&"x".repeat(257)), Some((257, "at most 256 characters are allowed")));
    for unsafe_secret in ["0123456789abcdef&x=1", "0123456789abcdef#", "0123456789 abcdef", "0123456789abcdéf"] {
        assert!(refused(unsafe_secret).is_some_and(|(_, why)| why.starts_with("only")), "{unsafe_secret}");
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
    assert_eq!(
        callback::StatusCallback::parse(body.as_bytes()),
        Err(InputError::InvalidCallback { reason: "its event_id is longer than 128 bytes".to_owned() })
    );
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

/// A per-order callback URL: standard HMAC-SHA256 over `hpp-order\0<order key>` (so that any
/// language can check it), no secret in the URL, and only its own order's key recovered.
#[test]
fn a_per_order_callback_url_is_signed_for_that_order() {
    let secret = CallbackSecret::new("7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11").unwrap();
    let url = secret.append_for_order("https://shop.example/cb?x=1", "o-1").unwrap();
    assert_eq!(
        url,
        "https://shop.example/cb?x=1&order=o-1&sig=27724cf9e97562049d034d080c2de71025c8d6b3493ceaf0f4f09d0894e235d3"
    );
    assert_eq!(secret.order_of_uri(&url).as_deref(), Some("o-1"));
    assert!(!secret.verify_uri(&url), "it is not the secret");
    assert_eq!(secret.order_of_uri(&url.replace("order=o-1", "order=o-2")), None);
    assert_eq!(secret.order_of_uri(&format!("{url}&order=o-2")), None, "one order only");
    assert_eq!(secret.order_of_uri("https://shop.example/cb?order=o-1"), None);
    let error = secret.append_for_order("/cb", "o 1?").unwrap_err();
    assert!(error.to_string().contains("order key"), "{error}");
}
