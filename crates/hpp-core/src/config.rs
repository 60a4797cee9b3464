//! Where requests go and who sends them: [`Environment`], [`Credentials`], [`Config`].

use core::net::{Ipv4Addr, Ipv6Addr};
use std::fmt;

use http::HeaderValue;
use http::uri::{Authority, Scheme, Uri};
use zeroize::Zeroizing;

use crate::error::InputError;

/// Production or playground (the test environment, with test credentials and quotas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Live payments.
    Production,
    /// The test environment.
    Playground,
}

/// Which API the client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Environment {
    /// Kustom: `https://api.kustom.co` or `https://api.playground.kustom.co`.
    Kustom(Mode),
    /// Klarna's Europe hosts (`api.klarna.com`), for merchants not yet moved to Kustom.
    KlarnaEurope(Mode),
    /// Klarna's North America hosts (`api-na.klarna.com`).
    KlarnaNorthAmerica(Mode),
    /// Klarna's Oceania hosts (`api-oc.klarna.com`).
    KlarnaOceania(Mode),
    /// Any other base URL, such as a local sandbox: `Environment::Custom(BaseUrl::parse(url)?)`
    /// ([`BaseUrl::parse`]: https, or plain http to loopback only).
    Custom(BaseUrl),
}

impl Environment {
    /// The base URL requests are built on and followed URLs must match.
    pub fn base_url(&self) -> BaseUrl {
        let host = match self {
            Self::Custom(base) => return base.clone(),
            Self::Kustom(Mode::Production) => "api.kustom.co",
            Self::Kustom(Mode::Playground) => "api.playground.kustom.co",
            Self::KlarnaEurope(Mode::Production) => "api.klarna.com",
            Self::KlarnaNorthAmerica(Mode::Production) => "api-na.klarna.com",
            Self::KlarnaOceania(Mode::Production) => "api-oc.klarna.com",
            Self::KlarnaEurope(Mode::Playground) => "api.playground.klarna.com",
            Self::KlarnaNorthAmerica(Mode::Playground) => "api-na.playground.klarna.com",
            Self::KlarnaOceania(Mode::Playground) => "api-oc.playground.klarna.com",
        };
        BaseUrl::from_parts(Scheme::HTTPS, Authority::from_static(host), String::new(), false)
    }
}

/// A validated base URL: scheme, host, optional port and optional path prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    pub(crate) prefix: String,
    /// Plain http to a host that is not loopback, which only [`BaseUrl::parse_allowing_plain_http`] accepts.
    plain_http_opt_in: bool,
    /// `{scheme}://{authority}{prefix}`, written once: what every request URL under this base
    /// starts with, compared as one string by the followed-URL check's fast path.
    written: String,
}

/// The longest base URL accepted, in bytes.
pub(crate) const MAX_BASE_URL_LEN: usize = 1024;

impl BaseUrl {
    /// Parses and checks a base URL: absolute, no user info, query or fragment; `https`, or `http`
    /// only when the host is a loopback address (`localhost`, `127.0.0.0/8`, `[::1]`).
    pub fn parse(url: &str) -> Result<Self, InputError> {
        Self::parse_checked(url, false)
    }

    /// [`parse`](Self::parse), but also accepting plain `http` to a host that is not loopback: a
    /// sandbox on a private test network (`http://sandbox:8080`). The credentials then cross that
    /// network in clear. Never for production; the choice shows in `Debug` of the URL and of the
    /// [`Config`], and in [`sends_credentials_in_clear`](Self::sends_credentials_in_clear).
    pub fn parse_allowing_plain_http(url: &str) -> Result<Self, InputError> {
        Self::parse_checked(url, true)
    }

    /// Whether requests carry the credentials over plain http beyond this machine (the opt-in of
    /// [`parse_allowing_plain_http`](Self::parse_allowing_plain_http) was used and needed).
    pub fn sends_credentials_in_clear(&self) -> bool {
        self.plain_http_opt_in
    }

