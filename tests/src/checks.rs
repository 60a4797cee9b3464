//! Property checks on arbitrary bytes, shared by the `cargo fuzz` targets in `fuzz/`, the replay
//! of their committed corpora and the proptest fallback (`tests/tests/fuzz_corpus.rs`).

use hpp_core::{
    Config, CreateSession, Credentials, DisableSession, DistributeSession, Distribution, Environment, Error, Mode,
    Operation, ReadSession, SessionRef,
};

/// Two bytes of status, then a body: parsing never panics, and a non-2xx is always an API error
/// with that status.
pub fn parse_response(data: &[u8]) {
    let Some((head, body)) = data.split_first_chunk::<2>() else { return };
    let status = 100 + u16::from_be_bytes(*head) % 900;
    let response = || http::Response::builder().status(status).body(body.to_vec()).expect("valid status");
    let check = |result: Result<(), Error>| match result {
        Err(Error::Api(api)) => assert_eq!(api.status().as_u16(), status),
        Ok(()) | Err(Error::Decode(_)) => assert!((200..300).contains(&status)),
        Err(other) => panic!("unexpected {other:?}"),
    };
    check(CreateSession::new("https://x.example/o").parse(response()).map(drop));
    check(ReadSession::new("s").parse(response()).map(drop));
    check(DisableSession::new("s").parse(response()));
    check(DistributeSession::new("s", Distribution::token("t").expect("non-empty")).parse(response()));
}

/// Any string as a followed session URL or as a session id: the request goes to the configured
/// origin and the exact sessions path, or it is refused.
pub fn check_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let credentials = Credentials::api_key("k").expect("valid key");
    let config = Config::new(Environment::Kustom(Mode::Playground), credentials);
    for (session, is_id) in [(SessionRef::url(text), false), (SessionRef::id(text), true)] {
        if let Ok(request) = ReadSession::new(session).build(&config) {
            let uri = request.uri();
            assert_eq!(uri.scheme_str(), Some("https"));
            assert!(uri.host().is_some_and(|h| h.eq_ignore_ascii_case("api.playground.kustom.co")));
            assert_eq!(uri.port_u16().unwrap_or(443), 443);
            assert!(!uri.authority().is_some_and(|a| a.as_str().contains('@')));
            assert!(uri.query().is_none());
            let id = uri.path().strip_prefix("/hpp/v1/sessions/").expect("the sessions path");
            assert!(!id.is_empty() && !id.contains('/'));
            if is_id {
                assert_eq!(id, text);
            }
        }
    }
}

/// `METHOD\nPATH\nBODY` to the sandbox's request handling: an answer, never a panic.
pub fn sandbox_request(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else { return };
    let Ok(path) = std::str::from_utf8(path) else { return };
    let status = hpp_sandbox::fuzzing::handle(method, path, parts.next().unwrap_or_default());
    assert!((200..600).contains(&status), "status {status}");
}

/// A callback request as the listener sees it, `URI\nBODY`: the secret check, the parse and the
/// de-duplication never panic; an accepted URI carries the secret exactly once; an accepted event
/// id is bounded and remembered.
pub fn callback_request(data: &[u8]) {
    use hpp_core::__private::Deduplicator;
    use hpp_core::callback::{CallbackSecret, StatusCallback};
    let mut parts = data.splitn(2, |&b| b == b'\n');
    let uri = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let secret = CallbackSecret::new("7d1cbc3b4f0e4d4c9b7e2f1e0c9a6d11").expect("a valid secret");
    if secret.verify_uri(&uri) {
        assert_eq!(uri.matches("secret=7d1cbc3b4f0e4d4c9b7e2f1e0c9a6d11").count(), 1, "{uri}");
    }
    let mut seen = Deduplicator::with_limits(4, 4 * StatusCallback::MAX_EVENT_ID_LEN);
    if let Ok(event) = StatusCallback::parse(body) {
        assert!(!event.event_id.is_empty() && event.event_id.len() <= StatusCallback::MAX_EVENT_ID_LEN);
        assert!(seen.first_time(&event.event_id));
        assert!(!seen.first_time(&event.event_id));
        assert!(seen.bytes() <= 4 * StatusCallback::MAX_EVENT_ID_LEN);
    }
}

/// Any bytes as a `Retry-After` header and as an RFC 3339 timestamp: never a panic; a delay is
/// bounded; a timestamp that parses formats back to the same millisecond.
pub fn header_times(data: &[u8]) {
    use std::time::{Duration, SystemTime};
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let response = http::Response::builder().status(429).header("retry-after", value).body(Vec::new());
        let error = response.ok().and_then(|r| Operation::parse(&ReadSession::new("s"), r).err());
        if let Some(Error::Api(api)) = error {
            let delay = api.retry_after(now);
            if data.iter().all(u8::is_ascii_digit) {
                assert!(delay.is_none_or(|d| d <= Duration::from_secs(1_000_000_000)), "{delay:?}");
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(time) = hpp_core::__private::time::parse_rfc3339(text) {
        let again = hpp_core::__private::time::parse_rfc3339(&hpp_core::__private::time::format_rfc3339(time));
        let millis = |t: SystemTime| match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i128,
            Err(e) => -(e.duration().as_millis() as i128),
        };
        assert_eq!(again.map(millis), Some(millis(time)), "{text}");
    }
}
