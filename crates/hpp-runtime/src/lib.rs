//! What runs around `hpp-core`'s sans-IO client: time, TLS, and the pieces transports share.
//!
//! One crate, chosen by features (as `aws-smithy-async` serves the AWS SDK): a program pays only
//! for what it enables.
//!
//! - Always: [`StdTimer`], the [`Timer`](hpp_core::Timer) for blocking code; [`block_on`], to run
//!   a client's future on the current thread; [`random_callback_secret`]; [`caught`], a future's
//!   panic as a value; and [`transport`], the pieces a transport author would otherwise write by
//!   hand (a capped body read, sorting an I/O error by what it proves).
//! - `tokio`: [`TokioTimer`], the timer on Tokio (paused-time tests work); [`batch`], many
//!   callers' writes sent as one statement (group commit). (The tracker's poller is
//!   `hpp-tracker`'s.)
//! - `rustls`: [`tls`], the one rustls client configuration (ring, Mozilla's roots) the shipped
//!   transports share.
//! - `tower`: [`tower`](mod@tower), tower adapters: a transport as a `Service`, a `Service` as a
//!   transport, layers around a transport.
//!
//! A client in blocking code, over a blocking transport:
//!
//! ```
//! use hpp_runtime::{StdTimer, block_on};
//! use hpp_core::{Client, Config, Credentials, Environment, Mode, Request, Response, TransportError};
//! // A blocking transport: the whole exchange happens inside `send`, before the future is returned.
//! let blocking = |_request: Request| {
//!     let response: Result<Response, TransportError> =
//!         Ok(http::Response::builder().status(200).body(br#"{"status":"WAITING"}"#.to_vec()).unwrap());
//!     std::future::ready(response)
//! };
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k")?);
//! let client = Client::new(config, blocking, StdTimer::new());
//! let session = block_on(client.read_session("s1"))?;
//! assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! On Tokio (feature `tokio`):
//!
//! ```no_run
//! # #[cfg(feature = "tokio")] {
//! use hpp_core::{Client, Config, Credentials, Environment, Mode};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let transport = |_r: hpp_core::Request| async { Err::<hpp_core::Response, _>(hpp_core::TransportError::connect("x")) };
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_...")?);
//! let client = Client::new(config, transport, hpp_runtime::TokioTimer::new());
//! # Ok(()) }
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-runtime/0.1.0")]

mod caught;
mod std_timer;
pub mod transport;

pub use caught::{Caught, Panicked, caught};
pub use std_timer::{StdTimer, block_on, random_callback_secret};

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod batch;

#[cfg(feature = "tokio")]
mod tokio_timer;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tokio_timer::TokioTimer;

#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod tls;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
