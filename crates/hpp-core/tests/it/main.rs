//! Integration tests of the sans-IO core: one binary, one module per boundary.

#[allow(dead_code, unreachable_pub)]
mod fixture;

mod boundaries;
mod build;
mod client;
mod errors;
mod modules;
mod parse;
mod props;
mod redact;
mod retry;
mod tracked;
mod tracking;

use hpp_core::{Config, Credentials, Environment, Mode};

/// The configuration most tests use: Kustom playground, an API key.
fn playground() -> Config {
    Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_SECRETKEY123").unwrap())
}

/// A request as it goes on the wire (credentials and the version normalised): `hpp_testing::wire`.
fn render(request: &hpp_core::Request) -> String {
    hpp_testing::wire(request)
}
