//! The sandbox's behaviour: every route, answered from shared state. Pure apart from the state
//! lock; the HTTP plumbing lives in `server.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use hpp_core::__private::time::unix_millis_to_rfc3339 as rfc3339;
use hpp_core::__private::{ErrorBody, SESSIONS_PATH};
use hpp_core::ErrorCode;
use hpp_core::callback::StatusCallback;
use hpp_core::model::{
    Customer, DistributionMethod, DistributionModule, ManualIdentification, MerchantUrls, PlaceOrderMode, Session,
    SessionCreated, SessionStatus,
};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::callbacks::{CallbackAttempt, CallbackJob, CallbackQueue};
use crate::{SandboxConfig, SandboxMode};

/// How long an HPP session lives: the payment session's 48 hours less one (hpp-api.md 1.8).
pub(crate) const SESSION_LIFETIME_MILLIS: i64 = 47 * 3600 * 1000;

/// The most faults pending at once.
pub(crate) const MAX_PENDING_FAULTS: usize = 1_000;

/// The most sessions held (expired ones are dropped first when it is reached).
pub(crate) const MAX_SESSIONS: usize = 100_000;

/// The most messages in the outbox; further distributions are refused.
pub(crate) const MAX_OUTBOX: usize = 100_000;

/// The most bytes the live sessions may hold (their merchant URLs and a fixed share each).
pub(crate) const MAX_SESSION_BYTES: usize = 256 * 1024 * 1024;

/// The most bytes the outbox may hold.
pub(crate) const MAX_OUTBOX_BYTES: usize = 64 * 1024 * 1024;

/// The most callbacks waiting for delivery, and their bytes.
pub(crate) const MAX_QUEUED_CALLBACKS: usize = 10_000;
/// See [`MAX_QUEUED_CALLBACKS`].
pub(crate) const MAX_QUEUED_CALLBACK_BYTES: usize = 32 * 1024 * 1024;

/// What a session record holds besides its merchant URLs, counted against [`MAX_SESSION_BYTES`].
const SESSION_RECORD_BYTES: usize = 2_048;

/// What an outbox message holds besides its recipient and link.
const OUTBOX_MESSAGE_BYTES: usize = 256;

/// The longest phone number and access id a distribution may carry (an e-mail address: 254).
const MAX_PHONE_LEN: usize = 32;
/// See [`MAX_PHONE_LEN`].
const MAX_ACCESS_ID_LEN: usize = 256;

/// The sandbox's bounds on what it keeps: by count and by bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) sessions: usize,
    pub(crate) session_bytes: usize,
    pub(crate) outbox: usize,
    pub(crate) outbox_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            sessions: MAX_SESSIONS,
            session_bytes: MAX_SESSION_BYTES,
            outbox: MAX_OUTBOX,
            outbox_bytes: MAX_OUTBOX_BYTES,
        }
    }
}

/// How long a manual identification check stays open (the sandbox's choice; undocumented).
const MANUAL_ID_CHECK_MILLIS: i64 = 15 * 60 * 1000;

/// The consumer the sandbox plays: the details a completed session or an identification check
/// carries (made up, in the spec's example formats).
fn sample_customer() -> Customer {
    let mut customer = Customer::default();
    customer.given_name = Some("Jane".to_owned());
    customer.family_name = Some("Doe".to_owned());
    customer.date_of_birth = Some("1987-08-15".to_owned());
    customer.title = Some("Ms".to_owned());
    customer.national_identification_number = Some("19870815-8493".to_owned());
    customer
}

/// How far the test clock may be moved, either way: 100 years.
const MAX_CLOCK_OFFSET_MILLIS: i64 = 100 * 366 * 24 * 3600 * 1000;

/// A message the sandbox "sent", as listed at `GET /_sandbox/outbox`. `Debug` masks the recipient.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboxMessage {
    /// Position in the outbox, from 1.
    pub sequence: u64,
    /// The session distributed.
    pub session_id: String,
    /// `email`, `sms` or `token`.
    pub method: String,
    /// The e-mail address, phone number or access id, as received.
    pub recipient: String,
    /// The localized pay link the message carried.
    pub link: String,
    /// When it was sent (RFC 3339).
    pub sent_at: String,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use hpp_core::__private::redact::{mask_all, mask_email, mask_phone};
        let recipient = match self.method.as_str() {
            "email" => mask_email(&self.recipient),
            "sms" => mask_phone(&self.recipient),
            _ => mask_all(&self.recipient),
        };
        f.debug_struct("OutboxMessage")
            .field("sequence", &self.sequence)
            .field("session_id", &self.session_id)
            .field("method", &self.method)
            .field("recipient", &recipient)
            .field("link", &self.link)
            .field("sent_at", &self.sent_at)
            .finish()
    }
}

/// A delivered answer: status and JSON body (none for 204).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<serde_json::Value>,
    pub(crate) www_authenticate: bool,
    pub(crate) retry_after: Option<u64>,
    /// An HTML page instead of JSON (the consumer's pay page).
    pub(crate) html: Option<String>,
    /// Where a 303 sends the browser.
    pub(crate) location: Option<String>,
    /// The methods a path allows, for a 405.
    pub(crate) allow: Option<&'static str>,
    /// An image instead of JSON (a session's QR code): its `Content-Type` and bytes.
    pub(crate) image: Option<(&'static str, Vec<u8>)>,
}

impl Answer {
    fn json(status: StatusCode, body: impl Serialize) -> Self {
        // invariant: the sandbox's own types always serialize.
        Self { body: Some(serde_json::to_value(body).expect("serializable")), ..Self::empty(status) }
    }

    fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            www_authenticate: false,
            retry_after: None,
            html: None,
            location: None,
            allow: None,
            image: None,
        }
    }

    fn html(page: String) -> Self {
        Self { html: Some(page), ..Self::empty(StatusCode::OK) }
    }

    fn see_other(location: String) -> Self {
        Self { location: Some(location), ..Self::empty(StatusCode::SEE_OTHER) }
    }
}

struct SessionRecord {
    session: Session,
    created: SessionCreated,
    merchant_urls: MerchantUrls,
    place_order_mode: Option<PlaceOrderMode>,
    expires_at_millis: i64,
}

