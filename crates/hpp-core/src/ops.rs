//! The four operations: each is plain data with a pure `build` and a pure `parse`.

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Uri};
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::distribution::Distribution;
use crate::error::{ApiError, DecodeError, Error, InputError, OperationKind};
use serde::{Deserialize, Serialize};

use crate::exchange::{BodyTruncated, Request, Response};
use crate::model::{MerchantUrls, Session, SessionCreated, SessionOptions};
use crate::session::{Endpoint, SESSIONS_PATH, SessionRef};

/// One API operation: data that builds a request and parses its response, without I/O.
///
/// Drive one with any HTTP client:
///
/// ```
/// # use hpp_core::{Config, Credentials, Environment, Mode, Operation, ReadSession};
/// # let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k").unwrap());
/// let op = ReadSession::new("9cbc9884-1fdb-45a8-9694-9340340d0436");
/// let request = op.build(&config)?;                      // pure
/// # let my_http_roundtrip = |_req| http::Response::builder().status(200)
/// #     .body(br#"{"status":"WAITING"}"#.to_vec()).unwrap();
/// let response = my_http_roundtrip(request);             // your I/O
/// let session = op.parse(response)?;                     // pure
/// # assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting));
/// # Ok::<(), hpp_core::Error>(())
/// ```
pub trait Operation {
    /// What a successful response parses into.
    type Output;
    /// A name for logs and spans.
    const NAME: &'static str;
    /// Which call this is, as its errors name it ([`Error::operation`]): the SDK's four name
    /// themselves; an operation of your own is [`OperationKind::Other`] unless it says otherwise.
    const KIND: OperationKind = OperationKind::Other { repeatable: Self::REPEATABLE };
    /// Whether sending the request again after it may have reached the server does nothing
    /// more than sending it once: `true` for read and disable; `false` for create and distribute
    /// (POSTs without an idempotency key: a second session, a second message).
    const REPEATABLE: bool;
    /// The request path with the session id as a placeholder, for logs and spans.
    const URL_TEMPLATE: &'static str;

    /// Builds the request, or refuses the input before anything is sent.
    fn build(&self, config: &Config) -> Result<Request, Error>;

    /// Parses the response: any 2xx is success; anything else is [`Error::Api`].
    fn parse(&self, response: Response) -> Result<Self::Output, Error>;
}

fn request(config: &Config, method: Method, uri: Uri, body: Option<Vec<u8>>) -> Request {
    let has_body = body.is_some();
    let mut request = http::Request::new(body.unwrap_or_default());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.reserve(4);
    headers.insert(AUTHORIZATION, config.credentials().authorization());
    headers.insert(USER_AGENT, config.user_agent().clone());
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    if has_body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    request
}

fn json_body<T: Serialize>(value: &T) -> Vec<u8> {
    // invariant: the models are plain structs of strings, numbers and string enums; serializing
    // them to memory cannot fail.
    serde_json::to_vec(value).expect("request models always serialize")
}

/// Splits success from failure: the body of a 2xx, or the [`ApiError`] of anything else. A 2xx
/// whose body the transport cut at its limit is a [`DecodeError`]: it happened, and could not be read.
fn success(response: Response, operation: OperationKind) -> Result<Response, Error> {
    if !response.status().is_success() {
        return Err(Error::from(ApiError::from_response(&response)).during(operation));
    }
    if let Some(limit) = BodyTruncated::of(&response) {
        let reason = format!("the body is longer than the {limit}-byte limit");
        let error = DecodeError::new(&response, "a response within the body limit", reason);
        return Err(Error::from(error).during(operation));
    }
    Ok(response)
}

/// Decodes a 2xx JSON body. The content type is not trusted either way: a JSON body under a wrong
/// content type is accepted, and a body that is not JSON is a [`DecodeError`] naming it.
fn decode<T: DeserializeOwned>(
    response: Response,
    expected: &'static str,
    operation: OperationKind,
) -> Result<T, Error> {
    let response = success(response, operation)?;
    let body = response.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        let error = DecodeError::new(&response, expected, "the body is empty".to_owned());
        return Err(Error::from(error).during(operation));
    }
    serde_json::from_slice(body).map_err(|e| {
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none");
        let reason = format!("{e} (content type {content_type})");
        Error::from(DecodeError::new(&response, expected, reason)).during(operation)
    })
}

