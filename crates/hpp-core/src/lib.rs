//! Sans-IO core of the Kustom (formerly Klarna) **Hosted Payment Page** API.
//!
//! `hpp-core` builds [`http::Request`](https://docs.rs/http/1/http/request/struct.Request.html)
//! values and parses [`http::Response`](https://docs.rs/http/1/http/response/struct.Response.html) values into typed
//! results. It opens no sockets, starts no runtime, reads no clock, environment or randomness.
//! Send its requests with `hpp-reqwest`, `hpp-hyper`, or any HTTP client of your own: [the
//! transport contract](transport) says what such a client must do, and `hpp-conformance` checks it.
//!
//! # Contents
//! - [Where things are](#where-things-are)
//! - [Quick start](#quick-start)
//! - [Drive it yourself](#drive-it-yourself)
//! - [Errors](#errors)
//! - [Security](#security)
//!
//! # Where things are
//!
//! Each item has one home: the client, configuration, operations and errors at the root;
//! [`model`] (the API's JSON bodies), [`callback`], [`retry`], [`tracking`] and [`transport`]
//! (the contract and the pieces of it the core defines). The model types a call takes or returns
//! ([`Session`], [`SessionCreated`], [`SessionStatus`], [`MerchantUrls`], [`SessionOptions`],
//! [`DistributionMethod`]) and the two traits a client is built from ([`Transport`], [`Timer`])
//! are also re-exported at the root; nothing else is at two paths. What runs around the core
//! (timers, TLS, `block_on`, the pieces transports share) is in `hpp-runtime`.
//!
//! # Quick start
//!
//! ```
//! use hpp_core::{Client, Config, CreateSession, Credentials, Distribution, Environment, Mode};
//! # use hpp_core::{Request, Response, TransportError};
//! # let transport = |req: Request| async move {
//! #     let (status, body): (u16, &[u8]) = match req.method().as_str() {
//! #         "POST" if req.uri().path().ends_with("/distribution") => (201, b""),
//! #         "POST" => (201, br#"{"session_id":"s1","distribution_url":"https://api.playground.kustom.co/hpp/v1/sessions/s1/distribution"}"#),
//! #         _ => (200, br#"{"session_id":"s1","status":"WAITING"}"#),
//! #     };
//! #     Ok::<Response, TransportError>(http::Response::builder().status(status).body(body.to_vec()).unwrap())
//! # };
//! # hpp_runtime::block_on(async {
//! let config = Config::new(
//!     Environment::Kustom(Mode::Playground),
//!     Credentials::api_key("kco_test_api_...")?,
//! );
//! # let timer = hpp_testing::VirtualTimer::new();
//! // `transport`: hpp_reqwest::ReqwestTransport, hpp_hyper::HyperTransport, or a closure;
//! // `timer`: hpp_runtime::TokioTimer on Tokio, hpp_runtime::StdTimer in blocking code.
//! let client = Client::new(config, transport, timer);
//!
//! let created = client
//!     .create_session(&CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/1"))
//!     .await?;
//! // Each call takes what the previous one returned (see `SessionRef`).
//! client.distribute_session(&created, Distribution::email("jane@example.com")?).await?;
//! let session = client.read_session(&created).await?;
//! assert_eq!(session.status, Some(hpp_core::SessionStatus::Waiting));
//! # Ok::<(), hpp_core::Error>(()) }).unwrap();
//! ```
//!
//! # Drive it yourself
//!
//! Every operation is plain data with a pure `build` and `parse` ([`Operation`]):
//!
//! ```
//! # use hpp_core::{Config, Credentials, Environment, Mode, Operation, DistributeSession, Distribution};
//! # let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("k").unwrap());
//! # let blocking_roundtrip = |_r| http::Response::builder().status(204).body(Vec::new()).unwrap();
//! let op = DistributeSession::new("9cbc9884-1fdb-45a8-9694-9340340d0436", Distribution::token("278352")?);
//! let request = op.build(&config)?;            // http::Request<Vec<u8>>, credentials attached
//! let response = blocking_roundtrip(request);  // any client keeping the transport contract
//! op.parse(response)?;                         // any 2xx is Ok; otherwise a typed Error
//! # Ok::<(), hpp_core::Error>(())
//! ```
//!
//! # Errors
//!
//! One [`Error`] enum: [`Error::InvalidInput`] (refused before sending), [`Error::Transport`] (no
//! response), [`Error::Api`] (a non-2xx answer with its `error_code`, messages and correlation
//! id) and [`Error::Decode`] (a success we could not read). Whatever the kind,
//! [`Error::side_effect`] answers the first question of a payment integration, *did it happen?*
//! ([`SideEffect::DidNotHappen`], [`SideEffect::Happened`] or [`SideEffect::Unknown`]), and
//! [`Error::advice`] says what to do. The table of every case is on [`Error`].
//!
//! # Security
//!
//! - Credentials go only to the configured base URL: a `session_url` or `distribution_url` is
//!   followed only when its scheme, host, port and path are the ones expected
//!   ([`SessionRef`]). Plain `http` is accepted only for a loopback base URL (a local sandbox).
//! - The `Authorization` header is marked sensitive; `Debug` of [`Credentials`], [`Config`],
//!   requests and errors never shows a key or password; e-mail addresses and phone numbers are
//!   masked in `Debug` and in error messages.
//! - Retries are decided by a pure [`retry::RetryPolicy`]: reads and disables are retried on
//!   transient failures; a create or distribution that may have reached the server is never sent
//!   twice by the SDK unless the caller opts in per call.
//! - Logs and spans (`tracing`) carry the operation, URL template, attempt, status and correlation
//!   id, never bodies, credentials or contact data.

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_debug_implementations)]
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-core/0.1.0")]
// What only `__private` exports is unused without it; the workspace's builds (which enable it
// through the sibling crates) keep these lints on.
#![cfg_attr(not(feature = "__private"), allow(dead_code, unreachable_pub))]

#[macro_use]
mod macros;

#[cfg(feature = "__private")]
#[doc(hidden)]
pub mod __private;
mod ascii;
pub mod callback;
mod client;
mod config;
mod dedup;
mod distribution;
mod error;
mod exchange;
pub mod model;
mod ops;
mod redact;
pub mod retry;
mod session;
mod time;
pub mod tracking;
pub mod transport;
mod watch;

/// The `http` crate this one builds requests and parses responses with (version 1): a transport
/// or a test can name `hpp_core::http::Request` without depending on it.
pub use http;

pub use client::{Client, WatchOptions, WatchOutcome};
pub use config::{BaseUrl, Config, Credentials, Environment, Mode};
pub use distribution::Distribution;
pub use error::{
    Action, ApiError, DecodeError, Error, ErrorCode, InputError, OperationKind, SideEffect, TransportError,
    TransportErrorKind,
};
pub use exchange::{Request, Response};
pub use model::{DistributionMethod, MerchantUrls, Session, SessionCreated, SessionOptions, SessionStatus};
pub use ops::{CreateSession, DisableSession, DistributeSession, Operation, ReadSession};
pub use session::SessionRef;
pub use transport::{Timer, Transport};
