//! Testing tools for code built on `hpp-core`: stable, redacted text of requests, responses and
//! results for snapshot tests (`insta`), and record/replay transports whose cassettes replay
//! with no server.
//!
//! - [`Redactor`] (and [`render_request`], [`render_response`]): method and target, sorted
//!   headers, the SDK's version normalised, JSON bodies pretty-printed with keys sorted. Masked
//!   the way the SDK masks them elsewhere, wherever they are (path, query, header, JSON value,
//!   number or key, free text): e-mail addresses, phone numbers, customer details, access ids;
//!   replaced: credentials (any header, query parameter, JSON key or `name=value` named like one:
//!   `authorization`, `x-api-key`, `token`, `sig`, `…secret…`) and the `status_update` URL after
//!   its origin. Session ids, timestamps, correlation and event ids and the sandbox's address are
//!   replaced by numbered placeholders, the same value by the same placeholder.
//! - [`Recorder`]: wraps any transport and writes each exchange, redacted, to a cassette file.
//! - [`Replayer`]: a transport serving a cassette back, matching requests by method, path and
//!   body, failing loudly on an unexpected request ([`Replayer::assert_all_used`] also reports
//!   recorded ones never asked for).
//! - [`VirtualTimer`]: a `Timer` whose sleeps complete at once, moving its clock: retries and
//!   status watches run instantly and deterministically.
//! - [`store_kit`]: the suite every `TrackingStore` runs (the memory store and PostgreSQL's
//!   do): answers, state, claims, and the app's work committed exactly once over random
//!   interleavings with abandoned steps and a failing app.
//! - [`wire`]: the exact bytes of a request built from fixed inputs (no masking), for pinning
//!   what goes on the wire.
//!
//! ```
//! use hpp_core::{Client, Config, Credentials, Environment, Mode, ReadSession, Operation};
//! let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_x")?);
//! let request = ReadSession::new("9cbc9884-1fdb-45a8-9694-9340340d0436").build(&config)?;
//! assert_eq!(hpp_testing::render_request(&request), "\
//! GET /hpp/v1/sessions/[id-1]
//! accept: application/json
//! authorization: [credentials]
//! user-agent: kustom-hpp/[version] (hpp-core; rust)
//!
//! ");
//! # Ok::<(), hpp_core::Error>(())
//! ```
//!
//! A cassette recorded once (against the sandbox, or the playground), then replayed in every run
//! with no server, under any base URL. Recording goes through any transport; here a stand-in for
//! the server, so that this example runs as it is:
//!
//! ```
//! use hpp_core::{BaseUrl, Client, Config, Credentials, Environment, Mode, Request, Response, TransportError};
//! use hpp_runtime::block_on;
//! use hpp_testing::{Recorder, Replayer, VirtualTimer};
//!
//! // The code under test.
//! async fn status_of(client: &Client, session: &str) -> Result<String, hpp_core::Error> {
//!     let session = client.read_session(session).await?;
//!     Ok(session.status.map(|s| s.to_string()).unwrap_or_default())
//! }
//!
//! let path = std::env::temp_dir().join(format!("hpp-testing-doc-{}.cassette", std::process::id()));
//! // Recording, once: against the sandbox in your tests (`sandbox.client_config()`, a real
//! // transport); here a closure answering as the API would.
//! let server = |_request: Request| async {
//!     let body = br#"{"session_id":"9cbc9884-1fdb-45a8-9694-9340340d0436","status":"WAITING"}"#;
//!     Ok::<Response, TransportError>(http::Response::builder().status(200).body(body.to_vec()).unwrap())
//! };
//! let sandbox = Config::new(BaseUrl::parse("http://127.0.0.1:8080").map(Environment::Custom)?, Credentials::basic("u", "p")?);
//! let client = Client::new(sandbox, Recorder::new(server, &path), VirtualTimer::new()).into_shared();
//! let recorded = block_on(status_of(&client, "9cbc9884-1fdb-45a8-9694-9340340d0436"))?;
//!
//! // Replaying, in every run: no server, and the playground's configuration this time.
//! let replayer = Replayer::from_file(&path)?;
//! let playground = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_x")?);
//! let client = Client::new(playground, replayer.clone(), VirtualTimer::new()).into_shared();
//! assert_eq!(block_on(status_of(&client, "9cbc9884-1fdb-45a8-9694-9340340d0436"))?, recorded);
//! replayer.assert_all_used();
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-testing/0.1.0")]

mod cassette;
mod render;
pub mod store_kit;
mod timer;

pub use cassette::{Recorder, Replayer};
pub use render::{BASE_URL, CREDENTIALS, Redactor, render_request, render_response, wire};
pub use timer::VirtualTimer;
