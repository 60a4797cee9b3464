//! Integration tests of the sans-IO core: one binary, one module per boundary.

#[path = "../../../../tests/src/fixture.rs"]
#[allow(dead_code, unreachable_pub)]
mod fixture;

mod build;
mod client;
mod parse;
mod props;
mod redact;
mod retry;
mod tracking;

use hpp_core::{Config, Credentials, Environment, Mode};

/// The configuration most tests use: Kustom playground, an API key.
fn playground() -> Config {
    Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_SECRETKEY123").unwrap())
}

/// A request as text: method and URI, sorted headers (the `Authorization` value shown as
/// `Basic <redacted>`, the version cut from `User-Agent`), a blank line, the body bytes as sent.
fn render(request: &hpp_core::Request) -> String {
    let mut out = format!("{} {}\n", request.method(), request.uri());
    let mut headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let shown = if value.is_sensitive() {
                let scheme = value.to_str().ok().and_then(|v| v.split(' ').next()).unwrap_or("");
                format!("{scheme} <redacted>")
            } else {
                value.to_str().unwrap().replace(env!("CARGO_PKG_VERSION"), "[version]")
            };
            (name.to_string(), shown)
        })
        .collect();
    headers.sort();
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(request.body()));
    out
}
