//! [`CallbackReceiver`]: the endpoint Kustom POSTs `status_update` callbacks to.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hpp_core::Timer;
use hpp_core::callback::{self, CallbackSecret};
use hpp_core::tracking::{Applied, HandOff, StoreError, TrackingStore};
use http::{Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};

/// The answer's body: a short JSON document naming the [`Receipt`].
pub type ReceiptBody = Full<Bytes>;

/// How a [`CallbackReceiver`] answers. Build with [`Default`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceiverOptions {
    /// The most time a callback may take, store and app included (default 2.5 s, under the
    /// service's 3 s timeout). Past it the step is abandoned and the answer is 503.
    pub budget: Duration,
    /// The largest body accepted, in bytes (default 64 KiB; a callback is well under 2).
    pub max_body: usize,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self { budget: Duration::from_millis(2500), max_body: 64 * 1024 }
    }
}

/// What became of one callback: the answer's status follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Receipt {
    /// Applied and committed (200); the app's work too, when the session became final.
    Applied,
    /// Recorded and its session made due, to be applied by the session's next step (200): a
    /// store that records callbacks ([`TrackingStore::receive`]).
    Received,
    /// Applied before (200): nothing done again.
    Duplicate,
    /// For a session the store does not track (200): nothing done, no app code run. A forged
    /// callback, or one for another app's session, costs nothing.
    Untracked,
    /// The secret was missing or wrong (401): nothing read.
    Unauthorized,
    /// The body was over the limit (413).
    TooLarge,
    /// Not a status callback, or one without a session id (400).
    Malformed,
    /// A step of the same session is under way, or the store failed (503): retry.
    Unavailable,
    /// The app's hand-off failed (500): the final status is kept and handed off again.
    HandOffFailed,
    /// The budget passed (503): the step was abandoned, nothing of it committed.
    TimedOut,
}

impl Receipt {
    /// The HTTP status answered.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Applied | Self::Received | Self::Duplicate | Self::Untracked => StatusCode::OK,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::Unavailable | Self::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
            Self::HandOffFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short name, for logs and the answer's body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Received => "received",
            Self::Duplicate => "duplicate",
            Self::Untracked => "untracked",
            Self::Unauthorized => "unauthorized",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::Unavailable => "unavailable",
            Self::HandOffFailed => "hand_off_failed",
            Self::TimedOut => "timed_out",
        }
    }
}

/// The callback endpoint over a [`TrackingStore`] and the app's [`HandOff`]. Cheap to clone.
pub struct CallbackReceiver<S, H, C = hpp_runtime::TokioTimer> {
    inner: Arc<Inner<S, H, C>>,
}

struct Inner<S, H, C> {
    store: Arc<S>,
    hand_off: Arc<H>,
    secret: CallbackSecret,
    clock: C,
    options: ReceiverOptions,
}

impl<S, H, C> Clone for CallbackReceiver<S, H, C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<S, H, C> fmt::Debug for CallbackReceiver<S, H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackReceiver")
            .field("secret", &self.inner.secret)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl<S, H, C> CallbackReceiver<S, H, C>