/// Whether the consumer can still act on the pay page: pay, cancel or be refused. The one rule
/// for the page's buttons and the open endpoint they post to: a session paid, cancelled or
/// disabled (or in a manual identification check) is not changed by the consumer.
fn payable(session: &Session) -> bool {
    matches!(
        session.status,
        Some(
            SessionStatus::Waiting
                | SessionStatus::InProgress
                | SessionStatus::Failed
                | SessionStatus::Back
                | SessionStatus::Error
        )
    )
}

/// The pay page's style: inline (the page loads nothing else), for a phone first, the QR code
/// beside the card from 48rem up.
const PAY_PAGE_STYLE: &str = "\
:root{color-scheme:light;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.4}\
body{margin:0;background:#f3f3f6;color:#16161d}\
.banner{background:#ffe27a;color:#3d3000;text-align:center;font-size:.85rem;padding:.45rem .75rem}\
main{display:flex;flex-wrap:wrap;gap:1.25rem;justify-content:center;align-items:flex-start;max-width:60rem;margin:0 auto;padding:1rem}\
.card{background:#fff;border-radius:16px;box-shadow:0 1px 4px rgba(0,0,0,.12);padding:1.25rem;box-sizing:border-box}\
.pay{flex:1 1 20rem;max-width:28rem}\
h1{font-size:1.3rem;margin:0 0 1rem}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem .8rem;margin:0 0 1.25rem;font-size:.95rem}\
dt{color:#5c5c66}dd{margin:0;min-width:0;overflow-wrap:anywhere}\
.status{display:inline-block;padding:.15rem .6rem;border-radius:999px;font-weight:600;font-size:.85rem;background:#e7eefc;color:#1b4bc4}\
.status.paid{background:#dcf4e1;color:#15662a}.status.stopped{background:#ececf0;color:#44444d}.status.refused{background:#fde6e6;color:#a01414}\
form{margin:0}.actions{display:grid;gap:.6rem}\
button{width:100%;min-height:3rem;font:inherit;font-size:1.05rem;border-radius:12px;cursor:pointer}\
.primary{background:#16161d;color:#fff;border:0;font-weight:600}\
.secondary{background:#fff;color:#16161d;border:1px solid #c8c8d0}\
.outcome{margin:0;padding:1rem;border-radius:12px;background:#f3f3f6;font-size:1.05rem}\
.qr{display:none;flex:0 0 16rem;text-align:center}.qr img{width:14rem;height:14rem}.qr p{margin:.5rem 0 0;color:#5c5c66;font-size:.9rem}\
@media (min-width:48rem){.qr{display:block}}";

/// The consumer's hosted payment page: the session and its status and, while it can still be
/// paid, Pay (the primary action), Cancel and "have the purchase refused" (which change its
/// status and send callbacks as the real page would); once it cannot, what happened. A refused
/// (FAILED), abandoned (BACK) or erred (ERROR) payment may be tried again, as on the service.
/// Made for a phone (where a consumer who scanned the QR code lands) and a desktop (with the
/// QR code beside it); inline CSS, no script.
fn pay_page(session: &Session) -> String {
    let id = session.session_id.clone().unwrap_or_default();
    let status = session.status.as_ref().map(ToString::to_string).unwrap_or_default();
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let (id, status) = (escape(&id), escape(&status));
    let (tone, outcome) = match session.status {
        Some(SessionStatus::Completed) => ("paid", "Paid. Thank you! You can close this page."),
        Some(SessionStatus::Cancelled) => ("stopped", "You cancelled this payment."),
        Some(SessionStatus::Disabled) => ("stopped", "The shop has withdrawn this payment link."),
        Some(SessionStatus::ManualIdCheck) => ("stopped", "The shop is checking your identity."),
        Some(SessionStatus::Failed) => ("refused", "The purchase was refused. You can try again."),
        _ => ("", ""),
    };
    // The code to scan, while there is something to do on the page it leads to.
    let qr = if payable(session) {
        format!(
            "<aside class=\"card qr\"><img id=\"qr\" src=\"/_sandbox/pay/{id}/qr\" alt=\"QR code of this page\" \
             width=\"224\" height=\"224\"><p>Scan to open this page on a phone</p></aside>"
        )
    } else {
        String::new()
    };
    let actions = if payable(session) {
        let notice = if outcome.is_empty() { String::new() } else { format!("<p class=\"outcome\">{outcome}</p>\n") };
        format!(
            "{notice}<div class=\"actions\">\n\
             <form method=\"post\" action=\"/_sandbox/pay/{id}/complete\"><button id=\"pay\" class=\"primary\" type=\"submit\">Pay</button></form>\n\
             <form method=\"post\" action=\"/_sandbox/pay/{id}/cancel\"><button id=\"cancel\" class=\"secondary\" type=\"submit\">Cancel</button></form>\n\
             <form method=\"post\" action=\"/_sandbox/pay/{id}/fail\"><button id=\"fail\" class=\"secondary\" type=\"submit\">Have the purchase refused</button></form>\n\
             </div>"
        )
    } else {
        let outcome = if outcome.is_empty() { "This session has ended." } else { outcome };
        format!("<p id=\"outcome\" class=\"outcome\">{outcome} This session can no longer be paid.</p>")
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Pay: sandbox payment page</title>\n<style>{PAY_PAGE_STYLE}</style></head>\n\
         <body><div class=\"banner\">kustom-hpp sandbox: a test page that plays the consumer. No money moves; \
         paying or cancelling here changes the session and sends the merchant's callbacks.</div>\n\
         <main><section class=\"card pay\"><h1>Sandbox hosted payment page</h1>\n\
         <dl><dt>Status</dt><dd><span id=\"status\" class=\"status {tone}\">{status}</span></dd>\n\
         <dt>Session</dt><dd><code id=\"session\">{id}</code></dd></dl>\n{actions}\n</section>\n\
         {qr}</main>\n</body></html>\n"
    )
}

/// A merchant URL with the placeholders the service substitutes: `{{session_id}}`,
/// `{{order_id}}` and `{{authorization_token}}` (empty when the session has none yet).
pub(crate) fn substitute(url: &str, session: &Session) -> String {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    url.replace("{{session_id}}", &value(&session.session_id))
        .replace("{{order_id}}", &value(&session.order_id))
        .replace("{{authorization_token}}", &value(&session.authorization_token))
}

