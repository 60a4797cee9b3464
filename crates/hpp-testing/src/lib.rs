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
//! A cassette recorded once against the sandbox, then replayed in every run:
//!
//! ```no_run
//! # async fn run(sandbox: hpp_sandbox::Sandbox) -> Result<(), hpp_core::Error> {
//! use hpp_testing::{Recorder, Replayer};
//! let path = "tests/cassettes/create_and_read.cassette";
//! // Recording (against the sandbox, or the playground):
//! let recorder = Recorder::new(hpp_hyper::HyperTransport::new(), path);
//! let client = hpp_core::Client::new(sandbox.client_config(), recorder, hpp_runtime::TokioTimer::new());
//! // ... the code under test ...
//! // Replaying, with no server:
//! let replayer = Replayer::from_file(path).expect("the cassette");
//! let client = hpp_core::Client::new(sandbox.client_config(), replayer.clone(), hpp_testing::VirtualTimer::new());
//! // ... the same code ...
//! replayer.assert_all_used();
//! # Ok(()) }
//! ```

mod cassette;
mod render;
mod timer;

pub use cassette::{Recorder, Replayer};
pub use render::{BASE_URL, CREDENTIALS, Redactor, render_request, render_response, wire};
pub use timer::VirtualTimer;
