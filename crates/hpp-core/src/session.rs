//! Naming a session: by id or by a URL the API returned ([`SessionRef`]), and
//! the check that decides whether a URL may receive our credentials.

use http::Uri;

use crate::config::{BaseUrl, shown_url};
use crate::error::InputError;
use crate::model::{Session, SessionCreated};

/// The path every session URL has under the base URL.
pub const SESSIONS_PATH: &str = "/hpp/v1/sessions";

/// RFC 3986's unreserved characters, `A-Z a-z 0-9 - . _ ~`, as a table (a lookup per byte: the
/// check runs on every request built from a returned URL).
const UNRESERVED: [bool; 256] = crate::ascii::alphanumeric_and(b"-._~");

/// What is wrong with a session id, by the session id rule.
enum IdProblem {
    Empty,
    Other(&'static str),
}

/// The session id rule, written once: non-empty, at most 256 characters, only
/// `A-Z a-z 0-9 - . _ ~`, and not `.` or `..` (one URL path segment, sent exactly as given or
/// refused, never escaped or altered). Written once: what is wrong with `id`, if anything (no error
/// built, no allocation: it runs on every request built from a returned URL).
fn session_id_problem(id: &str) -> Option<IdProblem> {
    if id.is_empty() {
        Some(IdProblem::Empty)
    } else if id.len() > 256 {
        Some(IdProblem::Other("it is longer than 256 characters"))
    } else if id == "." || id == ".." {
        Some(IdProblem::Other("it is a relative path segment"))
    } else if !id.bytes().all(|b| UNRESERVED[usize::from(b)]) {
        Some(IdProblem::Other("only letters, digits and '-', '.', '_', '~' are allowed"))
    } else {
        None
    }
}

/// Whether `id` is a valid session id.
fn is_session_id(id: &str) -> bool {
    session_id_problem(id).is_none()
}

/// The session id rule, without keeping the id: [`session_id_problem`] as an error.
fn check_session_id(id: &str) -> Result<(), InputError> {
    match session_id_problem(id) {
        None => Ok(()),
        Some(IdProblem::Empty) => Err(InputError::EmptySessionId),
        // Scrubbed: a mistyped argument can be an e-mail address or a phone number.
        Some(IdProblem::Other(reason)) => Err(InputError::InvalidSessionId {
            shown: crate::redact::scrub(&id.chars().take(64).collect::<String>()).escape_debug().collect(),
            reason,
        }),
    }
}

/// A session, as the next call names it: by id, by a URL the API returned (`session_url` for
/// read and disable, `distribution_url` for distribute), or by what a create returned.
///
/// The client's calls take `impl Into<SessionRef>`, so each accepts what the previous call gave:
///
/// ```
/// use hpp_core::{Config, Credentials, Distribution, DistributeSession, Environment, Mode, Operation, ReadSession};
/// use hpp_core::model::SessionCreated;
/// # let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k").unwrap());
/// let created: SessionCreated = serde_json::from_str(r#"{"session_id":"s1"}"#).unwrap();
/// // No distribution_url in the answer: it is derived from the session id.
/// let request = DistributeSession::new(&created, Distribution::token("278352")?).build(&config)?;
/// assert_eq!(request.uri(), "https://api.playground.kustom.co/hpp/v1/sessions/s1/distribution");
/// let request = ReadSession::new("https://api.playground.kustom.co/hpp/v1/sessions/s1").build(&config)?;
/// assert_eq!(request.uri().path(), "/hpp/v1/sessions/s1");
/// # Ok::<(), hpp_core::Error>(())
/// ```
///
/// A string starting with `http://` or `https://` is a URL, anything else an id. Both are checked
/// only when a request is built: an id must be one URL path segment (non-empty, at most 256
/// characters, only `A-Z a-z 0-9 - . _ ~`, not `.` or `..`; sent exactly as given, never
/// escaped); a URL must be on the
/// configured base URL's scheme, host and port, without user info or query, and with exactly
/// the path the operation expects. A created session gives the URL the operation wants, or
/// its session id when the answer lacked that URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef(Named);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    Id(String),
    Url(String),
    Created { session_id: Option<String>, session_url: Option<String>, distribution_url: Option<String> },
}

impl SessionRef {
    /// Which kind `value` is: a URL when it starts with `http://` or `https://`, else an id.
    fn parse(value: &str) -> Self {
        let starts_with = |prefix: &str| value.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
        if starts_with("http://") || starts_with("https://") { Self::url(value) } else { Self::id(value) }
    }

