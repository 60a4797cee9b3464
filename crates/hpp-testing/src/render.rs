//! Stable, redacted text of requests, responses and results.

use std::collections::HashMap;
use std::fmt::Debug;

use hpp_core::__private::redact::{mask_all, mask_email, mask_phone, scrub};
use hpp_core::{Request, Response};
use serde_json::Value;

/// What replaces the credentials (and any other secret header).
pub const CREDENTIALS: &str = "[credentials]";

/// What replaces the scheme, host and port requests went to (they differ between runs against a
/// sandbox on a free port).
pub const BASE_URL: &str = "[base-url]";

/// Headers whose values are secrets, besides any named like a credential ([`is_credential_name`]).
const SECRET_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "set-cookie"];

/// Words that make a header, query parameter or JSON key a credential, whatever else its name
/// holds (`x-api-key`, `X-Auth-Token`, `access_token`, `sig`, `callbackSecret`).
const CREDENTIAL_WORDS: [&str; 12] = [
    "secret",
    "token",
    "key",
    "apikey",
    "sig",
    "signature",
    "password",
    "passwd",
    "auth",
    "credential",
    "credentials",
    "cookie",
];

/// Whether a header's value is a secret: marked sensitive, one of [`SECRET_HEADERS`], or named
/// like a credential. The one rule the [`Redactor`] and [`wire`] mask headers by.
fn is_secret_header(name: &http::HeaderName, value: &http::HeaderValue) -> bool {
    value.is_sensitive() || SECRET_HEADERS.contains(&name.as_str()) || is_credential_name(name.as_str())
}

/// Whether a header, query parameter or JSON key names a credential: one of its words (split at
/// anything but letters and digits, and at lower-to-upper case changes) is in
/// [`CREDENTIAL_WORDS`], or it contains `secret`, `token`, `password` or `apikey` anywhere.
pub(crate) fn is_credential_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if ["secret", "token", "password", "apikey"].iter().any(|w| lower.contains(w)) {
        return true;
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() || (c.is_uppercase() && previous_lower) {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        previous_lower = c.is_lowercase();
    }
    words.push(word);
    words.iter().any(|w| CREDENTIAL_WORDS.contains(&w.as_str()))
}

/// What replaces a credential's value inside text (a query, a `name=value` pair).
const REDACTED: &str = "<redacted>";

