//! [`CallbackReceiver`]: the endpoint Kustom POSTs `status_update` callbacks to, for axum (a
//! [`Router`](CallbackReceiver::router)) and any tower-based server (it is a
//! [`tower_service::Service`]).
//!
//! For each request, in this order: the secret in the URL checked in constant time (401), the
//! body bounded (413), parsed (400), and applied to a [`TrackingStore`] with the app's
//! [`HandOff`]: the store records the event once and, when the session became final, runs the
//! app's work in its own unit of work. The answer is 2xx only once that committed (or the event
//! was already applied); 5xx otherwise, so the service retries. Everything happens within a
//! budget under the service's 3 s timeout (2.5 s by default): past it the step is abandoned
//! (nothing of it commits) and the answer is 503.
//!
//! ```
//! use std::sync::Arc;
//! use hpp_axum::{CallbackReceiver, callback_request};
//! use hpp_core::callback::{CallbackSecret, StatusCallback};
//! use hpp_core::tracking::{Finished, HandOff, MemoryStore};
//! use tower_service::Service;
//!
//! struct Ship;
//! impl HandOff<MemoryStore> for Ship {
//!     async fn hand_off(&self, _tx: &(), finished: &Finished) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!         println!("{} is {}: ship it", finished.session_id, finished.status);
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! // In production: a secret from your vault, and hpp_postgres::PgStore.
//! let secret = CallbackSecret::new("7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11")?;
//! let store = Arc::new(MemoryStore::default());
//! let receiver = CallbackReceiver::new(store, Arc::new(Ship), secret, hpp_runtime::TokioTimer::new());
//! // Registered as merchant_urls.status_update: https://shop.example/hpp/callback?secret=…
//! let mut app: axum::Router = receiver.router("/hpp/callback");
//!
//! // What the service sends, twice (a retry): shipped once, both answered 200.
//! let paid = StatusCallback::parse(br#"{"event_id":"e1","session":{"session_id":"s1","status":"COMPLETED"}}"#)?;
//! for _ in 0..2 {
//!     let request = callback_request("/hpp/callback?secret=7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11", &paid);
//!     assert_eq!(app.call(request).await?.status(), 200);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hpp_core::Timer;
use hpp_core::callback::{self, CallbackSecret};
use hpp_core::tracking::{Applied, HandOff, Input, StoreError, TrackingStore};
use http::{Request, Response, StatusCode, header};

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
    /// Applied before (200): nothing done again.
    Duplicate,
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
            Self::Applied | Self::Duplicate => StatusCode::OK,
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
            Self::Duplicate => "duplicate",
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
    pub fn router<St: Clone + Send + Sync + 'static>(self, path: &str) -> axum::Router<St> {
        axum::Router::new().route_service(path, axum::routing::post_service(self))
    }

    /// Handles one callback request: what the router and the service do.
    pub async fn receive(&self, request: Request<Body>) -> Response<Body> {
        let receipt = self.receipt(request).await;
        let mut response = Response::new(Body::from(format!(r#"{{"result":"{}"}}"#, receipt.as_str())));
        *response.status_mut() = receipt.status();
        response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if receipt.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, http::HeaderValue::from_static("3"));
        }
        response
    }

    async fn receipt(&self, request: Request<Body>) -> Receipt {
        let inner = &self.inner;
        let uri = request.uri().path_and_query().map_or("", |pq| pq.as_str());
        if !inner.secret.verify_uri(uri) {
            tracing::warn!("hpp callback refused: wrong or missing secret");
            return Receipt::Unauthorized;
        }
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > inner.options.max_body as u64) {
            return Receipt::TooLarge;
        }
        let work = async {
            let Ok(body) = axum::body::to_bytes(request.into_body(), inner.options.max_body).await else {
                return Receipt::TooLarge;
            };
            let callback = match callback::StatusCallback::parse(&body) {
                Ok(callback) => callback,
                Err(e) => {
                    // The parse error is scrubbed of contact data (StatusCallback::parse).
                    tracing::warn!(error = %e, "hpp callback refused");
                    return Receipt::Malformed;
                }
            };
            let now = inner.clock.system_now();
            let applied = inner.store.apply(Input::Callback(&callback), now, &*inner.hand_off).await;
            let receipt = match &applied {
                Ok(Applied::Done { .. }) => Receipt::Applied,
                Ok(Applied::Duplicate) => Receipt::Duplicate,
                Ok(Applied::Unknown) => Receipt::Malformed,
                Ok(_) => Receipt::Unavailable,
                Err(StoreError::HandOff(_)) => Receipt::HandOffFailed,
                Err(_) => Receipt::Unavailable,
            };
            // Logged: what happened, never ids, bodies or the app's error text (the app logs its
            // own); a store failure's PostgreSQL message names no value.
            match &applied {
                Ok(_) | Err(StoreError::HandOff(_)) => tracing::info!(outcome = receipt.as_str(), "hpp callback"),
                Err(e) => tracing::warn!(outcome = receipt.as_str(), error = %e, "hpp callback not applied"),
            }
            receipt
        };
        tokio::time::timeout(inner.options.budget, work).await.unwrap_or_else(|_| {
            tracing::warn!(budget = ?inner.options.budget, "hpp callback abandoned: over budget");
            Receipt::TimedOut
        })
    }
}

/// A `status_update` request as the service sends it: `POST uri` (path and query, the secret
/// included) with `callback` as its JSON body. For testing a receiver in a few lines, with the
/// router as a tower `Service` (`router.call(callback_request(..))`), or with the bodies the
/// sandbox sent (`Sandbox::callback_bodies`) re-delivered, duplicated or reordered.
pub fn callback_request(uri: &str, callback: &callback::StatusCallback) -> Request<Body> {
    // invariant: a `StatusCallback` always serializes (strings and open enums only).
    let body = serde_json::to_vec(callback).expect("a callback serializes");
    let mut request = Request::new(Body::from(body));
    *request.method_mut() = http::Method::POST;
    match uri.parse() {
        Ok(uri) => *request.uri_mut() = uri,
        // An unusable URI stays `/`: no route, or no secret, so nothing acts on it.
        Err(_) => tracing::warn!("callback_request: not a URI"),
    }
    request.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    request
}

impl<S, H, C> tower_service::Service<Request<Body>> for CallbackReceiver<S, H, C>
where
    S: TrackingStore + 'static,
    H: HandOff<S> + 'static,
    C: Timer + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let receiver = self.clone();
        Box::pin(async move { Ok(receiver.receive(request).await) })
    }
}