    /// A session id, whatever it looks like (checked when a request is built).
    pub fn id(id: impl Into<String>) -> Self {
        Self(Named::Id(id.into()))
    }

    /// A URL the API returned, whatever it looks like (checked when a request is built).
    pub fn url(url: impl Into<String>) -> Self {
        Self(Named::Url(url.into()))
    }

    /// The request URI for `endpoint` under `base`, after every check.
    pub(crate) fn resolve(&self, base: &BaseUrl, endpoint: Endpoint) -> Result<Uri, InputError> {
        let by_id = |id: &str| {
            check_session_id(id)?;
            base.join_uri(&[SESSIONS_PATH, "/", id, endpoint.suffix()])
        };
        match &self.0 {
            Named::Id(id) => by_id(id),
            Named::Url(url) => follow_url(base, url, endpoint),
            Named::Created { session_id, session_url, distribution_url } => {
                let url = match endpoint {
                    Endpoint::Session => session_url,
                    Endpoint::Distribution => distribution_url,
                };
                match (url, session_id) {
                    (Some(url), _) => follow_url(base, url, endpoint),
                    (None, Some(id)) => by_id(id),
                    (None, None) => Err(InputError::IncompleteSession { missing: endpoint.url_field() }),
                }
            }
        }
    }
}

impl From<&str> for SessionRef {
    fn from(value: &str) -> Self {
        Self::parse(value)
    }
}

impl From<&String> for SessionRef {
    fn from(value: &String) -> Self {
        Self::parse(value)
    }
}

impl From<String> for SessionRef {
    fn from(value: String) -> Self {
        Self::parse(&value)
    }
}

impl From<&SessionCreated> for SessionRef {
    fn from(created: &SessionCreated) -> Self {
        Self(Named::Created {
            session_id: created.session_id.clone(),
            session_url: created.session_url.clone(),
            distribution_url: created.distribution_url.clone(),
        })
    }
}

impl From<&Session> for SessionRef {
    fn from(session: &Session) -> Self {
        Self(Named::Created { session_id: session.session_id.clone(), session_url: None, distribution_url: None })
    }
}

/// Which of a session's URLs an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/hpp/v1/sessions/{id}`: read and disable.
    Session,
    /// `/hpp/v1/sessions/{id}/distribution`.
    Distribution,
}

impl Endpoint {
    /// The field of a created session that names this URL.
    fn url_field(self) -> &'static str {
        match self {
            Self::Session => "session_url",
            Self::Distribution => "distribution_url",
        }
    }

    /// Why a URL on the base URL was refused for this endpoint.
    fn expected_path(self) -> &'static str {
        match self {
            Self::Session => {
                "its path is not {base}/hpp/v1/sessions/{session_id}, the session_url read and disable take"
            }
            Self::Distribution => {
                "its path is not {base}/hpp/v1/sessions/{session_id}/distribution, the distribution_url \
                 distribute takes"
            }
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Session => "",
            Self::Distribution => "/distribution",
        }
    }
}

/// `SESSIONS_PATH` and the `/` after it, as bytes of a known length.
const SESSIONS_PREFIX: &[u8; 17] = b"/hpp/v1/sessions/";
/// The distribution endpoint's suffix, as bytes of a known length.
const DISTRIBUTION_SUFFIX: &[u8; 13] = b"/distribution";

/// `text` without `prefix`, compared as a fixed-size array (inline, no `memcmp` call).
fn strip_ascii_prefix<'a, const N: usize>(text: &'a str, prefix: &[u8; N]) -> Option<&'a str> {
    let head: &[u8; N] = text.as_bytes().get(..N)?.try_into().ok()?;
    // `prefix` is ASCII, so `N` is a character boundary of `text` when they are equal.
    if head == prefix { text.get(N..) } else { None }
}

/// `text` without `suffix`, compared as a fixed-size array (inline, no `memcmp` call).
fn strip_ascii_suffix<'a, const N: usize>(text: &'a str, suffix: &[u8; N]) -> Option<&'a str> {
    let start = text.len().checked_sub(N)?;
    let tail: &[u8; N] = text.as_bytes().get(start..)?.try_into().ok()?;
    if tail == suffix { text.get(..start) } else { None }
}

