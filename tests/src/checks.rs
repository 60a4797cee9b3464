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
    for session in [SessionRef::Url(text.to_owned()), SessionRef::Id(text.to_owned())] {
        if let Ok(request) = ReadSession::new(session.clone()).build(&config) {
            let uri = request.uri();
            assert_eq!(uri.scheme_str(), Some("https"));
            assert!(uri.host().is_some_and(|h| h.eq_ignore_ascii_case("api.playground.kustom.co")));
            assert_eq!(uri.port_u16().unwrap_or(443), 443);
            assert!(!uri.authority().is_some_and(|a| a.as_str().contains('@')));
            assert!(uri.query().is_none());
            let id = uri.path().strip_prefix("/hpp/v1/sessions/").expect("the sessions path");
            assert!(!id.is_empty() && !id.contains('/'));
            if let SessionRef::Id(given) = session {
                assert_eq!(id, given);
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
