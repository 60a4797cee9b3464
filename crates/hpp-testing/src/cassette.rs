//! Record and replay: a [`Recorder`] wraps any transport and writes each exchange, redacted, to a
//! cassette file; a [`Replayer`] serves a cassette back with no server.
//!
//! The cassette is text made to be read and diffed: each exchange as [`Redactor`] renders it,
//! its request and its response each after a line giving its length in bytes, so that nothing a
//! body holds can be read as another exchange. A cassette is read exactly as written or refused
//! (record it again rather than edit it).
//! Nothing secret is written: credentials, callback secrets, e-mail addresses, phone numbers and
//! access ids are masked before the file is; values that change every run are placeholders, so
//! two recordings of the same story are the same bytes.
//!
//! Replaying, the [`Replayer`] matches each request by method, path and body (as rendered, so
//! masked: two addresses that mask alike match alike) to an unused recorded exchange, and
//! answers with its response, placeholders turned back into values
//! the SDK accepts (a UUID for an id, a timestamp for a time, the request's own base URL for
//! `[base-url]` before an API path, a local origin for a local server's), remembered so that
//! later requests carrying them match the recording.
//!
//! A request renders the same whichever host the configuration names: only API URLs
//! (`…/hpp/v1/sessions…`) and local servers' origins become `[base-url]`, so an order URL on the
//! API's host (`https://api.playground.kustom.co/checkout/v3/orders/…`) stays as it is, recorded
//! against the sandbox and replayed under `Environment::Kustom(Mode::Playground)` alike.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use hpp_core::{Request, Response, Transport, TransportError};

use crate::render::{BASE_URL, Redactor};

/// The first line of every cassette.
const HEADER: &str = "# kustom-hpp cassette v2: exchanges recorded by hpp_testing::Recorder, redacted";
/// The first line of a cassette in the first format, whose exchanges were not framed.
const HEADER_V1: &str = "# kustom-hpp cassette v1: exchanges recorded by hpp_testing::Recorder, redacted";
const EXCHANGE: &str = "### exchange ";
const REQUEST: &str = ">>> request ";
const RESPONSE: &str = "<<< response ";
const BYTES: &str = " bytes";

/// One recorded exchange, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exchange {
    request: String,
    response: String,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A transport that records every exchange of `inner`, redacted, to a cassette file (rewritten
/// after each exchange, so it is complete whenever the test stops).
///
/// A failure without a response is not recorded (there is nothing to replay); the request is
/// then absent from the cassette, which a replay reports as unexpected.
#[derive(Clone)]
pub struct Recorder<T> {
    inner: T,
    state: Arc<Mutex<(Redactor, Vec<Exchange>)>>,
    path: Arc<PathBuf>,
}

impl<T> fmt::Debug for Recorder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").field("path", &self.path).finish_non_exhaustive()
    }
}

impl<T: Transport> Recorder<T> {
    /// Records `inner`'s exchanges to the cassette at `path` (created, or replaced).
    pub fn new(inner: T, path: impl Into<PathBuf>) -> Self {
        Self { inner, state: Arc::default(), path: Arc::new(path.into()) }
    }

    /// The cassette's text so far.
    pub fn cassette(&self) -> String {
        write_cassette(&lock(&self.state).1)
    }
}

impl<T: Transport> Transport for Recorder<T> {
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<T> {
        let rendered = lock(&self.state).0.request(&request);
        let sending = self.inner.send(request);
        let (state, path) = (self.state.clone(), self.path.clone());
        async move {
            let response = sending.await?;
            let text = {
                let mut state = lock(&state);
                let rendered_response = state.0.response(&response);
                state.1.push(Exchange { request: rendered, response: rendered_response });
                write_cassette(&state.1)
            };
            std::fs::write(path.as_ref(), text).map_err(|e| {
                TransportError::other(format!(
                    "the response came, but the cassette {} was not written: {e}",
                    path.display()
                ))
            })?;
            Ok(response)
        }
    }
}

/// The cassette's text: the header, then each exchange numbered, its request and its response
/// each after a line giving its length in bytes. The lengths frame them: whatever a recorded body
/// holds (a line that looks like the start of an exchange), it stays inside its exchange.
fn write_cassette(exchanges: &[Exchange]) -> String {
    let mut out = format!("{HEADER}\n");
    for (i, exchange) in exchanges.iter().enumerate() {
        out.push_str(&format!(
            "\n{EXCHANGE}{}\n{REQUEST}{}{BYTES}\n{}{RESPONSE}{}{BYTES}\n{}",
            i + 1,
            exchange.request.len(),
            exchange.request,
            exchange.response.len(),
            exchange.response
        ));
    }
    out
}