/// Everything the sandbox remembers.
pub(crate) struct State {
    pub(crate) config: SandboxConfig,
    pub(crate) base_url: String,
    sessions: HashMap<String, SessionRecord>,
    outbox: Vec<OutboxMessage>,
    emails_day: i64,
    emails_sent: u32,
    ids: crate::ids::IdSource,
    faults: VecDeque<Fault>,
    clock_offset_millis: i64,
    callbacks: Option<CallbackQueue>,
    callback_attempts: Arc<Mutex<Vec<CallbackAttempt>>>,
    /// The callback faults drawn now, shared with the deliverer.
    callback_chances: Arc<Mutex<crate::callbacks::FaultChances>>,
    pub(crate) limits: Limits,
    /// Bytes the live sessions hold, as [`record_bytes`] counts them.
    session_bytes: usize,
    /// Bytes the outbox holds, as [`message_bytes`] counts them.
    outbox_bytes: usize,
}

/// What a session record holds, counted against [`Limits::session_bytes`].
fn record_bytes(urls: &MerchantUrls) -> usize {
    let url = |u: &Option<String>| u.as_ref().map_or(0, String::len);
    SESSION_RECORD_BYTES
        + [&urls.success, &urls.cancel, &urls.back, &urls.failure, &urls.error, &urls.status_update]
            .into_iter()
            .map(url)
            .sum::<usize>()
}

/// What an outbox message holds, counted against [`Limits::outbox_bytes`].
fn message_bytes(message: &OutboxMessage) -> usize {
    OUTBOX_MESSAGE_BYTES + message.recipient.len() + message.link.len() + message.session_id.len()
}

/// An error answer to give: its status, `error_code` and message.
struct Refusal(StatusCode, ErrorCode, String);

impl Refusal {
    fn bad(status: StatusCode, code: ErrorCode, message: &str) -> Self {
        Self(status, code, message.to_owned())
    }

    /// 400 `CONSTRAINT_VIOLATION`.
    fn invalid(message: &str) -> Self {
        Self::bad(StatusCode::BAD_REQUEST, ErrorCode::ConstraintViolation, message)
    }
}

impl From<NotChanged> for Refusal {
    fn from(why: NotChanged) -> Self {
        match why {
            NotChanged::NotFound => Self::bad(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "HPP session has expired or could not be found by provided id.",
            ),
            NotChanged::CallbacksFull => Self::bad(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::from("UNKNOWN".to_owned()),
                "The sandbox's callback queue is full (listeners are slow or do not answer); nothing was changed. \
                 Try again later.",
            ),
        }
    }
}

/// Why a status change was refused.
pub(crate) enum NotChanged {
    /// No such live session.
    NotFound,
    /// The callback it would send does not fit in the queue.
    CallbacksFull,
}

/// A fault scripted for one of the next API requests (`POST /_sandbox/faults`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// Wait this long, then answer normally.
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Answer this status with an error body, doing nothing else.
    Status {
        /// The HTTP status.
        status: u16,
        /// `Retry-After` seconds to send.
        #[serde(default)]
        retry_after: Option<u64>,
        /// The `error_code` to send.
        #[serde(default)]
        error_code: Option<String>,
    },
    /// Close the connection without reading or doing anything.
    ResetBeforeRead,
    /// Do what the request asks, then close the connection without answering.
    ResetAfterRead,
    /// Do what the request asks, then answer with the JSON body cut in half.
    TruncatedBody,
    /// Answer `status` (200 unless given) with a body of this many bytes (at most 16 MiB),
    /// doing nothing else.
    OversizedBody {
        /// Body size.
        bytes: usize,
        /// The HTTP status.
        #[serde(default)]
        status: Option<u16>,
    },
    /// Answer 302 to `location`, doing nothing else.
    Redirect {
        /// Where to.
        location: String,
    },
}

impl Fault {
    /// Answer `status` with an error body, doing nothing else.
    ///
    /// ```
    /// let fault = hpp_sandbox::Fault::status(503);
    /// assert_eq!(fault, hpp_sandbox::Fault::Status { status: 503, retry_after: None, error_code: None });
    /// ```
    pub fn status(status: u16) -> Self {
        Self::Status { status, retry_after: None, error_code: None }
    }

    /// Answer `status` with `Retry-After: seconds` and an error body, doing nothing else.
    pub fn status_retry_after(status: u16, seconds: u64) -> Self {
        Self::Status { status, retry_after: Some(seconds), error_code: None }
    }

    /// Answer `status` with this `error_code`, doing nothing else.
    pub fn status_error_code(status: u16, error_code: impl Into<String>) -> Self {
        Self::Status { status, retry_after: None, error_code: Some(error_code.into()) }
    }
}

impl State {
    pub(crate) fn new(
        config: SandboxConfig,
        base_url: String,
        ids: crate::ids::IdSource,
        callbacks: Option<CallbackQueue>,
        callback_attempts: Arc<Mutex<Vec<CallbackAttempt>>>,
    ) -> Self {
        let callback_chances = Arc::new(Mutex::new(crate::callbacks::FaultChances::new(config.callback_faults)));
        Self {
            callback_chances,
            config,
            base_url,
            sessions: HashMap::new(),
            outbox: Vec::new(),
            emails_day: 0,
            emails_sent: 0,
            ids,
            faults: VecDeque::new(),
            clock_offset_millis: 0,
            callbacks,
            callback_attempts,
            limits: Limits::default(),
            session_bytes: 0,
            outbox_bytes: 0,
        }
    }

    /// This state, drawing callback faults from `chances` (the deliverer's).
    pub(crate) fn with_callback_chances(mut self, chances: Arc<Mutex<crate::callbacks::FaultChances>>) -> Self {
        self.callback_chances = chances;
        self
    }

    /// The sandbox's now: the system clock plus what tests advanced it by.
    pub(crate) fn now(&self) -> i64 {
        crate::clock::now_millis().saturating_add(self.clock_offset_millis)
    }

    /// The fault for the next API request, if one is scripted.
    pub(crate) fn next_fault(&mut self) -> Option<Fault> {
        self.faults.pop_front()
    }