/// The request URI for a URL the API returned, after [`check_followed_url`]'s checks.
///
/// The usual URL is the base URL exactly as configured, then the endpoint's path with a valid
/// id: that one is recognised by comparing strings, and its URI built from the base URL's parsed
/// parts, as for an id (about half the work of parsing it). Anything else, an equivalent spelling
/// (`API.kustom.co:443`) included, goes through the full parse and check. A URL the fast path
/// accepts is one the full check accepts, with the same URI (a property test holds them to it):
/// it is the configured origin byte for byte, and an id cannot carry `@`, `?`, `#` or `/`.
fn follow_url(base: &BaseUrl, url: &str, endpoint: Endpoint) -> Result<Uri, InputError> {
    match written_under_base(base, url, endpoint) {
        Some(id) => base.join_uri(&[SESSIONS_PATH, "/", id, endpoint.suffix()]),
        None => check_followed_url(base, url, endpoint),
    }
}

/// The id in `url` when it is `{base as written}/hpp/v1/sessions/{id}{endpoint suffix}` with a
/// valid id, byte for byte.
fn written_under_base<'a>(base: &BaseUrl, url: &'a str, endpoint: Endpoint) -> Option<&'a str> {
    let rest = url.strip_prefix(base.as_written())?;
    let rest = strip_ascii_prefix(rest, SESSIONS_PREFIX)?;
    let id = match endpoint {
        Endpoint::Session => rest,
        Endpoint::Distribution => strip_ascii_suffix(rest, DISTRIBUTION_SUFFIX)?,
    };
    is_session_id(id).then_some(id)
}