/// Reads a cassette exactly as [`write_cassette`] writes it; anything else (a length that does
/// not match, exchanges out of order, text after the last one) is refused, saying where.
fn parse_cassette(text: &str) -> Result<Vec<Exchange>, String> {
    let Some(mut rest) = text.strip_prefix(HEADER).and_then(|r| r.strip_prefix('\n')) else {
        if text.starts_with(HEADER_V1) {
            return Err("a cassette in the first format (v1), whose exchanges were not framed: record it again".into());
        }
        return Err("not a kustom-hpp cassette (the first line differs)".to_owned());
    };
    let mut exchanges = Vec::new();
    while !rest.is_empty() {
        let n = exchanges.len() + 1;
        let at = |what: &str| format!("exchange {n}: {what}");
        rest = rest
            .strip_prefix(&format!("\n{EXCHANGE}{n}\n"))
            .ok_or_else(|| at(&format!("expected the line \"{EXCHANGE}{n}\" here")))?;
        let (request, after) = framed(rest, REQUEST).map_err(|e| at(&e))?;
        let (response, after) = framed(after, RESPONSE).map_err(|e| at(&e))?;
        exchanges.push(Exchange { request: request.to_owned(), response: response.to_owned() });
        rest = after;
    }
    Ok(exchanges)
}

/// `<label><N> bytes\n` then exactly N bytes: those bytes, and what follows.
fn framed<'a>(text: &'a str, label: &str) -> Result<(&'a str, &'a str), String> {
    let what = label.trim();
    let (line, rest) = text.split_once('\n').ok_or_else(|| format!("no \"{what}\" line"))?;
    let len: usize =
        line.strip_prefix(label).and_then(|l| l.strip_suffix(BYTES)).and_then(|n| n.parse().ok()).ok_or_else(|| {
            format!("expected \"{what} <N> bytes\", found {:?}", line.chars().take(60).collect::<String>())
        })?;
    if rest.len() < len || !rest.is_char_boundary(len) {
        return Err(format!("the {what} is said to be {len} bytes, but {} follow", rest.len()));
    }
    Ok(rest.split_at(len))
}

/// A transport that answers from a cassette. An unexpected request (no unused recorded exchange
/// with its method, path and body) fails with a "not sent" transport error naming it, and is
/// kept for [`assert_all_used`](Self::assert_all_used), which also reports recorded exchanges
/// never asked for.
#[derive(Clone)]
pub struct Replayer {
    state: Arc<Mutex<ReplayState>>,
}

#[derive(Default)]
struct ReplayState {
    redactor: Redactor,
    unused: VecDeque<Exchange>,
    unexpected: Vec<String>,
    made_up: usize,
}

impl fmt::Debug for Replayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Replayer")
            .field("unused", &state.unused.len())
            .field("unexpected", &state.unexpected.len())
            .finish()
    }
}