/// `text` with the value of every `name=value` pair whose name is a credential replaced by
/// `<redacted>`: query parameters of URLs and the same form in free text.
fn mask_credential_pairs(text: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let ends_value = |c: char| c.is_whitespace() || matches!(c, '&' | '#' | '"' | '\'' | ',' | ';' | '<' | '>' | ')');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('=') {
        let (before, after) = rest.split_at(at);
        let name_start =
            before.rfind(|c: char| !is_name(c)).map_or(0, |i| i + before[i..].chars().next().map_or(1, char::len_utf8));
        let name = &before[name_start..];
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        if !name.is_empty() && is_credential_name(name) {
            let end = after.find(ends_value).unwrap_or(after.len());
            if end > 0 {
                out.push_str(REDACTED);
            }
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The request target as rendered: each path segment and query value scrubbed of contact data
/// (percent-decoded first), query values masked by their parameter's name as JSON values are by
/// their key, credentials redacted.
fn mask_target(target: &str) -> String {
    let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
    let mut out: String =
        path.split('/').map(|segment| scrub_around_uuids(&percent_decoded(segment))).collect::<Vec<_>>().join("/");
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) => {
                    let value = percent_decoded(&value.replace('+', " "));
                    let shown = masked_by_key(name, &value).unwrap_or_else(|| scrub_around_uuids(&value));
                    format!("{}={shown}", scrub(name))
                }
                None => scrub_around_uuids(&percent_decoded(pair)),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// A URL whose path and query may carry a secret anywhere: its origin kept (where callbacks go),
/// the rest masked.
fn mask_after_origin(url: &str) -> String {
    let origin_end = url.find("://").and_then(|at| url[at + 3..].find('/').map(|slash| at + 3 + slash));
    match origin_end {
        Some(end) => format!("{}/{}", &url[..end], mask_all(&url[end + 1..])),
        None => mask_all(url),
    }
}

/// `%XX` escapes decoded where they form UTF-8; the text unchanged where they do not.
fn percent_decoded(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// The masked form of a value under a key (JSON key or query parameter) that says what it holds,
/// or `None` for a key that says nothing.
fn masked_by_key(key: &str, value: &str) -> Option<String> {
    Some(match key {
        "email" => mask_email(value),
        "phone" | "phone_number" | "mobile_phone" => mask_phone(value),
        // A customer's details (a completed session, an identification check), the access id a
        // device shows, and the callback URL, which carries the merchant's secret anywhere in it.
        "access_id"
        | "given_name"
        | "family_name"
        | "date_of_birth"
        | "national_identification_number"
        | "title"
        | "challenge" => mask_all(value),
        "status_update" => mask_after_origin(value),
        key if is_credential_name(key) => mask_all(value),
        _ => return None,
    })
}

/// Headers about the connection, not the exchange: left out.
const TRANSPORT_HEADERS: [&str; 6] =
    ["content-length", "connection", "date", "host", "transfer-encoding", "keep-alive"];

/// Turns exchanges into stable text: secrets and personal data masked the way the SDK masks them
/// elsewhere, and values that change every run (session ids and the URLs built from them,
/// timestamps, correlation and event ids, the sandbox's port) replaced by numbered placeholders,
/// the same value always by the same placeholder within one `Redactor`.
///
/// ```
/// let request = http::Request::builder()
///     .method("POST")
///     .uri("http://127.0.0.1:41234/hpp/v1/sessions/3f2a9c1e-0b4d-4e6f-8a7b-1c2d3e4f5a6b/distribution")
///     .header("authorization", "Basic a2NvX3Rlc3Q=")
///     .body(br#"{"contact_information":{"email":"jane.doe@example.com"},"method":"email"}"#.to_vec())
///     .unwrap();
/// let text = hpp_testing::Redactor::new().request(&request);
/// assert_eq!(text, "\
/// POST /hpp/v1/sessions/[id-1]/distribution
/// authorization: [credentials]
///
/// {
///   \"contact_information\": {
///     \"email\": \"j***@e***.com\"
///   },
///   \"method\": \"email\"
/// }
/// ");
/// ```
///
/// Its `Debug` shows how many values it has placeholders for, never the values.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Original value -> placeholder, longest originals first when applied.
    placeholders: Vec<(String, String)>,
    counters: HashMap<&'static str, usize>,
}

impl Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("placeholders", &self.placeholders.len()).finish_non_exhaustive()
    }
}

impl Redactor {
    /// An empty redactor: placeholders numbered from 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// `METHOD /path?query`, the sorted headers (secrets replaced, the SDK's version normalised,
    /// connection headers left out), a blank line and the body (JSON pretty-printed with keys
    /// sorted and personal data masked).
    pub fn request(&mut self, request: &Request) -> String {
        let (origin, target) = split_base_url(request.uri());
        if let Some(origin) = origin {
            self.remember_base_url(&origin);
        }
        let head = format!("{} {}", request.method(), self.text(&mask_target(target)));
        self.exchange_text(head, request.headers(), request.body())
    }

    /// `STATUS reason`, the sorted headers and the body, as [`request`](Self::request) renders them.
    pub fn response(&mut self, response: &Response) -> String {
        let status = response.status();
        let head = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
        self.exchange_text(head.trim_end().to_owned(), response.headers(), response.body())
    }

    /// The pretty `Debug` of a value (a parsed result, an error), with placeholders applied. The
    /// SDK's `Debug` impls already mask secrets and personal data.
    pub fn debug(&mut self, value: &impl Debug) -> String {
        let text = format!("{value:#?}");
        self.text(&text)
    }

    /// `text` with every value seen so far replaced by its placeholder, and any new UUID,
    /// RFC 3339 timestamp or loopback origin (a local server's port) given one.
    pub fn text(&mut self, text: &str) -> String {
        for origin in find_loopback_origins(text) {
            self.remember(&origin, BASE_URL.to_owned());
        }
        for base_url in find_api_base_urls(text) {
            self.remember_base_url(&base_url);
        }
        for uuid in find_uuids(text) {
            self.label("id", &uuid);
        }
        for time in find_timestamps(text) {
            self.label("time", &time);
        }
        let mut out = text.to_owned();
        for (original, placeholder) in &self.placeholders {
            if out.contains(original.as_str()) {
                out = out.replace(original.as_str(), placeholder);
            }
        }
        out
    }

    /// Remembers that `original` is shown as `placeholder` (a replayer does this for the values it
    /// made up, so that requests carrying them render as they were recorded).
    pub fn remember(&mut self, original: &str, placeholder: String) {
        if original.is_empty() || self.placeholders.iter().any(|(o, _)| o == original) {
            return;
        }
        let at =
            self.placeholders.iter().position(|(o, _)| o.len() < original.len()).unwrap_or(self.placeholders.len());
        self.placeholders.insert(at, (original.to_owned(), placeholder));
    }

    /// Remembers `base_url` (scheme, host, port and any gateway prefix) as [`BASE_URL`] where an
    /// API URL starts with it, and only there: an order URL on the same host
    /// (`https://api.playground.kustom.co/checkout/v3/orders/…`) renders as it is, whichever host
    /// the configuration names. (A local server's origin is a placeholder anywhere: its port
    /// changes every run.)
    fn remember_base_url(&mut self, base_url: &str) {
        self.remember(&format!("{base_url}{API_PATH}"), format!("{BASE_URL}{API_PATH}"));
    }

    /// The value a placeholder stands for, if this redactor gave it out or was told it.
    pub(crate) fn original_of(&self, placeholder: &str) -> Option<String> {
        self.placeholders.iter().find(|(_, p)| p == placeholder).map(|(o, _)| o.clone())
    }

    /// The placeholder for `original` under `kind`, numbering a new one if needed.
    fn label(&mut self, kind: &'static str, original: &str) {
        if original.is_empty() || original.starts_with('[') || self.placeholders.iter().any(|(o, _)| o == original) {
            return;
        }
        let n = self.counters.entry(kind).or_default();
        *n += 1;
        let placeholder = format!("[{kind}-{n}]");
        self.remember(original, placeholder);
    }

    fn exchange_text(&mut self, head: String, headers: &http::HeaderMap, body: &[u8]) -> String {
        let body = self.body(body);
        let mut lines: Vec<String> = headers
            .iter()
            .filter(|(name, _)| !TRANSPORT_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                let shown = if is_secret_header(name, value) {
                    CREDENTIALS.to_owned()
                } else {
                    let text = String::from_utf8_lossy(value.as_bytes());
                    normalise_version(&scrub(&mask_credential_pairs(&text)))
                };
                format!("{name}: {shown}")
            })
            .collect();
        lines.sort();
        let mut out = head;
        out.push('\n');
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&body);
        if !body.is_empty() && !body.ends_with('\n') {
            out.push('\n');
        }
        self.text(&out)
    }

    fn body(&mut self, body: &[u8]) -> String {
        if body.is_empty() {
            return String::new();
        }
        if let Ok(mut json) = serde_json::from_slice::<Value>(body) {
            self.mask_json(None, &mut json);
            return serde_json::to_string_pretty(&json).unwrap_or_default();
        }
        match std::str::from_utf8(body) {
            Ok(text) => scrub(&mask_credential_pairs(text)),
            Err(_) => format!("<{} bytes, not UTF-8>", body.len()),
        }
    }

    /// Masks personal data and secrets in place (in values, numbers and object keys), and labels
    /// the values that change every run.
    fn mask_json(&mut self, key: Option<&str>, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, mut value) in std::mem::take(map) {
                    self.mask_json(Some(&key), &mut value);
                    map.insert(scrub_around_uuids(&key), value);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.mask_json(key, item)),
            Value::Number(number) => {
                // A phone number or a national id sent as a number.
                let text = number.to_string();
                let masked = masked_by_key(key.unwrap_or_default(), &text).unwrap_or_else(|| scrub(&text));
                if masked != text {
                    *value = Value::String(masked);
                }
            }
            Value::String(text) => {
                let key = key.unwrap_or_default();
                let masked = match masked_by_key(key, text) {
                    Some(masked) => masked,
                    None => {
                        if let Some(kind) = changing_kind(key) {
                            // Left whole for its placeholder to replace: scrubbing first could
                            // mask a digit run of an id as a phone number, and the placeholder
                            // would then never match (a flaky rendering).
                            self.label(kind, text);
                            if self.placeholders.iter().any(|(original, _)| original == text) {
                                return;
                            }
                        }
                        // The same inside URLs and messages: ids stay whole for their placeholder.
                        scrub_around_uuids(&mask_credential_pairs(text))
                    }
                };
                *text = masked;
            }
            _ => {}
        }
    }
}