fn check_followed_url(base: &BaseUrl, url: &str, endpoint: Endpoint) -> Result<Uri, InputError> {
    let refuse = |reason| InputError::UntrustedUrl { url: shown_url(url), reason };
    let uri: Uri = url.parse().map_err(|_| refuse("it is not a valid absolute URL"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(refuse("it is not an absolute URL"));
    };
    if authority.as_str().as_bytes().contains(&b'@') {
        return Err(refuse("it has user info"));
    }
    if !base.same_origin(scheme, authority) {
        return Err(refuse("its scheme, host or port differs from the configured base URL"));
    }
    // The parser drops a fragment silently: a URL longer than what was parsed had one (a length
    // comparison rather than a scan of the whole URL for '#'). A parsed path longer than the URL
    // is the "/" of a URL without a path, refused by the path check below.
    let parsed_len = scheme.as_str().len() + "://".len() + authority.as_str().len() + uri.path().len();
    if uri.query().is_some() || parsed_len < url.len() {
        return Err(refuse("it has a query or fragment"));
    }
    // The usual base URL has no path prefix: then there is nothing to strip (and no `memcmp`
    // call, which profiling found to cost more here than the rest of the check).
    let under_base =
        if base.prefix.is_empty() { Some(uri.path()) } else { uri.path().strip_prefix(base.prefix.as_str()) };
    let path = under_base.and_then(|rest| strip_ascii_prefix(rest, SESSIONS_PREFIX));
    let Some(rest) = path else {
        return Err(refuse(endpoint.expected_path()));
    };
    // A URL of the other kind, on our base URL: say which one was given and which one is wanted.
    let (given, id) = match strip_ascii_suffix(rest, DISTRIBUTION_SUFFIX) {
        Some(id) => (Endpoint::Distribution, id),
        None => (Endpoint::Session, rest),
    };
    if !is_session_id(id) {
        return Err(refuse(endpoint.expected_path()));
    }
    if given != endpoint {
        return Err(InputError::WrongSessionUrl {
            url: shown_url(url),
            given: given.url_field(),
            wanted: endpoint.url_field(),
        });
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_constants_spell_the_paths() {
        assert_eq!(SESSIONS_PREFIX, format!("{SESSIONS_PATH}/").as_bytes());
        assert_eq!(DISTRIBUTION_SUFFIX, Endpoint::Distribution.suffix().as_bytes());
        assert_eq!(strip_ascii_prefix("/hpp/v1/sessions/x", SESSIONS_PREFIX), Some("x"));
        assert_eq!(strip_ascii_prefix("/hpp/v1/session/x", SESSIONS_PREFIX), None);
        assert_eq!(strip_ascii_suffix("x/distribution", DISTRIBUTION_SUFFIX), Some("x"));
        assert_eq!(strip_ascii_suffix("x/distributio", DISTRIBUTION_SUFFIX), None);
        assert_eq!(strip_ascii_suffix("é/distribution", DISTRIBUTION_SUFFIX), Some("é"));
    }

    /// A URL built from pieces that are each right, or wrong in one of the ways that matter to
    /// an origin or path check.
    fn followed_url() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let scheme = prop::sample::select(vec!["https://", "HTTPS://", "http://", "https:/", ""]);
        let host = prop::sample::select(vec![
            "api.kustom.co",
            "API.kustom.co",
            "api.kustom.co:443",
            "api.kustom.co:8443",
            "api.kustom.co@evil.example",
            "evil.example@api.kustom.co",
            "api.kustom.co.evil.example",
            "127.0.0.1:8080",
            "gw.example",
        ]);
        let prefix = prop::sample::select(vec!["", "/kustom", "/kustom/", "/other"]);
        let sessions = prop::sample::select(vec![
            "/hpp/v1/sessions/",
            "/hpp/v1/sessions",
            "/HPP/v1/sessions/",
            "/hpp/v2/sessions/",
        ]);
        let id = prop::sample::select(vec![
            "s1",
            "9cbc9884-1fdb-45a8-9694-9340340d0436",
            "",
            ".",
            "..",
            "a%2Fb",
            "a/b",
            "é",
            "a?b",
            "a#b",
            "a@b",
        ]);
        let suffix = prop::sample::select(vec!["", "/distribution", "/distribution/", "/Distribution", "/x"]);
        let tail = prop::sample::select(vec!["", "?q=1", "#f", "/", "?", "#"]);
        (scheme, host, prefix, sessions, id, suffix, tail)
            .prop_map(|(a, b, c, d, e, f, g)| format!("{a}{b}{c}{d}{e}{f}{g}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4096, ..Default::default() })]

        /// The fast path decides nothing on its own: every URL gets the full check's answer,
        /// and the URI it builds is the one the full check would return.
        #[test]
        fn the_fast_path_agrees_with_the_full_check(
            url in followed_url(),
            base in proptest::sample::select(vec!["https://api.kustom.co", "https://gw.example/kustom", "http://127.0.0.1:8080", "https://API.kustom.co"]),
            distribution in proptest::bool::ANY,
        ) {
            let base = BaseUrl::parse(base).unwrap();
            let endpoint = if distribution { Endpoint::Distribution } else { Endpoint::Session };
            let shown = |r: Result<Uri, InputError>| r.map(|uri| uri.to_string()).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(shown(follow_url(&base, &url, endpoint)), shown(check_followed_url(&base, &url, endpoint)));
        }
    }

    #[test]
    fn the_fast_path_takes_the_usual_url() {
        let base = BaseUrl::parse("https://api.kustom.co").unwrap();
        let url = "https://api.kustom.co/hpp/v1/sessions/s1/distribution";
        assert_eq!(written_under_base(&base, url, Endpoint::Distribution), Some("s1"));
        assert_eq!(written_under_base(&base, url, Endpoint::Session), None);
        assert_eq!(written_under_base(&base, "https://API.kustom.co/hpp/v1/sessions/s1", Endpoint::Session), None);
        let base = BaseUrl::parse("https://gw.example/kustom/").unwrap();
        assert_eq!(
            written_under_base(&base, "https://gw.example/kustom/hpp/v1/sessions/s1", Endpoint::Session),
            Some("s1")
        );
    }

    #[test]
    fn a_refused_id_says_why() {
        let reason = |id: &str| match check_session_id(id) {
            Err(InputError::InvalidSessionId { reason, .. }) => reason,
            other => panic!("{id:?}: {other:?}"),
        };
        assert!(matches!(check_session_id(""), Err(InputError::EmptySessionId)));
        assert_eq!(reason(&"a".repeat(257)), "it is longer than 256 characters");
        assert!(check_session_id(&"a".repeat(256)).is_ok());
        assert_eq!(reason(&format!("{}/", "a".repeat(255))), "only letters, digits and '-', '.', '_', '~' are allowed");
        assert_eq!(reason("."), "it is a relative path segment");
        assert_eq!(reason(".."), "it is a relative path segment");
        assert_eq!(reason("a/b"), "only letters, digits and '-', '.', '_', '~' are allowed");
    }

    #[test]
    fn session_path_suffix() {
        let base = BaseUrl::parse("https://api.kustom.co").unwrap();
        let ok = SessionRef::parse("https://API.kustom.co:443/hpp/v1/sessions/abc/distribution");
        assert!(ok.resolve(&base, Endpoint::Distribution).is_ok());
        assert!(ok.resolve(&base, Endpoint::Session).is_err());
    }
}