    fn parse_checked(url: &str, allow_plain_http: bool) -> Result<Self, InputError> {
        let refuse = |reason| InputError::InvalidBaseUrl { url: shown_url(url), reason };
        if url.len() > MAX_BASE_URL_LEN {
            return Err(refuse("it is longer than 1024 characters"));
        }
        let uri: Uri = url.parse().map_err(|_| refuse("not an absolute URL"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(refuse("not an absolute URL"));
        };
        if authority.as_str().contains('@') {
            return Err(refuse("user info is not allowed; pass credentials separately"));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(refuse("a query or fragment is not allowed"));
        }
        let mut plain_http_opt_in = false;
        if *scheme == Scheme::HTTP {
            if !is_loopback(authority.host()) {
                if !allow_plain_http {
                    return Err(refuse(
                        "plain http is allowed only to a loopback address, unless explicitly allowed for a test network",
                    ));
                }
                plain_http_opt_in = true;
            }
        } else if *scheme != Scheme::HTTPS {
            return Err(refuse("the scheme must be https"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self::from_parts(scheme.clone(), authority.clone(), prefix, plain_http_opt_in))
    }

    fn from_parts(scheme: Scheme, authority: Authority, prefix: String, plain_http_opt_in: bool) -> Self {
        let written = format!("{scheme}://{authority}{prefix}");
        Self { scheme, authority, prefix, plain_http_opt_in, written }
    }

    /// `{scheme}://{authority}{prefix}`: what every request URL under this base starts with.
    pub(crate) fn as_written(&self) -> &str {
        &self.written
    }

    /// The request URI for the path made of `segments` (joined as given) under this base URL.
    /// Built from the parts already parsed (scheme and authority shared, not re-parsed; the path
    /// in one allocation). Refused, not a panic, should it not form (lengths are bounded where the
    /// base URL and ids are accepted, so it always does).
    pub(crate) fn join_uri(&self, segments: &[&str]) -> Result<Uri, InputError> {
        let mut path = String::with_capacity(self.prefix.len() + segments.iter().map(|s| s.len()).sum::<usize>());
        path.push_str(&self.prefix);
        segments.iter().for_each(|s| path.push_str(s));
        let refuse = |path: &str| InputError::InvalidBaseUrl {
            url: shown_url(&format!("{}://{}{path}", self.scheme, self.authority)),
            reason: "it does not form a request URL",
        };
        let path = bytes::Bytes::from(path);
        let shown = |path: &bytes::Bytes| String::from_utf8_lossy(path).into_owned();
        let Ok(path_and_query) = http::uri::PathAndQuery::from_maybe_shared(path.clone()) else {
            return Err(refuse(&shown(&path)));
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|_| refuse(&shown(&path)))
    }

    /// Whether `uri` has this base URL's scheme, host and port.
    pub(crate) fn same_origin(&self, scheme: &Scheme, authority: &Authority) -> bool {
        // Fast path, the usual case: the very authority we were configured with.
        if *scheme == self.scheme && authority.as_str().eq_ignore_ascii_case(self.authority.as_str()) {
            return true;
        }
        *scheme == self.scheme
            && authority.host().eq_ignore_ascii_case(self.authority.host())
            && effective_port(scheme, authority) == effective_port(&self.scheme, &self.authority)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.plain_http_opt_in {
            write!(f, "BaseUrl({self}, CREDENTIALS IN CLEAR: plain http allowed beyond loopback)")
        } else {
            write!(f, "BaseUrl({self})")
        }
    }
}

fn effective_port(scheme: &Scheme, authority: &Authority) -> u16 {
    authority.port_u16().unwrap_or(if *scheme == Scheme::HTTP { 80 } else { 443 })
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL as it may be shown in an error: no user info, no query, at most 200 characters.
pub fn shown_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    let shown = match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => without_query.to_owned(),
    };
    // Cut after escaping, and say so only when something was cut (user info removed or a
    // multi-byte character is not a cut; an escaped tab can make one).
    let mut escaped = shown.escape_debug();
    let mut shown: String = escaped.by_ref().take(200).collect();
    if escaped.next().is_some() {
        shown.push('…');
    }
    shown
}

/// API credentials, sent as HTTP Basic authorization. `Debug` never shows them. The
/// `Authorization` value lives in one buffer, shared (not copied) by every request built with
/// these credentials and zeroed when the last of them is dropped; the header is marked
/// sensitive.
///
/// ```
/// use hpp_core::Credentials;
///
/// let key = Credentials::api_key("kco_test_api_c2VjcmV0")?;
/// assert_eq!(format!("{key:?}"), r#"Credentials { kind: "api_key", value: "<redacted>" }"#);
/// assert!(Credentials::api_key("has a space").is_err());
/// let basic = Credentials::basic("merchant-id", "shared secret")?;
/// # Ok::<(), hpp_core::InputError>(())
/// ```
#[derive(Clone)]
pub struct Credentials {
    /// Backed by a [`ZeroizedSecret`]: clones share it, and it is zeroed with the last one.
    header: HeaderValue,
    kind: &'static str,
}

/// The bytes behind the `Authorization` header: zeroed when the last request or `Credentials`
/// sharing them is dropped.
struct ZeroizedSecret(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for ZeroizedSecret {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The test's own secret, and how many times a buffer holding it was dropped (and so zeroed).
#[cfg(test)]
const MARKED_SECRET: &[u8] = b"Basic kco_test_api_marked_for_the_zeroize_test";
#[cfg(test)]
static MARKED_SECRET_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(test)]
impl Drop for ZeroizedSecret {
    fn drop(&mut self) {
        if self.0.as_slice() == MARKED_SECRET {
            MARKED_SECRET_DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Credentials {
    /// An API key, sent verbatim: `Authorization: Basic <key>` (Kustom's `kco_…_api_…` keys and
    /// Klarna's `klarna_…_api_…` keys).
    pub fn api_key(key: &str) -> Result<Self, InputError> {
        if key.is_empty() {
            return Err(InputError::InvalidCredentials { reason: "the API key is empty" });
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InputError::InvalidCredentials {
                reason: "the API key has spaces, control or non-ASCII characters",
            });
        }
        Self::from_token(key.as_bytes(), "api_key")
    }

    /// A username and password: `Authorization: Basic base64(username:password)`.
    pub fn basic(username: &str, password: &str) -> Result<Self, InputError> {
        if username.is_empty() {
            return Err(InputError::InvalidCredentials { reason: "the username is empty" });
        }
        if username.contains(':') {
            return Err(InputError::InvalidCredentials { reason: "the username contains ':'" });
        }
        if username.chars().chain(password.chars()).any(char::is_control) {
            return Err(InputError::InvalidCredentials { reason: "the username or password has control characters" });
        }
        let joined = Zeroizing::new(format!("{username}:{password}"));
        Self::from_token(Zeroizing::new(base64(joined.as_bytes())).as_bytes(), "basic")
    }

    fn from_token(token: &[u8], kind: &'static str) -> Result<Self, InputError> {
        let mut value = Zeroizing::new(Vec::with_capacity(6 + token.len()));
        value.extend_from_slice(b"Basic ");
        value.extend_from_slice(token);
        // The header value takes the zeroizing buffer itself (no copy) and checks it in place:
        // every request clones the `HeaderValue`, which shares it, so no request leaves an
        // unzeroed copy behind either. (Both constructors only pass bytes it accepts.)
        let shared = bytes::Bytes::from_owner(ZeroizedSecret(value));
        let mut header = HeaderValue::from_maybe_shared(shared)
            .map_err(|_| InputError::InvalidCredentials { reason: "not valid in an HTTP header" })?;
        header.set_sensitive(true);
        Ok(Self { header, kind })
    }

    /// The `Authorization` header value, marked sensitive.
    pub(crate) fn authorization(&self) -> HeaderValue {
        self.header.clone()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("kind", &self.kind).field("value", &"<redacted>").finish()
    }
}

/// Standard base64 with padding (RFC 4648 §4), for Basic authorization.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `User-Agent` every request carries unless the caller appends to it.
pub(crate) const USER_AGENT: &str = concat!("kustom-hpp/", env!("CARGO_PKG_VERSION"), " (hpp-core; rust)");

/// Everything a request needs besides its own data: environment, credentials, `User-Agent`.
///
/// ```
/// use hpp_core::{BaseUrl, Config, Credentials, Environment, Mode};
///
/// let kustom = Config::new(Environment::Kustom(Mode::Production), Credentials::api_key("kco_live_api_x")?);
/// assert_eq!(kustom.base_url().to_string(), "https://api.kustom.co");
/// let klarna = Config::new(Environment::KlarnaNorthAmerica(Mode::Playground), Credentials::api_key("k")?);
/// let sandbox = Config::new(BaseUrl::parse("http://127.0.0.1:8080").map(Environment::Custom)?, Credentials::basic("user", "pw")?);
/// assert!(!format!("{sandbox:?}").contains("pw"));
/// # Ok::<(), hpp_core::InputError>(())
/// ```
#[derive(Clone)]
pub struct Config {
    environment: Environment,
    base_url: BaseUrl,
    credentials: Credentials,
    user_agent: HeaderValue,
}

impl Config {
    /// A configuration for `environment`, authenticating with `credentials`.
    pub fn new(environment: Environment, credentials: Credentials) -> Self {
        Self {
            base_url: environment.base_url(),
            environment,
            credentials,
            user_agent: HeaderValue::from_static(USER_AGENT),
        }
    }

    /// Appends `product` (for example `my-shop/1.4`) to the `User-Agent`. Characters a header
    /// cannot carry (anything but printable ASCII and spaces) become `_`, so a value read from
    /// configuration can never inject a header; an empty or blank `product` leaves it unchanged.
    ///
    /// ```
    /// # use hpp_core::{Config, Credentials, Environment, Mode};
    /// let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k")?)
    ///     .with_user_agent_product("my-shop/1.4");
    /// assert!(config.user_agent().to_str()?.ends_with(" my-shop/1.4"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_user_agent_product(mut self, product: &str) -> Self {
        let product: String =
            product.trim().chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
        if !product.is_empty() {
            // invariant: USER_AGENT and `product` are printable ASCII and spaces, a valid header value.
            self.user_agent =
                HeaderValue::from_str(&format!("{USER_AGENT} {product}")).unwrap_or_else(|_| self.user_agent.clone());
        }
        self
    }

    /// The environment.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The base URL requests are built on.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The `User-Agent` header value.
    pub fn user_agent(&self) -> &HeaderValue {
        &self.user_agent
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("credentials", &self.credentials)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn requests_share_the_secret_and_the_last_one_dropped_zeroes_it() {
        use std::sync::atomic::Ordering::SeqCst;
        let key = std::str::from_utf8(&MARKED_SECRET[6..]).unwrap();
        let credentials = Credentials::api_key(key).unwrap();
        let first = credentials.authorization();
        let second = credentials.clone().authorization();
        assert_eq!(first.as_bytes(), MARKED_SECRET);
        assert!(first.is_sensitive() && second.is_sensitive());
        // Shared, not copied: no request holds a copy that would outlive the zeroing.
        assert_eq!(first.as_bytes().as_ptr(), credentials.authorization().as_bytes().as_ptr());
        assert_eq!(second.as_bytes().as_ptr(), first.as_bytes().as_ptr());
        drop(credentials);
        assert_eq!(MARKED_SECRET_DROPS.load(SeqCst), 0, "the requests still hold it");
        drop(first);
        assert_eq!(MARKED_SECRET_DROPS.load(SeqCst), 0);
        drop(second);
        assert_eq!(MARKED_SECRET_DROPS.load(SeqCst), 1, "zeroed with the last request");
    }

    #[test]
    fn base_urls_up_to_the_length_bound_and_their_prefix() {
        let padded = |len: usize| format!("https://x.example/{}", "p".repeat(len - "https://x.example/".len()));
        assert!(BaseUrl::parse(&padded(MAX_BASE_URL_LEN)).is_ok());
        assert!(BaseUrl::parse(&padded(MAX_BASE_URL_LEN + 1)).is_err());
        assert_eq!(BaseUrl::parse("https://gw.example/kustom/").unwrap().prefix, "/kustom");
        assert_eq!(BaseUrl::parse("https://api.kustom.co").unwrap().prefix, "");
    }

    #[test]
    fn shown_urls_are_cut_at_200_characters_with_an_ellipsis() {
        let long = format!("https://x.example/{}", "a".repeat(300));
        let shown = shown_url(&long);
        assert_eq!(shown.chars().count(), 201);
        assert!(shown.ends_with('…'));
        let exact = format!("https://x.example/{}", "a".repeat(200 - "https://x.example/".len()));
        assert_eq!(shown_url(&exact), exact, "200 characters fit: no ellipsis");
        let short = "https://x.example/a";
        assert_eq!(shown_url(short), short);
        // Cut or not by what is shown, not by the URL's length in bytes.
        let accented = format!("https://x.example/{}", "é".repeat(150));
        assert_eq!(shown_url(&accented), accented, "168 characters in 318 bytes: not cut");
        let with_user = format!("https://user:secret@x.example/{}", "a".repeat(175));
        assert!(!shown_url(&with_user).ends_with('…'), "user info dropped, nothing cut");
        let tabs = format!("https://x.example/{}", "\t".repeat(100));
        let shown = shown_url(&tabs);
        assert!(shown.ends_with('…') && shown.chars().count() == 201, "escaped tabs cut: {shown}");
    }

    #[test]
    fn shown_url_drops_userinfo_and_query() {
        assert_eq!(shown_url("https://user:pw@evil.example/x?token=1"), "https://evil.example/x");
    }
}