/// The placeholder kind of a field whose value changes every run.
fn changing_kind(key: &str) -> Option<&'static str> {
    Some(match key {
        "session_id" => "session",
        "correlation_id" => "correlation",
        "event_id" => "event",
        "order_id" => "order",
        "klarna_reference" => "reference",
        key if key.ends_with("_at") => "time",
        _ => return None,
    })
}

/// `kustom-hpp/0.1.0` -> `kustom-hpp/[version]`.
fn normalise_version(text: &str) -> String {
    text.replace(concat!("kustom-hpp/", env!("CARGO_PKG_VERSION")), "kustom-hpp/[version]")
}

/// `scrub` on everything but the UUID-shaped runs, which are ids, not phone numbers, and are
/// replaced by placeholders later.
fn scrub_around_uuids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    for uuid in find_uuids(text) {
        let Some(at) = rest.find(uuid.as_str()) else { continue };
        out.push_str(&scrub(&rest[..at]));
        out.push_str(&uuid);
        rest = &rest[at + uuid.len()..];
    }
    out.push_str(&scrub(rest));
    out
}

/// Every UUID-shaped run (8-4-4-4-12 hex digits) in `text`.
fn find_uuids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 36 <= bytes.len() {
        let candidate = &bytes[i..i + 36];
        let shaped = candidate.iter().enumerate().all(|(j, b)| match j {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
        let bounded = (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes.get(i + 36).is_none_or(|b| !b.is_ascii_alphanumeric());
        if shaped && bounded {
            found.push(String::from_utf8_lossy(candidate).into_owned());
            i += 36;
        } else {
            i += 1;
        }
    }
    found
}

/// Every RFC 3339 timestamp (`2026-11-26T12:00:00.000Z`, an offset, any fraction) in `text`.
fn find_timestamps(text: &str) -> Vec<String> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + SHAPE.len() <= bytes.len() {
        let fits = SHAPE.iter().zip(&bytes[i..]).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            b'T' => matches!(got, b'T' | b't'),
            other => got == other,
        });
        if !fits || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut end = i + SHAPE.len();
        if bytes.get(end) == Some(&b'.') {
            end += 1;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        match bytes.get(end) {
            Some(b'Z' | b'z') => end += 1,
            Some(b'+' | b'-') if bytes.len() >= end + 6 => end += 6,
            _ => {}
        }
        found.push(text[i..end].to_owned());
        i = end;
    }
    found
}

