//! The payment tracker's moving parts around a [`TrackingStore`]: [`CallbackReceiver`], the
//! endpoint Kustom POSTs `status_update` callbacks to, and [`Poller`], which reads the sessions
//! whose callbacks never came. Both feed the store the same steps
//! ([`hpp_core::tracking::Step`]), so each session's final status reaches the app's
//! [`HandOff`] exactly once, whichever of them (on whichever replica) saw it first.
//!
//! The receiver takes any [`http_body::Body`](https://docs.rs/http-body/1/http_body/trait.Body.html): serve it with axum ([`CallbackReceiver::router`],
//! feature `axum`, on by default), as any tower [`Service`](tower_service::Service), or call
//! [`CallbackReceiver::receive`] from any server. For each request, in this order: the secret
//! in the URL checked in constant time, or the URL's signature for one order
//! (`CallbackSecret::append_for_order`: a leaked URL speaks for that order's sessions only) (401),
//! the body bounded (413), parsed (400), and given to the store ([`TrackingStore::receive`](hpp_core::tracking::TrackingStore::receive)):
//! applied with the app's [`HandOff`], or (the PostgreSQL stores, by default) recorded and its
//! session made due in one round trip, to be applied by the session's next step, the poller's.
//! The answer is 2xx only once that committed (or the event was already recorded or applied);
//! 5xx otherwise, so the service retries. Everything happens within
//! a budget under the service's 3 s timeout (2.5 s by default, on the receiver's
//! [`Timer`](hpp_core::Timer)): past it the step is abandoned (nothing of it commits) and the
//! answer is 503.
//!
//! ```
//! use std::sync::Arc;
//! use hpp_core::callback::{CallbackSecret, StatusCallback};
//! use hpp_core::tracking::{Finished, HandOff, MemoryStore};
//! use hpp_tracker::{CallbackReceiver, callback_request};
//! use tower_service::Service;
//!
//! struct Ship;
//! impl HandOff<MemoryStore> for Ship {
//!     async fn hand_off(&self, _tx: &mut (), finished: &Finished) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
//!
//! # Metrics
//!
//! Through the [`metrics`](https://docs.rs/metrics/0.24) facade: install the exporter you use
//! (Prometheus, StatsD, OpenTelemetry) and these appear. No label carries an id or customer data.
//!
//! | Name | Kind | Labels | What |
//! |---|---|---|---|
//! | `hpp_tracker_sessions` | gauge | `standing`: `waiting`, `hand_off_due`, `parked`, `handed_off` | the store's sessions, counted by the poller every `PollerOptions::gauges_every` |
//! | `hpp_tracker_sessions_due` | gauge | | sessions with work due now (a backlog when it stays up) |
//! | `hpp_tracker_oldest_pending_seconds` | gauge | | age of the oldest session with work outstanding |
//! | `hpp_tracker_hand_offs_total` | counter | `by` (`callback`, `poller`), `outcome` (`handed_off`, `failed`, `parked`), `status` (the final status, handed off) or `error_kind` (the app's `HandOffError` kind) | hand-offs to the app |
//! | `hpp_tracker_reads_total` | counter | `outcome`: `ok`, `not_found`, `rate_limited`, `failed` | the poller's reads of the API |
//! | `hpp_tracker_callbacks_total` | counter | `receipt` ([`Receipt::as_str`]) | the receiver's answers |
//! | `hpp_tracker_step_seconds` | histogram | `by` (`callback`, `poller`) | one step: a callback answered, a poller's read and apply |
//! | `hpp_tracker_pruned_total` | counter | | rows deleted past the retention |
//!
//! [`TrackingStore`]: hpp_core::tracking::TrackingStore
//! [`HandOff`]: hpp_core::tracking::HandOff

#![cfg_attr(docsrs, feature(doc_cfg))]
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-tracker/0.1.0")]

mod contain;
mod poller;
mod receiver;
mod report;

pub use poller::{PollRound, Poller, PollerOptions};
pub use receiver::{CallbackReceiver, Receipt, ReceiptBody, ReceiverOptions, callback_request};