where
    S: TrackingStore + 'static,
    H: HandOff<S> + 'static,
    C: Timer + 'static,
{
    /// A receiver checking `secret`, reading the time from `clock`, with default options.
    pub fn new(store: Arc<S>, hand_off: Arc<H>, secret: CallbackSecret, clock: C) -> Self {
        Self::with_options(store, hand_off, secret, clock, ReceiverOptions::default())
    }

    /// A receiver with `options`.
    pub fn with_options(
        store: Arc<S>,
        hand_off: Arc<H>,
        secret: CallbackSecret,
        clock: C,
        options: ReceiverOptions,
    ) -> Self {
        Self { inner: Arc::new(Inner { store, hand_off, secret, clock, options }) }
    }

    /// An axum router answering `POST path` (other methods: 405).
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn router<St: Clone + Send + Sync + 'static>(self, path: &str) -> axum::Router<St> {
        axum::Router::new().route_service(path, axum::routing::post_service(self))
    }

    /// Handles one callback request, whatever its body type (hyper's `Incoming`, axum's
    /// `Body`, `Full<Bytes>`): what the router and the service do. The method is the router's
    /// business (`router` answers 405 to anything but `POST`).
    pub async fn receive<B>(&self, request: Request<B>) -> Response<ReceiptBody>
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let receipt = self.receipt(request).await;
        let mut response = Response::new(Full::new(Bytes::from(format!(r#"{{"result":"{}"}}"#, receipt.as_str()))));
        *response.status_mut() = receipt.status();
        response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if receipt.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, http::HeaderValue::from_static("3"));
        }
        response
    }

    async fn receipt<B>(&self, request: Request<B>) -> Receipt
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = self.inner.clock.now();
        let receipt = self.answer(request).await;
        crate::report::callback_answered(receipt.as_str(), self.inner.clock.now().saturating_sub(started));
        receipt
    }

    /// The receipt for `request` (see [`receipt`](Self::receipt), which reports it).
    async fn answer<B>(&self, request: Request<B>) -> Receipt
    where
        B: Body + Send,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let inner = &self.inner;
        let uri = request.uri().path_and_query().map_or("", |pq| pq.as_str());
        // The secret, or a URL signed for one order (CallbackSecret::append_for_order).
        let order_scope = if inner.secret.verify_uri(uri) {
            None
        } else if let Some(order) = inner.secret.order_of_uri(uri) {
            Some(order)
        } else {
            tracing::warn!("hpp callback refused: wrong or missing secret");
            return Receipt::Unauthorized;
        };
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > inner.options.max_body as u64) {
            return Receipt::TooLarge;
        }
        let work = async {
            let Ok(body) = Limited::new(request.into_body(), inner.options.max_body).collect().await else {
                return Receipt::TooLarge;
            };
            let body = body.to_bytes();
            let callback = match callback::StatusCallback::parse(&body) {
                Ok(callback) => callback,
                Err(e) => {
                    // The parse error is scrubbed of contact data (StatusCallback::parse).
                    tracing::warn!(error = %e, "hpp callback refused");
                    return Receipt::Malformed;
                }
            };
            let Some(session_id) = callback.session.session_id.as_deref() else {
                tracing::warn!("hpp callback refused: no session id");
                return Receipt::Malformed;
            };
            if let Some(order) = &order_scope {
                // A URL signed for one order speaks for that order's sessions only.
                match Box::pin(inner.store.get(session_id)).await {
                    Ok(Some(state)) if state.order_key() == Some(order.as_str()) => {}
                    Ok(_) => {
                        tracing::warn!("hpp callback refused: its session is not of the order its URL is signed for");
                        return Receipt::Unauthorized;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "hpp callback not applied");
                        return Receipt::Unavailable;
                    }
                }
            }
            let now = inner.clock.system_now();
            // The store's futures are boxed: inline, their size (kilobytes, a database client's)
            // would be this future's, copied as each layer above sets it up.
            let applied = Box::pin(inner.store.receive(&callback, now, &*inner.hand_off)).await;
            let receipt = match &applied {
                Ok(Applied::Done { .. }) => Receipt::Applied,
                Ok(Applied::Received) => Receipt::Received,
                Ok(Applied::Duplicate) => Receipt::Duplicate,
                Ok(Applied::Unknown) => Receipt::Untracked,
                Ok(_) => Receipt::Unavailable,
                Err(StoreError::HandOff(_)) => Receipt::HandOffFailed,
                Err(_) => Receipt::Unavailable,
            };
            // Logged: what happened, never ids, bodies or the app's error text (the app logs its
            // own); a store failure's PostgreSQL message names no value.
            match &applied {
                Ok(applied) => {
                    if let Applied::Done { handed_off: Some(status) } = applied {
                        crate::report::handed_off("callback", *status);
                    }
                    tracing::info!(outcome = receipt.as_str(), "hpp callback");
                }
                Err(StoreError::HandOff(e)) => {
                    tracing::info!(outcome = receipt.as_str(), "hpp callback");
                    Box::pin(crate::report::hand_off_failed(&*inner.store, session_id, &**e, "callback")).await;
                }
                Err(e) => tracing::warn!(outcome = receipt.as_str(), error = %e, "hpp callback not applied"),
            }
            receipt
        };
        // The budget on the receiver's own timer. A panic in the app's code is a failed
        // hand-off (500): the step is dropped, so nothing of it commits.
        let work = async {
            hpp_runtime::caught(work).await.unwrap_or_else(|hpp_runtime::Panicked| {
                tracing::error!("hpp callback: the app's code panicked; answered 500, the service retries");
                Receipt::HandOffFailed
            })
        };
        crate::contain::within(&inner.clock, inner.options.budget, work).await.unwrap_or_else(|| {
            tracing::warn!(budget = ?inner.options.budget, "hpp callback abandoned: over budget");
            Receipt::TimedOut
        })
    }
}

/// A `status_update` request as the service sends it: `POST uri` (path and query, the secret
/// included) with `callback` as its JSON body. For testing a receiver in a few lines, with the
/// router as a tower `Service` (`router.call(callback_request(..))`), or with the bodies the
/// sandbox sent (`Sandbox::callback_bodies`) re-delivered, duplicated or reordered.
pub fn callback_request(uri: &str, callback: &callback::StatusCallback) -> Request<Full<Bytes>> {
    // invariant: a `StatusCallback` always serializes (strings and open enums only).
    let body = serde_json::to_vec(callback).expect("a callback serializes");
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = http::Method::POST;
    match uri.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        // An unusable URI stays `/`: no route, or no secret, so nothing acts on it.
        Err(_) => tracing::warn!("callback_request: not a URI"),
    }
    request.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    request
}

impl<S, H, C, B> tower_service::Service<Request<B>> for CallbackReceiver<S, H, C>
where
    S: TrackingStore + 'static,
    H: HandOff<S> + 'static,
    C: Timer + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ReceiptBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ReceiptBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let receiver = self.clone();
        Box::pin(async move { Ok(receiver.receive(request).await) })
    }
}