/// Create an HPP session for a payment session or checkout order: `POST /hpp/v1/sessions`.
///
/// Its fields are the request body (`SessionCreationRequestV1`), serialized with exactly the
/// fields that are set:
///
/// ```
/// use hpp_core::{CreateSession, MerchantUrls};
/// let mut create = CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/123");
/// let mut urls = MerchantUrls::default();
/// urls.success = Some("https://shop.example/ok?sid={{session_id}}".into());
/// create.merchant_urls = Some(urls);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateSession {
    /// URL of the payment session or checkout order this page pays (required by the API).
    #[serde(default)]
    pub payment_session_url: String,
    /// Redirect and callback URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_urls: Option<MerchantUrls>,
    /// Page options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<SessionOptions>,
    /// Profile with default options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<String>,
}

impl CreateSession {
    /// A session paying the payment session or order at `payment_session_url`.
    pub fn new(payment_session_url: impl Into<String>) -> Self {
        Self { payment_session_url: payment_session_url.into(), ..Default::default() }
    }
}

impl Operation for CreateSession {
    type Output = SessionCreated;
    const NAME: &'static str = "create_session";
    const KIND: OperationKind = OperationKind::CreateSession;
    const REPEATABLE: bool = false;
    const URL_TEMPLATE: &'static str = "/hpp/v1/sessions";

    fn build(&self, config: &Config) -> Result<Request, Error> {
        let url = self.payment_session_url.trim();
        if url.is_empty() {
            return Err(InputError::InvalidField { field: "payment_session_url", reason: "it is empty" }.into());
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.parse::<Uri>().is_err() {
            return Err(InputError::InvalidField {
                field: "payment_session_url",
                reason: "it is not an absolute http(s) URL",
            }
            .into());
        }
        let uri = config.base_url().join_uri(&[SESSIONS_PATH])?;
        Ok(request(config, Method::POST, uri, Some(json_body(self))))
    }

    fn parse(&self, response: Response) -> Result<SessionCreated, Error> {
        decode(response, "a created session", Self::KIND)
    }
}

/// Read a session's status: `GET {session_url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSession {
    session: SessionRef,
}

impl ReadSession {
    /// Reads `session` (an id or a `session_url`).
    pub fn new(session: impl Into<SessionRef>) -> Self {
        Self { session: session.into() }
    }
}

impl Operation for ReadSession {
    type Output = Session;
    const NAME: &'static str = "read_session";
    const KIND: OperationKind = OperationKind::ReadSession;
    const REPEATABLE: bool = true;
    const URL_TEMPLATE: &'static str = "/hpp/v1/sessions/{session_id}";

    fn build(&self, config: &Config) -> Result<Request, Error> {
        let uri = self.session.resolve(config.base_url(), Endpoint::Session)?;
        Ok(request(config, Method::GET, uri, None))
    }

    fn parse(&self, response: Response) -> Result<Session, Error> {
        decode(response, "a session", Self::KIND)
    }
}

/// Disable a session so its links stop working: `DELETE {session_url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisableSession {
    session: SessionRef,
}

impl DisableSession {
    /// Disables `session` (an id or a `session_url`).
    pub fn new(session: impl Into<SessionRef>) -> Self {
        Self { session: session.into() }
    }
}

impl Operation for DisableSession {
    type Output = ();
    const NAME: &'static str = "disable_session";
    const KIND: OperationKind = OperationKind::DisableSession;
    const REPEATABLE: bool = true;
    const URL_TEMPLATE: &'static str = "/hpp/v1/sessions/{session_id}";

    fn build(&self, config: &Config) -> Result<Request, Error> {
        let uri = self.session.resolve(config.base_url(), Endpoint::Session)?;
        Ok(request(config, Method::DELETE, uri, None))
    }

    fn parse(&self, response: Response) -> Result<(), Error> {
        success(response, Self::KIND).map(drop)
    }
}

/// Send the pay link to the consumer: `POST {distribution_url}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributeSession {
    session: SessionRef,
    distribution: Distribution,
}

impl DistributeSession {
    /// Distributes `session` (an id or a `distribution_url`) as `distribution` says.
    pub fn new(session: impl Into<SessionRef>, distribution: Distribution) -> Self {
        Self { session: session.into(), distribution }
    }
}

impl Operation for DistributeSession {
    type Output = ();
    const NAME: &'static str = "distribute_session";
    const KIND: OperationKind = OperationKind::DistributeSession;
    const REPEATABLE: bool = false;
    const URL_TEMPLATE: &'static str = "/hpp/v1/sessions/{session_id}/distribution";

    fn build(&self, config: &Config) -> Result<Request, Error> {
        let uri = self.session.resolve(config.base_url(), Endpoint::Distribution)?;
        let body = json_body(self.distribution.request());
        Ok(request(config, Method::POST, uri, Some(body)))
    }

    fn parse(&self, response: Response) -> Result<(), Error> {
        success(response, Self::KIND).map(drop)
    }
}