/// The path every API URL has under its base URL.
pub(crate) const API_PATH: &str = "/hpp/v1/sessions";

/// A request URI as the base URL it went to (scheme, authority and any path prefix before the
/// API's own path, so that a gateway's prefix is part of it) and the rest of the target: the
/// same target whatever the base URL.
pub(crate) fn split_base_url(uri: &http::Uri) -> (Option<String>, &str) {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let (prefix, target) = match target.find(API_PATH) {
        Some(at) => target.split_at(at),
        None => ("", target),
    };
    let origin = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => Some(format!("{scheme}://{authority}{prefix}")),
        _ => None,
    };
    (origin, target)
}

/// Every base URL in `text` that an API URL starts with: `scheme://host[:port][/prefix]` right
/// before `/hpp/v1/sessions` (the URLs a created session returns), whatever the host.
fn find_api_base_urls(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(API_PATH) {
        let before = &text[..at];
        // The URL starts at its scheme, after the last character that cannot be in a URL.
        let start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')' | '`'))
            .map_or(0, |i| i + 1);
        let candidate = &before[start..];
        if (candidate.starts_with("https://") || candidate.starts_with("http://")) && candidate.len() > "https://".len()
        {
            found.push(candidate.to_owned());
        }
    }
    found
}

/// Every `http://` origin on a loopback host with a port (`http://127.0.0.1:41234`) in `text`.
fn find_loopback_origins(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for host in ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"] {
        let mut rest = text;
        while let Some(at) = rest.find(host) {
            let after = &rest[at + host.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                found.push(format!("{host}{}", &after[..digits]));
            }
            rest = &after[digits..];
        }
    }
    found
}

/// `origin` when it is a local server's (`http://127.0.0.1:41234`), else a local origin nothing
/// listens on (`http://127.0.0.1:9`): what a recorded local origin is replayed as.
pub(crate) fn local_origin(origin: &str) -> String {
    if find_loopback_origins(origin).first().is_some_and(|found| found == origin) {
        origin.to_owned()
    } else {
        "http://127.0.0.1:9".to_owned()
    }
}

/// [`Redactor::request`] with a fresh redactor.
pub fn render_request(request: &Request) -> String {
    Redactor::new().request(request)
}

/// [`Redactor::response`] with a fresh redactor.
pub fn render_response(response: &Response) -> String {
    Redactor::new().response(response)
}

/// A request as it goes on the wire, for pinning the exact bytes: method and absolute URI, sorted
/// headers (the credentials replaced by their scheme and `<redacted>`, the SDK's version
/// normalised), a blank line, the body bytes as sent. No masking and no placeholders: for
/// requests built from fixed inputs.
pub fn wire(request: &Request) -> String {
    let mut out = format!("{} {}\n", request.method(), request.uri());
    let mut headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret_header(name, value) {
                // An `Authorization`-style value keeps its scheme (`Basic <redacted>`); any other
                // secret shows nothing of itself.
                match value.to_str().ok().and_then(|v| v.split_once(' ')) {
                    Some((scheme, _)) => format!("{scheme} <redacted>"),
                    None => "<redacted>".to_owned(),
                }
            } else {
                normalise_version(&String::from_utf8_lossy(value.as_bytes()))
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
