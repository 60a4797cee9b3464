//! The one error type of the SDK, and the context each variant carries.
//!
//! The table of what each variant means lives on [`Error`], where rustdoc shows it.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::redact;

mod advice;

pub use advice::Action;

/// How many bytes of a response body an error keeps.
pub(crate) const RAW_BODY_CAP: usize = 4096;

/// Everything that can go wrong in a call to the HPP API.
///
/// A caller of a payment API first wants to know whether the call's side effect (a session
/// created, a message sent, a session disabled) could have happened: [`Error::side_effect`]
/// answers that, and [`Error::advice`] says what to do, in plain words.
///
/// | Variant | [`side_effect`](Error::side_effect) | What to do |
/// |---|---|---|
/// | [`InvalidInput`](Error::InvalidInput) | [`DidNotHappen`](SideEffect::DidNotHappen): nothing was sent | fix the input |
/// | [`Transport`](Error::Transport), not sent (connect failure) | [`DidNotHappen`](SideEffect::DidNotHappen) | safe to send again, even a create or a distribution |
/// | [`Transport`](Error::Transport), maybe sent (timeout, broken connection) | [`Unknown`](SideEffect::Unknown) | a read or disable: send it again; a distribution: read the session first; a create: create a new session (the first cannot be found) |
/// | [`Api`](Error::Api), 4xx | [`DidNotHappen`](SideEffect::DidNotHappen): the API refused it | see [`ApiError::advice`]; 429 may be sent again later |
/// | [`Api`](Error::Api), 3xx or 5xx | [`Unknown`](SideEffect::Unknown) | as for a transport error that may have been sent |
/// | [`Decode`](Error::Decode), a 2xx | [`Happened`](SideEffect::Happened) | the call took effect; read the session for its state (a read: read again; a create: create a new session) |
///
/// What to do depends on the call that failed, which the error knows
/// ([`operation`](Error::operation)): [`advice`](Error::advice) says it for a person,
/// [`action`](Error::action) for code.
///
/// `Display` is one short clause per level; the underlying cause (an I/O error, say) is only
/// available through [`source()`](std::error::Error::source), so reporters such as `anyhow`
/// (`{:#}`) print each cause once. The advice is only in [`Error::advice`] (and, for code, [`Error::action`]).
///
/// ```
/// use hpp_core::{Error, SideEffect, TransportError};
///
/// let error = Error::from(TransportError::timeout("read timed out"));
/// assert_eq!(error.side_effect(), SideEffect::Unknown);
/// assert_eq!(error.to_string(), "no response from the API in time; the request may have reached the server");
/// let cause = std::error::Error::source(&error).map(ToString::to_string);
/// assert_eq!(cause.as_deref(), Some("read timed out"));
/// assert!(error.advice().contains("read the session before repeating a create or a distribution"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Refused before sending: the input is invalid, or a URL is one we will not send credentials
    /// to. No request was built and nothing was sent.
    #[error(transparent)]
    InvalidInput(#[from] InputError),
    /// No response arrived: connection failure, timeout, or a body we would not read.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The API answered with a status outside 2xx.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The API answered with success, but the body could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl Error {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api(e) => Some(e.status()),
            Self::Decode(e) => Some(e.status()),
            Self::InvalidInput(_) | Self::Transport(_) => None,
        }
    }

    /// The API's `error_code`, when the server sent one.
    pub fn error_code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Api(e) => e.error_code(),
            _ => None,
        }
    }

    /// Whether the call's side effect could have happened: the one answer to "did it happen?",
    /// which the retry policy and [`advice`](Self::advice) follow too. See the table on [`Error`].
    pub fn side_effect(&self) -> SideEffect {
        match self {
            Self::InvalidInput(_) => SideEffect::DidNotHappen,
            Self::Transport(e) if e.may_have_been_sent() => SideEffect::Unknown,
            Self::Transport(_) => SideEffect::DidNotHappen,
            Self::Api(e) => e.side_effect(),
            Self::Decode(_) => SideEffect::Happened,
        }
    }

    /// Which call failed, when the error came from one (every error a [`Client`](crate::Client)
    /// or an operation's `parse` returns, but not one refused as invalid input, where nothing
    /// was sent). [`advice`](Self::advice) and [`action`](Self::action) are about this call: a
    /// read that timed out may simply be read again; a distribution that timed out may not.
    pub fn operation(&self) -> Option<OperationKind> {
        match self {
            Self::InvalidInput(_) => None,
            Self::Transport(e) => e.operation,
            Self::Api(e) => e.0.operation,
            Self::Decode(e) => e.operation,
        }
    }

    /// This error, as the failure of `operation` (unless it already names one).
    pub(crate) fn during(mut self, operation: OperationKind) -> Self {
        let slot = match &mut self {
            Self::InvalidInput(_) => return self,
            Self::Transport(e) => &mut e.operation,
            Self::Api(e) => &mut e.0.operation,
            Self::Decode(e) => &mut e.operation,
        };
        slot.get_or_insert(operation);
        self
    }
}

