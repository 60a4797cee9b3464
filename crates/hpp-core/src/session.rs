//! Naming a session: by id ([`SessionId`]) or by a URL the API returned ([`SessionRef`]), and
//! the check that decides whether a URL may receive our credentials.

use std::fmt;

use http::Uri;

use crate::config::{BaseUrl, shown_url};
use crate::error::InputError;

/// The path every session URL has under the base URL.
pub const SESSIONS_PATH: &str = "/hpp/v1/sessions";

/// A session id that is safe as one URL path segment: non-empty, at most 256 characters, only
/// `A-Z a-z 0-9 - . _ ~`, and not `.` or `..`. Ids are sent exactly as given or refused, never
/// escaped or altered.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// Checks `id`.
    pub fn new(id: &str) -> Result<Self, InputError> {
        check_session_id(id)?;
        Ok(Self(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rule of [`SessionId::new`], without keeping the id.
fn check_session_id(id: &str) -> Result<(), InputError> {
    {
        // Scrubbed: a mistyped argument can be an e-mail address or a phone number.
        let refuse = |reason| InputError::InvalidSessionId {
            shown: crate::redact::scrub(&id.chars().take(64).collect::<String>()).escape_debug().collect(),
            reason,
        };
        if id.is_empty() {
            return Err(InputError::EmptySessionId);
        }
        if id.len() > 256 {
            return Err(refuse("it is longer than 256 characters"));
        }
        if id == "." || id == ".." {
            return Err(refuse("it is a relative path segment"));
        }
        if !id.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~')) {
            return Err(refuse("only letters, digits and '-', '.', '_', '~' are allowed"));
        }
        Ok(())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({:?})", self.0)
    }
}

/// A session named by its id, or by the URL the API returned for it (`session_url` for read and
/// disable, `distribution_url` for distribute).
///
/// `From<&str>` (and `String`) takes anything starting with `http://` or `https://` as a URL and
/// anything else as an id. Both are checked only when a request is built: an id must be a valid
/// [`SessionId`]; a URL must be on the configured base URL's scheme, host and port, without user
/// info or query, and with exactly the path the operation expects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionRef {
    /// A session id.
    Id(String),
    /// A URL the API returned.
    Url(String),
}

impl SessionRef {
    /// Which kind `value` is: a URL when it starts with `http://` or `https://`, else an id.
    pub fn parse(value: &str) -> Self {
        let starts_with = |prefix: &str| value.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
        if starts_with("http://") || starts_with("https://") {
            Self::Url(value.to_owned())
        } else {
            Self::Id(value.to_owned())
        }
    }

    /// The request URI for `endpoint` under `base`, after every check.
    pub(crate) fn resolve(&self, base: &BaseUrl, endpoint: Endpoint) -> Result<Uri, InputError> {
        match self {
            Self::Id(id) => {
                let id = SessionId::new(id)?;
                base.join_uri(&endpoint.path(&id))
            }
            Self::Url(url) => check_followed_url(base, url, endpoint),
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

impl From<SessionId> for SessionRef {
    fn from(value: SessionId) -> Self {
        Self::Id(value.0)
    }
}

impl From<&SessionId> for SessionRef {
    fn from(value: &SessionId) -> Self {
        Self::Id(value.0.clone())
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
    fn suffix(self) -> &'static str {
        match self {
            Self::Session => "",
            Self::Distribution => "/distribution",
        }
    }

    fn path(self, id: &SessionId) -> String {
        format!("{SESSIONS_PATH}/{}{}", id.as_str(), self.suffix())
    }
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
    if uri.query().is_some() || url.as_bytes().contains(&b'#') {
        return Err(refuse("it has a query or fragment"));
    }
    let id = uri
        .path()
        .strip_prefix(base.prefix())
        .and_then(|rest| rest.strip_prefix(SESSIONS_PATH))
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.strip_suffix(endpoint.suffix()))
        .ok_or_else(|| refuse("its path is not the one this operation expects"))?;
    check_session_id(id).map_err(|_| refuse("its session id is not a single valid path segment"))?;
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_path_suffix() {
        let base = BaseUrl::parse("https://api.kustom.co").unwrap();
        let ok = SessionRef::parse("https://API.kustom.co:443/hpp/v1/sessions/abc/distribution");
        assert!(ok.resolve(&base, Endpoint::Distribution).is_ok());
        assert!(ok.resolve(&base, Endpoint::Session).is_err());
    }
}