    /// The answer of a [`Fault::Status`].
    pub(crate) fn fault_status(&mut self, status: u16, retry_after: Option<u64>, error_code: Option<String>) -> Answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let code = ErrorCode::from(error_code.unwrap_or_else(|| "UNKNOWN".to_owned()));
        let mut answer = self.error(status, code, "Injected fault: internal error. Please try again.");
        answer.retry_after = retry_after;
        answer
    }

    pub(crate) fn outbox(&self) -> &[OutboxMessage] {
        &self.outbox
    }

    fn error(&mut self, status: StatusCode, code: ErrorCode, message: &str) -> Answer {
        let mut body = ErrorBody::default();
        body.error_code = Some(code);
        body.error_messages = Some(vec![message.to_owned()]);
        body.correlation_id = Some(self.ids.uuid());
        body.service_version = Some(concat!("hpp-sandbox/", env!("CARGO_PKG_VERSION")).to_owned());
        Answer::json(status, body)
    }

    /// A `CONSTRAINT_VIOLATION` error answer with `status`, for requests refused before routing.
    pub(crate) fn refuse(&mut self, status: StatusCode, message: &str) -> Answer {
        self.error(status, ErrorCode::ConstraintViolation, message)
    }

    fn unauthorized() -> Answer {
        let body = serde_json::json!({
            "http_status_code": 401,
            "http_status_message": "Unauthorized",
            "internal_message": "authorization_error",
        });
        Answer { body: Some(body), www_authenticate: true, ..Answer::empty(StatusCode::UNAUTHORIZED) }
    }

    /// Answers one request. `authorized` is whether its credentials were right.
    pub(crate) fn handle(&mut self, method: &Method, path: &str, authorized: bool, body: &[u8]) -> Answer {
        self.handle_accepting(method, path, authorized, body, None)
    }

    /// [`handle`](Self::handle), with the request's `Accept` header (a QR code's format).
    pub(crate) fn handle_accepting(
        &mut self,
        method: &Method,
        path: &str,
        authorized: bool,
        body: &[u8],
        accept: Option<&str>,
    ) -> Answer {
        let now = self.now();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let ["_sandbox", rest @ ..] = segments.as_slice() {
            // The consumer's pay page is open; every control needs the sandbox's credentials.
            if !authorized && !matches!(rest, ["pay", ..]) {
                return Self::unauthorized();
            }
            return self.control(now, method, rest, body, accept);
        }
        // Routes match whole path segments: `/hpp/v1/sessionsX` or `/hpp/v1/sessions.json/…` is
        // no route, and neither is an empty segment (`/hpp/v1/sessions/`, a trailing slash).
        let sessions: Vec<&str> = SESSIONS_PATH.trim_start_matches('/').split('/').collect();
        let Some(parts) = segments.strip_prefix(sessions.as_slice()) else {
            return self.error(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such endpoint.");
        };
        let allow = match parts {
            [] => "POST",
            [id] if !id.is_empty() => "GET, DELETE",
            [id, "distribution"] if !id.is_empty() => "POST",
            _ => return self.error(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such endpoint."),
        };
        if !authorized {
            return Self::unauthorized();
        }
        match (method, parts) {
            (&Method::POST, []) => self.create(now, body),
            (&Method::GET, [id]) => self.read(now, id),
            (&Method::DELETE, [id]) => self.disable(now, id),
            (&Method::POST, [id, "distribution"]) => self.distribute(now, id, body),
            _ => Answer {
                allow: Some(allow),
                ..self.error(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::ConstraintViolation, "Method not allowed.")
            },
        }
    }

    fn live(&mut self, now: i64, id: &str) -> Option<&mut SessionRecord> {
        self.sessions.get_mut(id).filter(|r| r.expires_at_millis > now)
    }

    fn not_found(&mut self) -> Answer {
        self.refusal(NotChanged::NotFound.into())
    }

    fn create(&mut self, now: i64, body: &[u8]) -> Answer {
        let Ok(request) = serde_json::from_slice::<hpp_core::CreateSession>(body) else {
            return self.error(
                StatusCode::BAD_REQUEST,
                ErrorCode::ConstraintViolation,
                "Request body is not a valid session creation request.",
            );
        };
        if let Err(why) = crate::validate::creation(&request) {
            return self.error(StatusCode::BAD_REQUEST, ErrorCode::ConstraintViolation, &why);
        }
        let bytes = request.merchant_urls.as_ref().map_or(SESSION_RECORD_BYTES, record_bytes);
        let full = |s: &Self| {
            s.sessions.len() >= s.limits.sessions || s.session_bytes.saturating_add(bytes) > s.limits.session_bytes
        };
        if full(self) {
            self.sessions.retain(|_, record| record.expires_at_millis > now);
            self.session_bytes = self.sessions.values().map(|r| record_bytes(&r.merchant_urls)).sum();
            if full(self) {
                let message = format!(
                    "The sandbox holds {} live sessions ({} KiB); restart it.",
                    self.sessions.len(),
                    self.session_bytes / 1024
                );
                return self.error(StatusCode::TOO_MANY_REQUESTS, ErrorCode::ConstraintViolation, &message);
            }
        }
        let id = self.ids.uuid();
        let session_url = format!("{}{SESSIONS_PATH}/{id}", self.base_url);
        let pay = format!("{}/_sandbox/pay/{id}", self.base_url);
        let expires_at_millis = now.saturating_add(SESSION_LIFETIME_MILLIS);
        let mut created = SessionCreated::default();
        created.session_id = Some(id.clone());
        created.distribution_url = Some(format!("{session_url}/distribution"));
        created.session_url = Some(session_url.clone());
        created.qr_code_url = Some(format!("{pay}/qr"));
        created.manual_identification_check_url = Some(format!("{session_url}/manual-id-check"));
        let mut module = DistributionModule::default();
        module.token = Some(self.ids.uuid());
        module.standalone_url = Some(format!("{pay}/distribution-module"));
        module.generation_url = Some(format!("{session_url}/distribution-module/token"));
        created.distribution_module = Some(module);
        created.redirect_url = Some(pay);
        created.expires_at = Some(rfc3339(expires_at_millis));
        let mut session = Session::default();
        session.session_id = Some(id.clone());
        session.status = Some(SessionStatus::Waiting);
        session.updated_at = Some(rfc3339(now));
        session.expires_at = created.expires_at.clone();
        // The guides send lower-case values; the service (and so the sandbox) accepts them.
        let place_order_mode = request
            .options
            .and_then(|o| o.place_order_mode)
            .map(|m| PlaceOrderMode::from(m.as_str().to_ascii_uppercase()));
        let merchant_urls = request.merchant_urls.unwrap_or_default();
        let record =
            SessionRecord { session, created: created.clone(), merchant_urls, place_order_mode, expires_at_millis };
        self.sessions.insert(id, record);
        self.session_bytes += bytes;
        Answer::json(StatusCode::CREATED, created)
    }

    fn read(&mut self, now: i64, id: &str) -> Answer {
        match self.live(now, id) {
            Some(record) => Answer::json(StatusCode::OK, record.session.clone()),
            None => self.not_found(),
        }
    }

    fn disable(&mut self, now: i64, id: &str) -> Answer {
        let Some(record) = self.live(now, id) else { return self.not_found() };
        if record.session.status == Some(SessionStatus::Completed) {
            return self.error(
                StatusCode::BAD_REQUEST,
                ErrorCode::ConstraintViolation,
                "HPP session has already been successfully completed.",
            );
        }
        if !self.callback_room(id) {
            return self.refusal(NotChanged::CallbacksFull.into());
        }
        let Some(record) = self.live(now, id) else { return self.not_found() };
        record.session.status = Some(SessionStatus::Disabled);
        record.session.updated_at = Some(rfc3339(now));
        self.announce(id);
        Answer::empty(StatusCode::NO_CONTENT)
    }

    fn distribute(&mut self, now: i64, id: &str, body: &[u8]) -> Answer {
        match self.try_distribute(now, id, body) {
            Ok(()) => Answer::empty(StatusCode::CREATED),
            Err(Refusal(status, code, message)) => self.error(status, code, &message),
        }
    }

    /// A distribution, step by step as the service checks it: room in the outbox, the session,
    /// the request, the session's state, the recipient, the refusals a recipient can trigger,
    /// the daily e-mail quota; then the message "sent".
    fn try_distribute(&mut self, now: i64, id: &str, body: &[u8]) -> Result<(), Refusal> {
        self.check_outbox_room()?;
        let Some(record) = self.live(now, id) else {
            return Err(Refusal::bad(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "HPP session not found or access token not found.",
            ));
        };
        let (status, link) = (record.session.status.clone(), record.created.redirect_url.clone().unwrap_or_default());
        let request = serde_json::from_slice::<hpp_core::__private::DistributionRequest>(body)
            .map_err(|_| Refusal::invalid("Invalid request: the body is not a distribution request."))?;
        let method = match request.method {
            Some(m @ (DistributionMethod::Email | DistributionMethod::Sms | DistributionMethod::Token)) => m,
            Some(_) => return Err(Refusal::invalid("Invalid request: unknown method.")),
            None => return Err(Refusal::invalid("Invalid request: method must not be null.")),
        };
        match status {
            Some(SessionStatus::Disabled) => return Err(Refusal::invalid("HPP session was disabled by the merchant.")),
            Some(SessionStatus::Completed | SessionStatus::Cancelled) => {
                return Err(Refusal::invalid("HPP session is already finished."));
            }
            _ => {}
        }
        let recipient = self.recipient(method.clone(), request.contact_information.unwrap_or_default())?;
        if recipient.split('@').next() == Some(crate::UNKNOWN_ERROR_TRIGGER)
            || recipient == crate::UNKNOWN_ERROR_TRIGGER
        {
            return Err(Refusal::bad(StatusCode::BAD_REQUEST, ErrorCode::Unknown, "Undefined error."));
        }
        if self.config.blocked.iter().any(|b| b.eq_ignore_ascii_case(&recipient)) {
            return Err(Refusal::bad(StatusCode::BAD_REQUEST, ErrorCode::BlacklistRefused, "User blacklisted."));
        }
        if method == DistributionMethod::Email {
            self.charge_email_quota(now)?;
        }
        let message = OutboxMessage {
            sequence: self.outbox.len() as u64 + 1,
            session_id: id.to_owned(),
            method: method.as_str().to_owned(),
            recipient,
            link: format!("{link}?locale=en-GB"),
            sent_at: rfc3339(now),
        };
        self.outbox_bytes += message_bytes(&message);
        self.outbox.push(message);
        Ok(())
    }

    /// Refuses a distribution when the outbox could not take its largest message.
    fn check_outbox_room(&self) -> Result<(), Refusal> {
        // The largest message a distribution can add: the longest recipient, the link, the id.
        let largest = OUTBOX_MESSAGE_BYTES + 2 * MAX_ACCESS_ID_LEN + self.base_url.len() + 128;
        if self.outbox.len() >= self.limits.outbox
            || self.outbox_bytes.saturating_add(largest) > self.limits.outbox_bytes
        {
            let message = format!(
                "The sandbox's outbox holds {} messages ({} KiB); restart it.",
                self.outbox.len(),
                self.outbox_bytes / 1024
            );
            return Err(Refusal(StatusCode::TOO_MANY_REQUESTS, ErrorCode::ConstraintViolation, message));
        }
        Ok(())
    }

    /// The recipient of a distribution by `method`, checked as the service checks it.
    fn recipient(
        &self,
        method: DistributionMethod,
        contact: hpp_core::__private::ContactInformation,
    ) -> Result<String, Refusal> {
        let present = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let missing = |what: &str| Refusal::bad(StatusCode::BAD_REQUEST, ErrorCode::MissingContactData, what);
        match method {
            DistributionMethod::Email => {
                let email = present(contact.email).ok_or_else(|| missing("Incomplete email data."))?;
                // check_email refuses addresses over 254 bytes.
                if hpp_core::__private::check_email(&email).is_err() {
                    return Err(Refusal::invalid("Invalid request: email is not a valid address."));
                }
                Ok(email)
            }
            DistributionMethod::Sms => {
                let phone = present(contact.phone).ok_or_else(|| missing("Incomplete phone data."))?;
                if self.config.mode == SandboxMode::Playground {
                    return Err(Refusal::bad(
                        StatusCode::BAD_GATEWAY,
                        ErrorCode::BadGateway,
                        "Session distribution to a phone number not allowed in the playground environment.",
                    ));
                }
                let country = contact.phone_country.unwrap_or_default().to_ascii_uppercase();
                if !self.config.phone_countries.iter().any(|c| c.eq_ignore_ascii_case(&country)) {
                    return Err(Refusal::bad(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::UnsupportedCountry,
                        "Phone number of requested country invalid in current region.",
                    ));
                }
                if phone.len() > MAX_PHONE_LEN {
                    return Err(Refusal::invalid(&format!(
                        "Invalid request: phone is longer than {MAX_PHONE_LEN} characters."
                    )));
                }
                Ok(phone)
            }
            _ => {
                let access_id = present(contact.access_id)
                    .ok_or_else(|| missing("Incomplete token data: access_id is missing."))?;
                if access_id.len() > MAX_ACCESS_ID_LEN {
                    return Err(Refusal::invalid(&format!(
                        "Invalid request: access_id is longer than {MAX_ACCESS_ID_LEN} characters."
                    )));
                }
                Ok(access_id)
            }
        }
    }

    /// Counts one e-mail against the day's quota, or refuses it when the quota is used up.
    fn charge_email_quota(&mut self, now: i64) -> Result<(), Refusal> {
        let day = now.div_euclid(86_400_000);
        if day != self.emails_day {
            self.emails_day = day;
            self.emails_sent = 0;
        }
        if self.emails_sent >= self.config.email_limit {
            return Err(Refusal::bad(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::EmailLimitExceeded,
                "Email limit exceeded for testing environment.",
            ));
        }
        self.emails_sent += 1;
        Ok(())
    }

    /// `/_sandbox/...`: the sandbox's own controls (with the sandbox's credentials, but for the
    /// consumer's pay page).
    fn control(&mut self, now: i64, method: &Method, rest: &[&str], body: &[u8], accept: Option<&str>) -> Answer {
        let answer = match (method, rest) {
            (&Method::GET, ["outbox"]) => {
                Ok(Answer::json(StatusCode::OK, serde_json::json!({ "messages": self.outbox })))
            }
            (&Method::GET, ["callbacks"]) => {
                let attempts = self.callback_attempts.lock().unwrap_or_else(|p| p.into_inner()).clone();
                Ok(Answer::json(StatusCode::OK, serde_json::json!({ "attempts": attempts })))
            }
            (&Method::POST, ["faults"]) => self.add_faults_from(body),
            (&Method::GET, ["faults"]) => {
                Ok(Answer::json(StatusCode::OK, serde_json::json!({ "pending": self.faults })))
            }
            (&Method::DELETE, ["faults"]) => {
                self.faults.clear();
                Ok(Answer::empty(StatusCode::NO_CONTENT))
            }
            (&Method::GET, ["callback-faults"]) => Ok(self.callback_faults_answer()),
            (&Method::PUT, ["callback-faults"]) => self.set_callback_faults_from(body),
            (&Method::POST, ["clock"]) => self.advance_clock_from(body),
            (&Method::GET, ["clock"]) => {
                Ok(Answer::json(StatusCode::OK, serde_json::json!({ "now": rfc3339(self.now()) })))
            }
            (&Method::POST, ["sessions", id, "status"]) => self.set_status_from(id, body),
            // The distribution module's standalone page is the pay page here too.
            (&Method::GET, ["pay", id] | ["pay", id, "distribution-module"]) => match self.live(now, id) {
                Some(record) => Ok(Answer::html(pay_page(&record.session))),
                None => Err(NotChanged::NotFound.into()),
            },
            (&Method::POST, ["pay", id, action @ ("complete" | "cancel" | "fail")]) => self.press(now, id, action),
            (&Method::GET, ["pay", id, qr @ ("qr" | "qr.svg" | "qr.png")]) => self.qr_code(now, id, qr, accept),
            _ => Err(Refusal::bad(StatusCode::NOT_FOUND, ErrorCode::NotFound, "No such sandbox control.")),
        };
        answer.unwrap_or_else(|refusal| self.refusal(refusal))
    }

    /// The answer for `refusal` (a `retry_after` of 1 s with a 503: the callback queue is full).
    fn refusal(&mut self, Refusal(status, code, message): Refusal) -> Answer {
        let mut answer = self.error(status, code, &message);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            answer.retry_after = Some(1);
        }
        answer
    }

    /// `POST /_sandbox/faults`: `{"faults": [...]}` scripted for the next API requests.
    fn add_faults_from(&mut self, body: &[u8]) -> Result<Answer, Refusal> {
        #[derive(Deserialize)]
        struct Faults {
            faults: Vec<Fault>,
        }
        let added = serde_json::from_slice::<Faults>(body)
            .map_err(|e| Refusal::invalid(&format!("Expected {{\"faults\": [...]}}: {e}")))?;
        if self.faults.len() + added.faults.len() > MAX_PENDING_FAULTS {
            let message = format!("At most {MAX_PENDING_FAULTS} faults can be pending.");
            return Err(Refusal(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::ConstraintViolation, message));
        }
        self.faults.extend(added.faults);
        Ok(Answer::json(StatusCode::OK, serde_json::json!({ "pending": self.faults.len() })))
    }

    /// `GET /_sandbox/callback-faults`: the callback faults drawn now.
    fn callback_faults_answer(&self) -> Answer {
        let faults = self.callback_chances.lock().unwrap_or_else(|p| p.into_inner()).get();
        Answer::json(
            StatusCode::OK,
            serde_json::json!({
                "drop": faults.drop,
                "duplicate": faults.duplicate,
                "delay": faults.delay,
                "delay_by_secs": faults.delay_by.as_secs_f64(),
                "seed": faults.seed,
            }),
        )
    }

    /// `PUT /_sandbox/callback-faults`: `{"drop": 0.1, "duplicate": 0, "delay": 0,
    /// "delay_by_secs": 5, "seed": 1}`, each field optional (the current value stays); the
    /// generator restarts from the seed. Answers the faults now in force.
    fn set_callback_faults_from(&mut self, body: &[u8]) -> Result<Answer, Refusal> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Change {
            drop: Option<f64>,
            duplicate: Option<f64>,
            delay: Option<f64>,
            delay_by_secs: Option<f64>,
            seed: Option<u64>,
        }
        let expected = "Expected {\"drop\", \"duplicate\", \"delay\" (chances), \"delay_by_secs\", \"seed\"}";
        let change =
            serde_json::from_slice::<Change>(body).map_err(|e| Refusal::invalid(&format!("{expected}: {e}")))?;
        let mut faults = self.callback_chances.lock().unwrap_or_else(|p| p.into_inner()).get();
        faults.drop = change.drop.unwrap_or(faults.drop);
        faults.duplicate = change.duplicate.unwrap_or(faults.duplicate);
        faults.delay = change.delay.unwrap_or(faults.delay);
        faults.seed = change.seed.unwrap_or(faults.seed);
        if let Some(secs) = change.delay_by_secs {
            faults.delay_by = std::time::Duration::try_from_secs_f64(secs)
                .map_err(|_| Refusal::invalid("delay_by_secs is a number of seconds from 0 to 3600"))?;
        }
        faults.check().map_err(Refusal::invalid)?;
        self.callback_chances.lock().unwrap_or_else(|p| p.into_inner()).set(faults);
        Ok(self.callback_faults_answer())
    }

    /// `POST /_sandbox/clock`: `{"advance_secs": N}`.
    fn advance_clock_from(&mut self, body: &[u8]) -> Result<Answer, Refusal> {
        #[derive(Deserialize)]
        struct Advance {
            advance_secs: i64,
        }
        let advance =
            serde_json::from_slice::<Advance>(body).map_err(|_| Refusal::invalid("Expected {\"advance_secs\": N}."))?;
        self.advance_clock(advance.advance_secs);
        Ok(Answer::json(StatusCode::OK, serde_json::json!({ "now": rfc3339(self.now()) })))
    }

    /// `POST /_sandbox/sessions/{id}/status`: `{"status": "COMPLETED"}` or any status.
    fn set_status_from(&mut self, id: &str, body: &[u8]) -> Result<Answer, Refusal> {
        #[derive(Deserialize)]
        struct StatusChange {
            status: SessionStatus,
        }
        let change = serde_json::from_slice::<StatusChange>(body)
            .map_err(|_| Refusal::invalid("Expected {\"status\": \"COMPLETED\"} or another status."))?;
        Ok(Answer::json(StatusCode::OK, self.set_status(id, change.status)?))
    }

    /// A button of the pay page pressed (`POST /_sandbox/pay/{id}/complete|cancel|fail`, open to
    /// anyone with the link): the status changed as the consumer's action would, and the browser
    /// sent back to the merchant's page for the outcome (or to this page). A session that can no
    /// longer be paid is not changed: 409 with the page.
    fn press(&mut self, now: i64, id: &str, action: &str) -> Result<Answer, Refusal> {
        let record = self.live(now, id).ok_or(NotChanged::NotFound)?;
        if !payable(&record.session) {
            return Ok(Answer { status: StatusCode::CONFLICT, ..Answer::html(pay_page(&record.session)) });
        }
        let urls = record.merchant_urls.clone();
        let (status, url) = match action {
            "complete" => (SessionStatus::Completed, urls.success),
            "cancel" => (SessionStatus::Cancelled, urls.cancel),
            _ => (SessionStatus::Failed, urls.failure),
        };
        let session = self.set_status(id, status)?;
        let back = format!("{}/_sandbox/pay/{id}", self.base_url);
        Ok(Answer::see_other(url.map_or(back, |url| substitute(&url, &session))))
    }

    /// `GET /_sandbox/pay/{id}/qr[.svg|.png]`: the session's QR code, SVG unless PNG is asked for.
    fn qr_code(&mut self, now: i64, id: &str, path: &str, accept: Option<&str>) -> Result<Answer, Refusal> {
        let link = self.live(now, id).and_then(|r| r.created.redirect_url.clone()).ok_or(NotChanged::NotFound)?;
        let format = crate::qr::Format::chosen(path.strip_prefix("qr."), accept).ok_or(NotChanged::NotFound)?;
        let bytes = crate::qr::image(&link, format)
            .map_err(|why| Refusal(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::from("UNKNOWN".to_owned()), why))?;
        Ok(Answer { image: Some((format.content_type(), bytes)), ..Answer::empty(StatusCode::OK) })
    }

    /// Moves the sandbox's clock forward (or back) by `secs` seconds, to at most 100 years
    /// either way in all, so that time arithmetic never overflows.
    pub(crate) fn advance_clock(&mut self, secs: i64) {
        let offset = self.clock_offset_millis.saturating_add(secs.saturating_mul(1000));
        self.clock_offset_millis = offset.clamp(-MAX_CLOCK_OFFSET_MILLIS, MAX_CLOCK_OFFSET_MILLIS);
    }

    /// Adds faults for the next API requests (beyond [`MAX_PENDING_FAULTS`], the rest are dropped).
    pub(crate) fn add_faults(&mut self, faults: impl IntoIterator<Item = Fault>) {
        let room = MAX_PENDING_FAULTS.saturating_sub(self.faults.len());
        self.faults.extend(faults.into_iter().take(room));
    }

    /// Whether the callback a status change of `id` would send fits in the queue (true when it
    /// sends none).
    fn callback_room(&self, id: &str) -> bool {
        let (Some(queue), Some(record)) = (&self.callbacks, self.sessions.get(id)) else { return true };
        let Some(url) = &record.merchant_urls.status_update else { return true };
        // The job: the URL (placeholders filled by ids and tokens of at most 36 bytes each), the
        // session as JSON (a fixed shape, customer included), the ids.
        queue.has_room(url.len() + 3 * 36 + 2 * SESSION_RECORD_BYTES)
    }

    /// Plays the consumer (or the service): sets a session's status as the real flow would.
    pub(crate) fn set_status(&mut self, id: &str, status: SessionStatus) -> Result<Session, NotChanged> {
        let now = self.now();
        if self.live(now, id).is_none() {
            return Err(NotChanged::NotFound);
        }
        if !self.callback_room(id) {
            return Err(NotChanged::CallbacksFull);
        }
        let order_id = self.ids.uuid();
        let token = self.ids.uuid();
        let challenge = format!("A{}", &self.ids.uuid()[..2].to_ascii_uppercase());
        let record = self.live(now, id).ok_or(NotChanged::NotFound)?;
        if status == SessionStatus::Completed {
            match record.place_order_mode {
                Some(PlaceOrderMode::PlaceOrder | PlaceOrderMode::CaptureOrder) => {
                    record.session.order_id = Some(order_id);
                    record.session.klarna_reference = Some(token[..8].to_ascii_uppercase());
                }
                _ => record.session.authorization_token = Some(token),
            }
            record.session.customer = Some(sample_customer());
        }
        // The identification the merchant's staff checks while the status is MANUAL_ID_CHECK.
        record.session.manual_identification = (status == SessionStatus::ManualIdCheck).then(|| {
            let mut check = ManualIdentification::default();
            check.challenge = Some(challenge);
            check.customer = Some(sample_customer());
            let mut obfuscated = Customer::default();
            obfuscated.given_name = Some("J***".to_owned());
            obfuscated.family_name = Some("D**".to_owned());
            obfuscated.date_of_birth = Some("1987-**-**".to_owned());
            check.customer_obfuscated = Some(obfuscated);
            check.expires_at = Some(rfc3339(now.saturating_add(MANUAL_ID_CHECK_MILLIS)));
            check
        });
        record.session.status = Some(status);
        record.session.updated_at = Some(rfc3339(now));
        let session = record.session.clone();
        self.announce(id);
        Ok(session)
    }

    /// Queues the `status_update` callback for `id`'s current status, if it has that URL.
    fn announce(&mut self, id: &str) {
        let event_id = self.ids.uuid();
        let (Some(record), Some(queue)) = (self.sessions.get(id), &self.callbacks) else { return };
        let Some(url) = &record.merchant_urls.status_update else { return };
        let mut callback = StatusCallback::default();
        callback.event_id = event_id.clone();
        callback.session = record.session.clone();
        let job = CallbackJob::new(
            substitute(url, &record.session),
            event_id,
            id.to_owned(),
            record.session.status.as_ref().map(ToString::to_string).unwrap_or_default(),
            // invariant: the sandbox's own types always serialize.
            serde_json::to_vec(&callback).expect("serializable"),
        );
        queue.push(job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    /// A state whose callback jobs stay queued (nobody delivers them) until `jobs` is read.
    fn state(max_jobs: usize, max_bytes: usize) -> (State, mpsc::UnboundedReceiver<CallbackJob>) {
        let (sender, jobs) = mpsc::unbounded_channel();
        let queue = CallbackQueue::new(sender, max_jobs, max_bytes);
        let state = State::new(
            SandboxConfig::default(),
            "http://127.0.0.1:1".into(),
            crate::ids::IdSource::new(),
            Some(queue),
            Arc::default(),
        );
        (state, jobs)
    }

    fn create(state: &mut State, status_update: &str) -> Answer {
        let body = serde_json::json!({
            "payment_session_url": "https://x.example/o",
            "merchant_urls": { "status_update": status_update },
        });
        state.handle(&Method::POST, SESSIONS_PATH, true, body.to_string().as_bytes())
    }

    fn created_id(answer: &Answer) -> String {
        assert_eq!(answer.status, StatusCode::CREATED);
        answer.body.as_ref().unwrap()["session_id"].as_str().unwrap().to_owned()
    }

    /// The open pay endpoint cannot grow the callback queue past its bound: a status change that
    /// would pass it is refused (503, nothing changed) until callbacks have gone out.
    #[test]
    fn a_flood_of_status_changes_stops_at_the_callback_queue_bound() {
        for (max_jobs, max_bytes) in [(3, usize::MAX), (usize::MAX, 3 * 6_000)] {
            let (mut state, mut jobs) = state(max_jobs, max_bytes);
            let id = created_id(&create(&mut state, &format!("https://shop.example/cb?x={}", "a".repeat(1_000))));
            let fail = format!("/_sandbox/pay/{id}/fail");
            let mut accepted = 0;
            let answer = loop {
                let answer = state.handle(&Method::POST, &fail, false, b"");
                if answer.status != StatusCode::SEE_OTHER {
                    break answer;
                }
                accepted += 1;
                assert!(accepted <= 100, "no bound ({max_jobs} jobs, {max_bytes} bytes)");
            };
            assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(answer.retry_after, Some(1));
            let queued: Vec<CallbackJob> = std::iter::from_fn(|| jobs.try_recv().ok()).collect();
            assert_eq!(queued.len(), accepted, "a refused change queued nothing");
            assert!(accepted >= 2 && accepted <= max_jobs, "{accepted}");
            assert!(queued.iter().map(CallbackJob::bytes).sum::<usize>() <= max_bytes);
            drop(queued);
            // The jobs read and dropped (delivered): room again.
            assert_eq!(state.handle(&Method::POST, &fail, false, b"").status, StatusCode::SEE_OTHER);
        }
    }

    /// Sessions are bounded in bytes as in count, and URLs in length.
    #[test]
    fn sessions_are_bounded_in_bytes_and_urls_in_length() {
        let (mut state, _jobs) = state(usize::MAX, usize::MAX);
        let long = format!("https://shop.example/cb?x={}", "a".repeat(hpp_core::__private::MAX_URL_LEN));
        let answer = create(&mut state, &long);
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        let message = answer.body.unwrap()["error_messages"][0].as_str().unwrap().to_owned();
        assert!(message.starts_with("merchant_urls.status_update: longer than 2048 bytes"), "{message}");

        let url = format!("https://shop.example/cb?x={}", "a".repeat(1_900));
        state.limits.session_bytes = 10 * (SESSION_RECORD_BYTES + url.len());
        let answers: Vec<Answer> = (0..12).map(|_| create(&mut state, &url)).collect();
        let created = answers.iter().filter(|a| a.status == StatusCode::CREATED).count();
        assert_eq!(created, 10);
        assert_eq!(answers[11].status, StatusCode::TOO_MANY_REQUESTS);
        assert!(state.session_bytes <= state.limits.session_bytes);
        // Expired sessions give their bytes back.
        state.advance_clock(48 * 3600);
        assert_eq!(create(&mut state, &url).status, StatusCode::CREATED);
        assert_eq!(state.sessions.len(), 1);
    }

    /// The outbox is bounded in bytes as in count, and recipients in length.
    #[test]
    fn the_outbox_is_bounded_in_bytes_and_recipients_in_length() {
        let (mut state, _jobs) = state(usize::MAX, usize::MAX);
        let id = created_id(&create(&mut state, "https://shop.example/cb"));
        let path = format!("{SESSIONS_PATH}/{id}/distribution");
        let token = |access_id: &str| {
            serde_json::json!({ "method": "token", "contact_information": { "access_id": access_id } }).to_string()
        };
        let answer = state.handle(&Method::POST, &path, true, token(&"x".repeat(MAX_ACCESS_ID_LEN + 1)).as_bytes());
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(state.outbox.is_empty());
        state.limits.outbox_bytes = 4_000;
        let statuses: Vec<StatusCode> = (0..20)
            .map(|_| state.handle(&Method::POST, &path, true, token(&"x".repeat(MAX_ACCESS_ID_LEN)).as_bytes()).status)
            .collect();
        assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
        assert!(state.outbox_bytes <= state.limits.outbox_bytes, "{}", state.outbox_bytes);
        assert_eq!(state.outbox_bytes, state.outbox.iter().map(message_bytes).sum::<usize>());
    }
}