/// Which call an [`Error`] came from ([`Error::operation`]), as an
/// [`Operation`](crate::Operation) names itself ([`Operation::KIND`](crate::Operation::KIND)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OperationKind {
    /// [`CreateSession`](crate::CreateSession): a POST that makes a session; not repeatable.
    CreateSession,
    /// [`ReadSession`](crate::ReadSession): changes nothing; repeatable.
    ReadSession,
    /// [`DisableSession`](crate::DisableSession): disabling twice is disabling once; repeatable.
    DisableSession,
    /// [`DistributeSession`](crate::DistributeSession): a POST that sends the consumer a message;
    /// not repeatable.
    DistributeSession,
    /// An operation of your own, and whether sending it twice does no more than sending it once.
    Other {
        /// Its [`Operation::REPEATABLE`](crate::Operation::REPEATABLE).
        repeatable: bool,
    },
}

/// Whether a failed call's side effect (a session created, a message sent, a session disabled)
/// could have happened. Answered by [`Error::side_effect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::exhaustive_enums, reason = "the three answers are complete: callers should match all of them")]
pub enum SideEffect {
    /// It did not happen: nothing was sent, or the API refused the request (a 4xx). Sending
    /// again cannot repeat it.
    DidNotHappen,
    /// It happened: the API answered success, though the answer could not be read.
    Happened,
    /// It may have happened: the request may have arrived and no answer says whether it took
    /// effect (a timeout, a broken connection, a 5xx or a redirect). Read the session before
    /// repeating a create or a distribution.
    Unknown,
}