impl Replayer {
    /// Reads the cassette at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path.as_ref())?;
        Self::from_cassette(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// Parses a cassette's text.
    pub fn from_cassette(text: &str) -> Result<Self, String> {
        let exchanges = parse_cassette(text)?;
        let state = ReplayState { unused: exchanges.into(), ..ReplayState::default() };
        Ok(Self { state: Arc::new(Mutex::new(state)) })
    }

    /// Panics, listing them, when a request matched nothing or a recorded exchange was never used.
    #[track_caller]
    pub fn assert_all_used(&self) {
        let state = lock(&self.state);
        let mut problems = Vec::new();
        for request in &state.unexpected {
            problems.push(format!("unexpected request (not in the cassette):\n{request}"));
        }
        for exchange in &state.unused {
            problems.push(format!("recorded but never requested:\n{}", exchange.request));
        }
        assert!(problems.is_empty(), "the replay differs from the cassette:\n\n{}", problems.join("\n"));
    }

    fn answer(&self, request: &Request) -> Result<Response, TransportError> {
        let mut state = lock(&self.state);
        let rendered = state.redactor.request(request);
        let key = matching_key(&rendered);
        let Some(at) = state.unused.iter().position(|e| matching_key(&e.request) == key) else {
            // Reported once, however often it is retried (a "not sent" error is retried).
            if !state.unexpected.contains(&rendered) {
                state.unexpected.push(rendered.clone());
            }
            // One line: what was asked, and what to do (assert_all_used shows the whole request).
            let asked = rendered.lines().next().unwrap_or_default();
            return Err(TransportError::before_sending(format!(
                "the cassette has no request `{asked}` left to replay (the base URL does not matter; a \
                 different request, or one more than was recorded, does: record the cassette again)"
            )));
        };
        let exchange = state.unused.remove(at).unwrap_or_else(|| unreachable!("position found it"));
        let origin = crate::render::split_base_url(request.uri()).0.unwrap_or_default();
        let text = state.fill_placeholders(&exchange.response, &origin);
        parse_response(&text)
            .map_err(|e| TransportError::before_sending(format!("a recorded response is malformed: {e}")))
    }
}

impl ReplayState {
    /// Turns each placeholder in `text` into a value the SDK accepts, the same one every time,
    /// and remembers it so that requests carrying it render back to the placeholder.
    fn fill_placeholders(&mut self, text: &str, origin: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('[') {
            out.push_str(&rest[..start]);
            let candidate = rest[start..].find(']').map(|len| &rest[start..start + len + 1]);
            let after = |placeholder: &str| &rest[start + placeholder.len()..];
            let value_of = |state: &mut Self, placeholder: &str| {
                if placeholder == BASE_URL && !after(placeholder).starts_with(crate::render::API_PATH) {
                    // Not an API URL: a local server's origin when recorded (only those are a
                    // placeholder elsewhere), so a local origin when replayed, whatever base URL
                    // the replay's configuration names.
                    return Some(crate::render::local_origin(origin));
                }
                state.value_for(placeholder, origin)
            };
            match candidate.and_then(|placeholder| Some((placeholder, value_of(self, placeholder)?))) {
                Some((placeholder, value)) => {
                    out.push_str(&value);
                    rest = &rest[start + placeholder.len()..];
                }
                None => {
                    out.push('[');
                    rest = &rest[start + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn value_for(&mut self, placeholder: &str, origin: &str) -> Option<String> {
        if placeholder == BASE_URL {
            return Some(origin.to_owned());
        }
        let inner = placeholder.strip_prefix('[')?.strip_suffix(']')?;
        let (kind, n) = inner.rsplit_once('-')?;
        n.parse::<u32>().ok()?;
        if let Some(known) = self.redactor.original_of(placeholder) {
            return Some(known);
        }
        self.made_up += 1;
        let value = match kind {
            "time" => hpp_core::__private::time::unix_millis_to_rfc3339(4_102_444_800_000 + self.made_up as i64 * 1000),
            "reference" => format!("REF{:05}", self.made_up),
            "session" | "id" | "correlation" | "event" | "order" => {
                format!("00000000-0000-4000-8000-{:012}", self.made_up)
            }
            _ => return None,
        };
        self.redactor.remember(&value, placeholder.to_owned());
        Some(value)
    }
}

/// What a replay matches on: the request line and the body, not the headers.
fn matching_key(rendered: &str) -> (String, String) {
    let (head, rest) = rendered.split_once('\n').unwrap_or((rendered, ""));
    let body = rest.split_once("\n\n").map_or("", |(_, body)| body);
    (head.to_owned(), body.trim_end().to_owned())
}

fn parse_response(text: &str) -> Result<Response, String> {
    let (head, rest) = text.split_once('\n').ok_or("no status line")?;
    let status: u16 = head.split(' ').next().and_then(|s| s.parse().ok()).ok_or("no status")?;
    // No headers at all: the blank line follows the status line at once.
    let (headers, body) = match rest.strip_prefix('\n') {
        Some(body) => ("", body),
        None => rest.split_once("\n\n").unwrap_or((rest, "")),
    };
    let mut builder = http::Response::builder().status(status);
    for line in headers.lines().filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(": ").ok_or_else(|| format!("bad header line {line:?}"))?;
        builder = builder.header(name, value);
    }
    let body = body.strip_suffix('\n').unwrap_or(body);
    // JSON goes back on the wire compact, as services send it (the cassette pretty-prints it).
    let body = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(json) => json.to_string().into_bytes(),
        Err(_) => body.as_bytes().to_vec(),
    };
    builder.body(body).map_err(|e| e.to_string())
}

impl Transport for Replayer {
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<> {
        std::future::ready(self.answer(&request))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    /// A response recorded without any header (a closure transport's, a terse server's) replays:
    /// its blank line follows the status line at once, and was read as a header block.
    #[test]
    fn a_response_without_headers_replays() {
        let response = parse_response("200 OK\n\n{\n  \"status\": \"WAITING\"\n}\n").unwrap();
        assert_eq!((response.status().as_u16(), response.headers().len()), (200, 0));
        assert_eq!(response.body().as_slice(), br#"{"status":"WAITING"}"#);
        let response = parse_response("204 No Content\n\n").unwrap();
        assert_eq!((response.status().as_u16(), response.body().len()), (204, 0));
    }
}