impl SideEffect {
    /// The answer in `snake_case` (also its `Display`): `did_not_happen`, `happened` or
    /// `unknown`.
    fn as_str(self) -> &'static str {
        match self {
            Self::DidNotHappen => "did_not_happen",
            Self::Happened => "happened",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for SideEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Input refused before anything was built or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The e-mail address is not one the API would accept.
    #[error("invalid e-mail address {masked}: {reason}; nothing was sent")]
    InvalidEmail {
        /// The address, masked.
        masked: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `status_update` callback body that was refused ([`StatusCallback::parse`](crate::callback::StatusCallback::parse)).
    #[error("callback refused: {reason}")]
    InvalidCallback {
        /// Why (serde's message scrubbed of contact data, or which rule).
        reason: String,
    },
    /// A callback secret that would let forged callbacks through, or break the URL it goes in.
    #[error("the callback secret ({len} characters) is refused: {reason}")]
    InvalidCallbackSecret {
        /// Its length, in characters.
        len: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An order key that cannot go in a per-order callback URL
    /// ([`CallbackSecret::append_for_order`](crate::callback::CallbackSecret::append_for_order)).
    #[error("the order key ({len} characters) cannot go in a callback URL: 1 to 128 of A-Z a-z 0-9 - . _ ~")]
    InvalidOrderKey {
        /// Its length, in characters.
        len: usize,
    },
    /// A token distribution needs an `access_id`, and it was empty.
    #[error("the access id is empty; pass the value read from the consumer's QR code; nothing was sent")]
    EmptyAccessId,
    /// The phone number is not one the API would accept.
    #[error("invalid phone number {masked}: {reason}; nothing was sent")]
    InvalidPhone {
        /// The number, masked.
        masked: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The phone country is not an ISO 3166-1 alpha-2 code.
    #[error("phone country {given:?} is not an ISO 3166-1 alpha-2 code such as \"SE\"; nothing was sent")]
    InvalidPhoneCountry {
        /// What was given (at most 16 characters of it).
        given: String,
    },
    /// The session id is empty.
    #[error("the session id is empty; nothing was sent")]
    EmptySessionId,
    /// The session id has characters that would change the request path.
    #[error("session id {shown:?} is not usable in a URL path: {reason}; nothing was sent")]
    InvalidSessionId {
        /// The id, escaped and cut to 64 characters.
        shown: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `session_url` or `distribution_url` that credentials will not be sent to.
    #[error("refusing to send credentials to {url}: {reason}; nothing was sent")]
    UntrustedUrl {
        /// The URL without user info or query, cut to 200 characters.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A `session_url` where a `distribution_url` is wanted, or the other way round.
    #[error("{url} is a {given}, and this call takes the {wanted} (or the session id); nothing was sent")]
    WrongSessionUrl {
        /// The URL without user info or query, cut to 200 characters.
        url: String,
        /// The kind given: `session_url` or `distribution_url`.
        given: &'static str,
        /// The kind this call takes.
        wanted: &'static str,
    },
    /// A created session lacks the URL this call takes and the session id it could be derived
    /// from (the API's answer did not have them).
    #[error("the created session has no {missing} and no session_id to derive it from; nothing was sent")]
    IncompleteSession {
        /// The field this call needed: `session_url` or `distribution_url`.
        missing: &'static str,
    },
    /// The base URL of a custom environment is not usable.
    #[error("invalid base URL {url}: {reason}")]
    InvalidBaseUrl {
        /// The URL without user info, cut to 200 characters.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The credentials cannot be sent in an `Authorization` header.
    #[error("invalid credentials: {reason}")]
    InvalidCredentials {
        /// What is wrong with them (never the value).
        reason: &'static str,
    },
    /// A request field has a value the API would refuse.
    #[error("invalid {field}: {reason}; nothing was sent")]
    InvalidField {
        /// The field, as the API names it.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The request got no response. `Display` says what failed and whether the request may have
/// been sent; the cause (the transport's own error) is [`source()`](std::error::Error::source).
///
/// Transports build it with the constructor that says what is known about sending:
///
/// ```
/// use hpp_core::{TransportError, TransportErrorKind};
///
/// let refused = TransportError::connect(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(refused.kind(), TransportErrorKind::Connect);
/// assert!(!refused.may_have_been_sent());
/// assert_eq!(refused.to_string(), "could not connect to the API; the request was not sent");
/// ```
#[derive(thiserror::Error)]
#[error("{}", self.describe())]
pub struct TransportError {
    kind: TransportErrorKind,
    maybe_sent: bool,
    operation: Option<OperationKind>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What kind of failure left a request without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (DNS, refused, TLS handshake). The request was not sent.
    Connect,
    /// No complete response arrived in time.
    Timeout,
    /// Anything else: the connection broke, the response was not valid HTTP.
    Other,
    /// The transport refused the request before sending any of it: it could not be converted
    /// for the HTTP client, or a test double (`hpp_testing::Replayer`) did not expect it. Not
    /// sent, and not retried: sending it again fails the same way.
    NotSent,
}

impl TransportErrorKind {
    /// `connect`, `timeout`, `other` or `not_sent`: the `error.type` of the attempt's span.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Other => "other",
            Self::NotSent => "not_sent",
        }
    }
}

impl TransportError {
    /// No connection could be made; the request was provably not sent.
    pub fn connect(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind: TransportErrorKind::Connect, maybe_sent: false, operation: None, source: Some(source.into()) }
    }

    /// No response in time; the request may have reached the server.
    pub fn timeout(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind: TransportErrorKind::Timeout, maybe_sent: true, operation: None, source: Some(source.into()) }
    }

    /// A refusal before any byte was written (the request could not be converted for the
    /// client, or a test double did not expect it): [`TransportErrorKind::NotSent`], provably not
    /// sent and never retried.
    pub fn before_sending(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind: TransportErrorKind::NotSent, maybe_sent: false, operation: None, source: Some(source.into()) }
    }

    /// Any other failure; the request may have reached the server.
    pub fn other(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { kind: TransportErrorKind::Other, maybe_sent: true, operation: None, source: Some(source.into()) }
    }

    /// What kind of failure this was.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether the request may have reached the server. When `false` it is safe to send again,
    /// even a POST; when `true`, repeating a distribution may send the consumer a second message.
    pub fn may_have_been_sent(&self) -> bool {
        self.maybe_sent
    }

    fn describe(&self) -> String {
        let what = match self.kind {
            TransportErrorKind::Connect => "could not connect to the API",
            TransportErrorKind::Timeout => "no response from the API in time",
            TransportErrorKind::Other => "the connection to the API failed",
            TransportErrorKind::NotSent => {
                return "the transport refused the request before sending it; nothing was sent".to_owned();
            }
        };
        if self.maybe_sent {
            format!("{what}; the request may have reached the server")
        } else {
            format!("{what}; the request was not sent")
        }
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("may_have_been_sent", &self.maybe_sent)
            .field("operation", &self.operation)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

open_enum! {
    /// The API's `error_code`. The eight codes of the distribution guide, plus any other.
    pub enum ErrorCode {
        /// 400: an undefined error; contact Kustom support with the correlation id.
        Unknown = "UNKNOWN",
        /// 400: the contact data for the method is missing or incomplete.
        MissingContactData = "MISSING_CONTACT_DATA",
        /// 404: the session does not exist any more (expired, or never did).
        NotFound = "NOT_FOUND",
        /// 400: the request broke a constraint (a malformed value, a missing method).
        ConstraintViolation = "CONSTRAINT_VIOLATION",
        /// 400: the phone number's country is not served in this region.
        UnsupportedCountry = "UNSUPPORTED_COUNTRY",
        /// 400: the recipient is on the service's block list.
        BlacklistRefused = "BLACKLIST_REFUSED",
        /// 429: the test environment's daily e-mail quota is used up.
        EmailLimitExceeded = "EMAIL_LIMIT_EXCEEDED",
        /// 502: distribution to a phone number is not allowed in the playground.
        BadGateway = "BAD_GATEWAY",
    }
}

/// The API answered with a status outside 2xx.
///
/// `Display` is the status, the `error_code`, the API's messages (contact data masked) and the
/// correlation id; what to do is [`advice`](Self::advice), and whether the call took effect is
/// [`side_effect`](Self::side_effect).
///
/// ```
/// use hpp_core::{Error, ErrorCode, Operation, ReadSession, SideEffect};
/// # let config = hpp_core::Config::new(hpp_core::Environment::Kustom(hpp_core::Mode::Playground), hpp_core::Credentials::api_key("k").unwrap());
/// let response = http::Response::builder()
///     .status(404)
///     .body(br#"{"error_code":"NOT_FOUND","error_messages":["HPP session not found"],"correlation_id":"c-1"}"#.to_vec())
///     .unwrap();
/// let Err(Error::Api(error)) = ReadSession::new("s1").parse(response) else { unreachable!() };
/// assert_eq!(error.status(), 404);
/// assert_eq!(error.error_code(), Some(&ErrorCode::NotFound));
/// assert_eq!(error.correlation_id(), Some("c-1"));
/// assert_eq!(error.side_effect(), SideEffect::DidNotHappen);
/// assert_eq!(error.to_string(), "the API answered 404 Not Found NOT_FOUND: HPP session not found [correlation id c-1]");
/// assert!(error.advice().contains("create a new session"));
/// ```
#[derive(Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ApiError(Box<ApiErrorFields>);

#[derive(Clone)]
struct ApiErrorFields {
    status: StatusCode,
    operation: Option<OperationKind>,
    error_code: Option<ErrorCode>,
    messages: Vec<String>,
    correlation_id: Option<String>,
    service_version: Option<String>,
    retry_after: Option<RetryAfter>,
    content_type: Option<String>,
    body: Vec<u8>,
    body_len: usize,
    body_truncated_at: Option<usize>,
}

impl ApiError {
    /// Reads an error response. Never fails: whatever the body is, the status survives.
    pub(crate) fn from_response(res: &http::Response<Vec<u8>>) -> Self {
        let body = res.body();
        let fields = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).ok();
        let text = |key: &str| {
            fields.as_ref().and_then(|m| match m.get(key)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let mut messages: Vec<String> = fields
            .as_ref()
            .and_then(|m| m.get("error_messages")?.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        for key in ["error_message", "http_status_message", "internal_message"] {
            if let Some(m) = text(key)
                && !messages.contains(&m)
            {
                messages.push(m);
            }
        }
        let header =
            |name: http::header::HeaderName| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Self(Box::new(ApiErrorFields {
            status: res.status(),
            operation: None,
            error_code: text("error_code").map(ErrorCode::from),
            messages,
            correlation_id: text("correlation_id"),
            service_version: text("service_version"),
            retry_after: res.headers().get(http::header::RETRY_AFTER).map(|v| RetryAfter::parse(v.as_bytes())),
            content_type: header(http::header::CONTENT_TYPE),
            body: body[..body.len().min(RAW_BODY_CAP)].to_vec(),
            body_len: body.len(),
            body_truncated_at: crate::exchange::BodyTruncated::of(res),
        }))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The `error_code`, when the body had one.
    pub fn error_code(&self) -> Option<&ErrorCode> {
        self.0.error_code.as_ref()
    }

    /// The messages: `error_messages`, then `error_message`, then the gateway shape's
    /// `http_status_message` and `internal_message`, as the server wrote them (they may repeat the
    /// contact data you sent; [`Display`](fmt::Display) masks it).
    pub fn messages(&self) -> &[String] {
        &self.0.messages
    }

    /// The `correlation_id` to quote to Kustom support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.0.correlation_id.as_deref()
    }

    /// The `service_version`, when sent.
    pub fn service_version(&self) -> Option<&str> {
        self.0.service_version.as_deref()
    }

    /// The transport's body limit, when the body was longer and was cut there.
    pub fn body_truncated_at(&self) -> Option<usize> {
        self.0.body_truncated_at
    }

    /// The `Retry-After` header, when the server sent one.
    pub fn retry_after(&self, now: SystemTime) -> Option<Duration> {
        self.0.retry_after.and_then(|after| after.delay_from(now))
    }

    /// The `Retry-After` header as sent.
    pub(crate) fn retry_after_header(&self) -> Option<RetryAfter> {
        self.0.retry_after
    }

    /// The first 4,096 bytes of the body.
    pub fn body(&self) -> &[u8] {
        &self.0.body
    }

    /// Whether the call's side effect could have happened: a 4xx was refused
    /// ([`SideEffect::DidNotHappen`]); after a redirect, a 5xx or any other status nothing says
    /// ([`SideEffect::Unknown`]).
    pub fn side_effect(&self) -> SideEffect {
        if self.0.status.is_client_error() { SideEffect::DidNotHappen } else { SideEffect::Unknown }
    }

    fn body_summary(&self) -> Option<String> {
        if self.0.error_code.is_some() || !self.0.messages.is_empty() {
            return None;
        }
        if self.0.body_len == 0 {
            return Some("empty body".to_owned());
        }
        let kind = match &self.0.content_type {
            Some(ct) if ct.contains("html") => "HTML body",
            Some(ct) if ct.contains("json") => "JSON body",
            _ => "body",
        };
        match self.0.body_truncated_at {
            Some(limit) => Some(format!("{kind} longer than the {limit}-byte limit, cut there")),
            None => Some(format!("{kind} of {} bytes", self.0.body_len)),
        }
    }

    fn describe(&self) -> String {
        let mut out = format!("the API answered {}", self.0.status);
        if let Some(code) = &self.0.error_code {
            out.push_str(&format!(" {code}"));
        }
        if !self.0.messages.is_empty() {
            let scrubbed: Vec<String> = self.0.messages.iter().map(|m| redact::scrub(m)).collect();
            out.push_str(&format!(": {}", scrubbed.join("; ")));
        }
        if let Some(summary) = self.body_summary() {
            out.push_str(&format!(" ({summary})"));
        }
        if let Some(id) = &self.0.correlation_id {
            out.push_str(&format!(" [correlation id {id}]"));
        }
        out
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.0.messages.iter().map(|m| redact::scrub(m)).collect();
        f.debug_struct("ApiError")
            .field("status", &self.0.status.as_u16())
            .field("operation", &self.0.operation)
            .field("error_code", &self.0.error_code)
            .field("messages", &messages)
            .field("correlation_id", &self.0.correlation_id)
            .field("service_version", &self.0.service_version)
            .field("retry_after", &self.0.retry_after)
            .field("content_type", &self.0.content_type)
            .field("body_len", &self.0.body_len)
            .field("body_truncated_at", &self.0.body_truncated_at)
            .finish()
    }
}

/// A `Retry-After` header (RFC 9110, section 10.2.3): a number of seconds or an HTTP-date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    /// Wait this long.
    Delay(Duration),
    /// Wait until this time.
    At(SystemTime),
    /// Neither form, or a number too large to represent: it cannot be honoured.
    Unusable,
}

impl RetryAfter {
    /// The longest delay accepted as a number of seconds (about 31 years); more is [`Self::Unusable`].
    const MAX_SECS: u64 = 1_000_000_000;

    /// Parses a header value.
    pub(crate) fn parse(value: &[u8]) -> Self {
        let Ok(text) = std::str::from_utf8(value).map(str::trim) else { return Self::Unusable };
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<u64>() {
                Ok(secs) if secs <= Self::MAX_SECS => Self::Delay(Duration::from_secs(secs)),
                _ => Self::Unusable,
            };
        }
        httpdate::parse_http_date(text).map_or(Self::Unusable, Self::At)
    }

    /// How long to wait from `now`: an HTTP-date in the past means at once; `None` when unusable.
    pub(crate) fn delay_from(&self, now: SystemTime) -> Option<Duration> {
        match self {
            Self::Delay(delay) => Some(*delay),
            Self::At(at) => Some(at.duration_since(now).unwrap_or(Duration::ZERO)),
            Self::Unusable => None,
        }
    }
}

/// A success status with a body that could not be decoded.
#[derive(Clone, thiserror::Error)]
#[error("the API answered {status} but the body could not be read as {expected}: {reason}")]
pub struct DecodeError {
    status: StatusCode,
    operation: Option<OperationKind>,
    expected: &'static str,
    reason: String,
    body: Vec<u8>,
}

impl DecodeError {
    pub(crate) fn new(res: &http::Response<Vec<u8>>, expected: &'static str, reason: String) -> Self {
        let body = res.body();
        Self {
            status: res.status(),
            operation: None,
            expected,
            reason: redact::scrub(&reason),
            body: body[..body.len().min(RAW_BODY_CAP)].to_vec(),
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why decoding failed (with the line and column for malformed JSON).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The first 4,096 bytes of the body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("status", &self.status.as_u16())
            .field("operation", &self.operation)
            .field("expected", &self.expected)
            .field("reason", &self.reason)
            .field("body_len", &self.body.len())
            .finish()
    }
}
