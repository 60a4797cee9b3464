//! The conformance kit for `hpp-core` transports: one call from a transport's own tests checks
//! every rule of [the transport contract](hpp_core::transport) against scripted loopback servers.
//!
//! ```no_run
//! # async fn run() {
//! # let my_transport = |_r: hpp_core::Request| async { Err::<hpp_core::Response, _>(hpp_core::TransportError::connect("x")) };
//! // In a test of your transport crate, on the runtime your transport needs:
//! hpp_conformance::check(&my_transport).await.assert_passed();
//! # }
//! ```
//!
//! It runs no runtime of its own (the servers are plain threads), so it suits async transports
//! (await it on Tokio) and blocking ones (`hpp_runtime::block_on(hpp_conformance::check(&t))`).
//!
//! What it checks, each against a fresh server:
//! - every operation's request arrives as built: method, target, each header, body;
//! - 2xx, 3xx, 4xx and 5xx answers come back as responses, with status, headers and body;
//! - redirects (302 same origin, 307 after a POST, 301 to another origin) are not followed;
//! - a body at the limit is read whole; a longer one comes back with its status, cut at the
//!   limit and marked [`BodyTruncated`](hpp_core::transport::BodyTruncated), with or without a `Content-Length`;
//! - a refused connection is `Connect` and "not sent"; a connection closed after the request was
//!   read is "may have been sent";
//! - a [`RequestTimeout`] on the request ends a silent exchange as a
//!   timeout that "may have been sent".
//!
//! [`check_environment`] checks one more rule, which needs the process environment: a transport
//! takes no proxy from `HTTP_PROXY` and its kin. Give it a test binary of its own.
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-conformance/0.1.0")]

pub mod loopback;

use std::fmt;
use std::time::Duration;

use hpp_core::transport::RequestTimeout;
use hpp_core::{
    Config, CreateSession, Credentials, DisableSession, DistributeSession, Distribution, Environment, Operation,
    ReadSession, Request, Response, Transport, TransportErrorKind,
};
use loopback::{Loopback, Recorded, Reply};

/// The body limit of the shipped transports, which [`check`] assumes.
pub use hpp_runtime::transport::DEFAULT_BODY_LIMIT;

/// What [`check_with`] assumes about the transport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The transport's response body limit in bytes.
    pub body_limit: usize,
    /// The [`RequestTimeout`] put on the request the server never answers.
    pub request_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { body_limit: DEFAULT_BODY_LIMIT, request_timeout: Duration::from_millis(300) }
    }
}

impl Options {
    /// Assumes this body limit.
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }
}

/// One check of the kit: the rule of [the contract](hpp_core::transport) it checks, what it
/// checks, and what to do when it fails.
#[derive(Debug, Clone, Copy)]
struct Rule {
    number: u8,
    name: &'static str,
    fix: &'static str,
}

const AS_BUILT: Rule = Rule {
    number: 1,
    name: "requests arrive as built",
    fix: "send the method, URI, every header and the body the core built, unchanged (adding Host, \
          Content-Length and connection headers is fine)",
};
const HTTPS_TRUSTED: Rule = Rule {
    number: 1,
    name: "https reaches a server the configured roots trust",
    fix: "build the TLS client from the roots the user gives (hpp_runtime::tls::client_config_with_roots; \
          reqwest: add_root_certificate; ureq: TlsConfig root_certs) and keep https URLs as https",
};
const EVERY_STATUS: Rule = Rule {
    number: 2,
    name: "every status is a response",
    fix: "return 3xx, 4xx and 5xx as Ok(Response) with status, headers and body; turn the client's \
          errors-for-status off (ureq: http_status_as_error(false); reqwest: no error_for_status)",
};
const NO_REDIRECT: Rule = Rule {
    number: 3,
    name: "redirects are not followed",
    fix: "turn redirects off (reqwest: redirect::Policy::none(); ureq: max_redirects(0)) and return the 3xx",
};
const BODY_CAP: Rule = Rule {
    number: 4,
    name: "bodies are capped",
    fix: "read at most the limit plus one byte, cut the body at the limit and mark it with \
          BodyTruncated::mark, keeping the status (hpp_runtime::transport::read_capped does both)",
};
const REFUSED: Rule = Rule {
    number: 5,
    name: "a refused connection is not sent",
    fix: "report a failure before any connection was made as TransportError::connect \
          (hpp_runtime::transport::sort_error sorts by the io::Error among the sources; look inside \
          your client's error type if it hides it)",
};
const UNTRUSTED: Rule = Rule {
    number: 5,
    name: "an untrusted certificate is refused before sending",
    fix: "verify the server's certificate against the roots (never accept any certificate) and report \
          the failed handshake as TransportError::connect: nothing was sent",
};
const WRONG_HOST: Rule = Rule {
    number: 5,
    name: "a certificate for another host is refused before sending",
    fix: "check the certificate's names against the URL's host, not only its chain (never skip the name \
          check; rustls' WebPkiServerVerifier does both) and report the failed handshake as \
          TransportError::connect: nothing was sent",
};
const DROPPED: Rule = Rule {
    number: 5,
    name: "a dropped connection may have been sent",
    fix: "report a failure after the request may have left as TransportError::other (or ::timeout), \
          never ::connect: a wrong \"not sent\" makes the SDK send a distribution twice",
};
const TIMEOUT: Rule = Rule {
    number: 6,
    name: "RequestTimeout is honoured",
    fix: "bound the whole attempt by the request's RequestTimeout (hpp_runtime::transport::attempt_timeout) \
          and report running out as TransportError::timeout",
};
const NO_ENV_PROXY: Rule = Rule {
    number: 7,
    name: "the environment chooses no proxy",
    fix: "build the client without the environment's proxies (reqwest: ClientBuilder::no_proxy; ureq: \
          Config proxy(None)) and take a proxy only from the user's code",
};

/// Each check's name and, when it failed, why and what to do.
#[derive(Debug, Clone, Default)]
pub struct Report {
    results: Vec<(Rule, Result<(), String>)>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|(_, r)| r.is_ok())
    }

    /// The failed checks and why.
    pub fn failures(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.results.iter().filter_map(|(rule, r)| r.as_ref().err().map(|why| (rule.name, why.as_str())))
    }

    /// The names of every check that ran.
    pub fn checks(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.results.iter().map(|(rule, _)| rule.name)
    }

    /// Panics with every failure listed, unless all passed.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.passed(), "the transport breaks the contract:\n{self}");
    }

    fn record(&mut self, rule: Rule, result: Result<(), String>) {
        self.results.push((rule, result));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (rule, result) in &self.results {
            match result {
                Ok(()) => writeln!(f, "ok    rule {}: {}", rule.number, rule.name)?,
                Err(why) => {
                    writeln!(f, "FAIL  rule {}: {}: {why}", rule.number, rule.name)?;
                    writeln!(f, "      fix: {}", rule.fix)?;
                }
            }
        }
        Ok(())
    }
}

/// Checks `transport` against the whole contract, assuming the default 1 MiB body limit.
pub async fn check<T: Transport>(transport: &T) -> Report {
    check_with(transport, &Options::default()).await
}

/// [`check`] with other assumptions.
pub async fn check_with<T: Transport>(transport: &T, options: &Options) -> Report {
    let mut report = Report::default();
    report.record(AS_BUILT, requests_arrive_as_built(transport).await);
    report.record(EVERY_STATUS, every_status_is_a_response(transport).await);
    report.record(NO_REDIRECT, redirects_are_not_followed(transport).await);
    report.record(BODY_CAP, bodies_are_capped(transport, options.body_limit).await);
    report.record(REFUSED, refused_is_not_sent(transport).await);
    report.record(DROPPED, dropped_may_have_been_sent(transport).await);
    report.record(TIMEOUT, request_timeout_is_honoured(transport, options).await);
    report
}

/// The certificate authority [`check_tls`]'s servers are under, DER-encoded: have the transport
/// you build trust it (and only it). A test fixture: its private key was destroyed when the
/// certificates were made (`src/tls/README.md`), and nothing outside these checks trusts it.
pub const TEST_ROOT_DER: &[u8] = include_bytes!("tls/ca.der");

/// Checks https, which [`check`] (plain http to loopback) cannot: `build(root)` makes the
/// transport trusting the DER certificate `root` ([`TEST_ROOT_DER`]) as its only root.
///
/// - Rule 1: a read reaches an https server (`https://localhost`) whose certificate chains to
///   the root, and its answer comes back.
/// - Rule 5: a server whose certificate does not (a self-signed one) is refused during the
///   handshake: nothing sent, reported as [`TransportError::connect`](hpp_core::TransportError::connect);
///   so is one whose certificate chains to the root but names other hosts (reached at
///   `127.0.0.2`, or `::1`, with a certificate for `localhost` and `127.0.0.1`).
///
/// A connector that breaks every https call, one that accepts any certificate, or one that checks
/// the chain but not the names fails it.
///
/// ```no_run
/// # async fn run() {
/// # struct MyTransport;
/// # impl hpp_core::Transport for MyTransport {
/// #     fn send(&self, _r: hpp_core::Request) -> impl Future<Output = Result<hpp_core::Response, hpp_core::TransportError>> + Send + 'static + use<> {
/// #         async { Err(hpp_core::TransportError::connect("x")) }
/// #     }
/// # }
/// # fn my_transport_with_root(_root_der: &[u8]) -> MyTransport { MyTransport }
/// hpp_conformance::check_tls(my_transport_with_root).await.assert_passed();
/// # }
/// ```
pub async fn check_tls<T: Transport>(build: impl FnOnce(&[u8]) -> T) -> Report {
    let transport = build(TEST_ROOT_DER);
    let mut report = Report::default();
    report.record(HTTPS_TRUSTED, https_reaches_a_trusted_server(&transport).await);
    report.record(UNTRUSTED, an_untrusted_certificate_is_refused(&transport).await);
    report.record(WRONG_HOST, a_certificate_for_another_host_is_refused(&transport).await);
    report
}

/// A TLS server configuration with the certificate `cert` (DER) and its PKCS#8 key.
fn tls_server(cert: &'static [u8], key: &'static [u8]) -> std::sync::Arc<hpp_runtime::tls::rustls::ServerConfig> {
    use hpp_runtime::tls::rustls::{self, pki_types};
    let key = pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(key));
    let config = rustls::ServerConfig::builder_with_provider(hpp_runtime::tls::provider())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .and_then(|b| b.with_no_client_auth().with_single_cert(vec![pki_types::CertificateDer::from(cert)], key));
    // invariant: the committed test certificates and keys are valid for ring.
    std::sync::Arc::new(config.expect("the test certificate and key are usable"))
}

async fn https_reaches_a_trusted_server<T: Transport>(transport: &T) -> Result<(), String> {
    let server = tls_server(include_bytes!("tls/leaf.der"), include_bytes!("tls/leaf.key.der"));
    let server = Loopback::start_tls(vec![Reply::Respond(response(200, br#"{"status":"WAITING"}"#))], server);
    let result = transport.send(read_request(&config(&server.base_url))).await;
    match (result, server.try_next_request()) {
        (Ok(response), Some(_)) if response.status() == 200 => Ok(()),
        (Ok(response), _) => Err(format!("the https read came back {} without reaching the server", response.status())),
        (Err(e), _) => Err(format!("an https read to a server the root trusts failed: {e}")),
    }
}

async fn an_untrusted_certificate_is_refused<T: Transport>(transport: &T) -> Result<(), String> {
    let server = tls_server(include_bytes!("tls/stranger.der"), include_bytes!("tls/stranger.key.der"));
    let server = Loopback::start_tls(vec![Reply::Close], server);
    let result = transport.send(read_request(&config(&server.base_url))).await;
    if server.try_next_request().is_some() {
        return Err("the request was sent to a server whose certificate the roots do not trust".to_owned());
    }
    match result {
        Ok(response) => Err(format!("a server the roots do not trust answered {}", response.status())),
        Err(e) if e.kind() == TransportErrorKind::Connect && !e.may_have_been_sent() => Ok(()),
        Err(e) => Err(format!("a failed handshake gave {:?}, may_have_been_sent={}", e.kind(), e.may_have_been_sent())),
    }
}

/// A server whose certificate chains to the root but names other hosts (`localhost`,
/// `127.0.0.1`), reached at another loopback address (`127.0.0.2`, or `::1`): refused in the
/// handshake, as a server elsewhere presenting a stolen or mis-issued certificate would be.
async fn a_certificate_for_another_host_is_refused<T: Transport>(transport: &T) -> Result<(), String> {
    let tls = tls_server(include_bytes!("tls/leaf.der"), include_bytes!("tls/leaf.key.der"));
    let server = Loopback::start_tls_at("127.0.0.2:0", vec![Reply::Close], tls.clone())
        .or_else(|| Loopback::start_tls_at("[::1]:0", vec![Reply::Close], tls));
    // No second loopback address on this machine: nothing to check the names against.
    let Some(server) = server else { return Ok(()) };
    let result = transport.send(read_request(&config(&server.base_url))).await;
    if server.try_next_request().is_some() {
        return Err(format!(
            "the request was sent to {} with a certificate for localhost and 127.0.0.1 only",
            server.base_url
        ));
    }
    match result {
        Ok(response) => Err(format!("a server with another host's certificate answered {}", response.status())),
        Err(e) if e.kind() == TransportErrorKind::Connect && !e.may_have_been_sent() => Ok(()),
        Err(e) => Err(format!("a failed handshake gave {:?}, may_have_been_sent={}", e.kind(), e.may_have_been_sent())),
    }
}

/// The proxy variables [`check_environment`] points at a loopback proxy.
pub const PROXY_VARIABLES: [&str; 6] =
    ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// Variables that exempt hosts from a proxy; removed for [`check_environment`]'s run.
const NO_PROXY_VARIABLES: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// Set in the process [`check_environment`] starts, so the same call there does the sending.
const CHILD_MARKER: &str = "HPP_CONFORMANCE_PROXY_CHECK";

/// Checks rule 7 of the contract: the environment chooses no proxy.
///
/// A process's environment cannot be changed safely while other threads run, so the check runs
/// in a process of its own: it starts a loopback "proxy", then runs the calling test again
/// (`<this test binary> <this test> --exact`) with every one of [`PROXY_VARIABLES`] pointing at
/// the proxy and `NO_PROXY` removed. There the same call builds the transport with `build` and
/// sends a read to a loopback server: the read must reach the server, and the proxy nothing.
/// Called from a binary's main thread instead of a test, it runs the binary again with the same
/// arguments (whatever ran before the call runs twice).
///
/// ```no_run
/// # async fn run() {
/// # fn my_transport() -> impl hpp_core::Transport { |_r: hpp_core::Request| async { Err::<hpp_core::Response, _>(hpp_core::TransportError::connect("x")) } }
/// // In a #[test] (on the runtime your transport needs):
/// hpp_conformance::check_environment(my_transport).await.assert_passed();
/// # }
/// ```
pub async fn check_environment<T: Transport>(build: impl FnOnce() -> T) -> Report {
    const NAME: Rule = NO_ENV_PROXY;
    let mut report = Report::default();
    if std::env::var_os(CHILD_MARKER).is_some() {
        let ex = exchange(&build(), Reply::Respond(response(200, b"{}")), read_request).await;
        let result = match (ex.recorded, ex.result) {
            (Some(_), _) => Ok(()),
            (None, Ok(r)) => Err(format!("the read never reached its host; something answered {}", r.status())),
            (None, Err(e)) => Err(format!("the read never reached its host: {e}")),
        };
        report.record(NAME, result);
        return report;
    }
    report.record(NAME, run_with_proxy_environment());
    report
}

/// The parent's half of [`check_environment`]: runs the caller again with the proxy variables set.
fn run_with_proxy_environment() -> Result<(), String> {
    let proxy = Loopback::start(vec![response(502, b"from the proxy")]);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running executable: {e}"))?;
    let mut command = std::process::Command::new(exe);
    match std::thread::current().name() {
        Some("main") | None => command.args(std::env::args_os().skip(1)),
        // libtest names each test's thread after the test.
        Some(test) => command.args([test, "--exact", "--nocapture", "--test-threads=1"]),
    };
    for name in PROXY_VARIABLES {
        command.env(name, &proxy.base_url);
    }
    for name in NO_PROXY_VARIABLES {
        command.env_remove(name);
    }
    let output = command.env(CHILD_MARKER, "1").output().map_err(|e| format!("cannot run the check: {e}"))?;
    if proxy.try_next_request().is_some() {
        return Err(
            "the request went to the proxy named in HTTP_PROXY, credentials included (in clear over http)".to_owned()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.contains("running 0 tests") {
        return Err("the test running the check could not be run again by its name: call it from a #[test]".into());
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = format!("{stdout}{stderr}")
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(format!("the run with proxy variables set failed ({}):\n{tail}", output.status));
    }
    Ok(())
}

fn config(base_url: &str) -> Config {
    let environment =
        hpp_core::BaseUrl::parse(base_url).map(Environment::Custom).expect("a loopback base URL is accepted");
    Config::new(environment, Credentials::basic("conformance", "not-a-real-password").expect("valid credentials"))
}

fn response(status: u16, body: &[u8]) -> Response {
    http::Response::builder()
        .status(status)
        .header("x-conformance", format!("status-{status}"))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .expect("a valid response")
}

async fn exchange<T: Transport>(transport: &T, reply: Reply, build: impl FnOnce(&Config) -> Request) -> Exchange {
    let server = Loopback::start_replies(vec![reply]);
    let request = build(&config(&server.base_url));
    let result = transport.send(request).await;
    Exchange { result, recorded: server.try_next_request(), server }
}

struct Exchange {
    result: Result<Response, hpp_core::TransportError>,
    recorded: Option<Recorded>,
    #[allow(dead_code)] // kept alive until the exchange is checked
    server: Loopback,
}

async fn requests_arrive_as_built<T: Transport>(transport: &T) -> Result<(), String> {
    type Build = fn(&Config) -> Request;
    let builds: [(&str, Build); 4] = [
        ("create", |c| {
            let mut create = CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/ö-1");
            let mut urls = hpp_core::MerchantUrls::default();
            urls.success = Some("https://shop.example/ok?sid={{session_id}}".into());
            create.merchant_urls = Some(urls);
            create.build(c).expect("builds")
        }),
        ("read", |c| ReadSession::new("9cbc9884-1fdb-45a8-9694-9340340d0436").build(c).expect("builds")),
        ("disable", |c| DisableSession::new("s-1").build(c).expect("builds")),
        ("distribute", |c| {
            let email = Distribution::email("jane.doe+hpp@example.com").expect("valid");
            DistributeSession::new("s-1", email).build(c).expect("builds")
        }),
    ];
    for (name, build) in builds {
        let mut built = None;
        let ex = exchange(transport, Reply::Respond(response(200, b"{}")), |c| {
            let request = build(c);
            built = Some(clone_request(&request));
            request
        })
        .await;
        let built = built.expect("built");
        ex.result.map_err(|e| format!("{name}: {e}"))?;
        let got = ex.recorded.ok_or_else(|| format!("{name}: the server received nothing"))?;
        let target = built.uri().path_and_query().map_or("/", |p| p.as_str());
        if got.method != built.method().as_str() || got.target != target {
            return Err(format!("{name}: sent {} {}, built {} {target}", got.method, got.target, built.method()));
        }
        for (header, value) in built.headers() {
            let arrived: Vec<&[u8]> =
                got.headers.iter().filter(|(n, _)| n == header.as_str()).map(|(_, v)| v.as_slice()).collect();
            if arrived != [value.as_bytes()] {
                let shown =
                    if header == http::header::AUTHORIZATION { "<credentials>".into() } else { format!("{value:?}") };
                return Err(format!(
                    "{name}: header {header} arrived {} times or changed (built {shown})",
                    arrived.len()
                ));
            }
        }
        if got.body != *built.body() {
            return Err(format!(
                "{name}: body changed ({} bytes built, {} arrived)",
                built.body().len(),
                got.body.len()
            ));
        }
    }
    Ok(())
}

fn clone_request(request: &Request) -> Request {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

fn read_request(config: &Config) -> Request {
    ReadSession::new("s-1").build(config).expect("builds")
}

async fn every_status_is_a_response<T: Transport>(transport: &T) -> Result<(), String> {
    let body = br#"{"error_code":"NOT_FOUND","error_messages":["nope"],"correlation_id":"c-1"}"#;
    for status in [200, 201, 204, 400, 401, 403, 404, 409, 429, 500, 502, 503] {
        let sent_body: &[u8] = if status == 204 { b"" } else { body };
        let ex = exchange(transport, Reply::Respond(response(status, sent_body)), read_request).await;
        let got = ex.result.map_err(|e| format!("{status} came back as a transport error: {e}"))?;
        if got.status().as_u16() != status {
            return Err(format!("{status} came back as {}", got.status()));
        }
        let tag = format!("status-{status}");
        if got.headers().get("x-conformance").map(|v| v.as_bytes()) != Some(tag.as_bytes()) {
            return Err(format!("{status}: response headers were not returned"));
        }
        if got.body() != sent_body {
            return Err(format!(
                "{status}: body changed ({} bytes sent, {} returned)",
                sent_body.len(),
                got.body().len()
            ));
        }
    }
    Ok(())
}

fn redirect(status: u16, location: &str) -> Response {
    http::Response::builder().status(status).header("location", location).body(Vec::new()).expect("valid")
}

async fn redirects_are_not_followed<T: Transport>(transport: &T) -> Result<(), String> {
    let elsewhere = Loopback::start(vec![response(200, br#"{"status":"COMPLETED"}"#)]);
    let cases: [(u16, bool, String); 3] = [
        (302, false, "/hpp/v1/sessions/other-session".into()),
        (307, true, "/hpp/v1/sessions/s-1/distribution-again".into()),
        (301, false, format!("{}/hpp/v1/sessions/s-1", elsewhere.base_url)),
    ];
    for (status, post, location) in cases {
        // A same-origin follow would reach the second reply.
        let server = Loopback::start_replies(vec![
            Reply::Respond(redirect(status, &location)),
            Reply::Respond(response(200, br#"{"status":"COMPLETED"}"#)),
        ]);
        let config = config(&server.base_url);
        let request = if post {
            DistributeSession::new("s-1", Distribution::token("278352").expect("valid")).build(&config).expect("builds")
        } else {
            read_request(&config)
        };
        let got = transport.send(request).await.map_err(|e| format!("{status}: a transport error: {e}"))?;
        if got.status().as_u16() != status {
            return Err(format!("a {status} redirect was followed: the transport returned {}", got.status()));
        }
        server.next_request();
        if server.try_next_request().is_some() || elsewhere.try_next_request().is_some() {
            return Err(format!("a {status} redirect was followed: its target received a request"));
        }
    }
    Ok(())
}

fn raw_body(status: u16, len: usize, with_length: bool) -> Reply {
    let mut out = format!("HTTP/1.1 {status} Whatever\r\nconnection: close\r\n").into_bytes();
    if with_length {
        out.extend_from_slice(format!("content-length: {len}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.resize(out.len() + len, b'a');
    Reply::Raw(out)
}

async fn bodies_are_capped<T: Transport>(transport: &T, limit: usize) -> Result<(), String> {
    for (status, with_length) in [(200, true), (200, false), (400, true), (503, false)] {
        let framing = if with_length { "with content-length" } else { "delimited by close" };
        let ex = exchange(transport, raw_body(status, limit, with_length), read_request).await;
        let got =
            ex.result.map_err(|e| format!("a {status} body of exactly the limit ({framing}) was refused: {e}"))?;
        if got.body().len() != limit || hpp_core::transport::BodyTruncated::of(&got).is_some() {
            return Err(format!("a {status} body of {limit} bytes ({framing}) came back as {}", got.body().len()));
        }
        let ex = exchange(transport, raw_body(status, limit + 100, with_length), read_request).await;
        match ex.result {
            Ok(r)
                if r.status() == status
                    && r.body().len() == limit
                    && hpp_core::transport::BodyTruncated::of(&r) == Some(limit) => {}
            Ok(r) => {
                return Err(format!(
                    "a {status} body over the limit ({framing}) came back as {} with {} bytes, marked {:?} \
                     (expected {status}, {limit} bytes, marked BodyTruncated({limit}))",
                    r.status(),
                    r.body().len(),
                    hpp_core::transport::BodyTruncated::of(&r)
                ));
            }
            Err(e) => return Err(format!("a {status} body over the limit ({framing}) lost its status: {e}")),
        }
    }
    Ok(())
}

async fn refused_is_not_sent<T: Transport>(transport: &T) -> Result<(), String> {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        listener.local_addr().map_err(|e| e.to_string())?.port()
    };
    let request = read_request(&config(&format!("http://127.0.0.1:{port}")));
    match transport.send(request).await {
        Err(e) if e.kind() == TransportErrorKind::Connect && !e.may_have_been_sent() => Ok(()),
        Err(e) => {
            Err(format!("a refused connection gave {:?}, may_have_been_sent={}", e.kind(), e.may_have_been_sent()))
        }
        Ok(r) => Err(format!("a refused connection returned a response ({})", r.status())),
    }
}

async fn dropped_may_have_been_sent<T: Transport>(transport: &T) -> Result<(), String> {
    let ex = exchange(transport, Reply::Close, |c| {
        DistributeSession::new("s-1", Distribution::token("278352").expect("valid")).build(c).expect("builds")
    })
    .await;
    match ex.result {
        Err(e) if e.may_have_been_sent() && e.kind() != TransportErrorKind::Connect => Ok(()),
        Err(e) => Err(format!(
            "a connection closed after the request arrived gave {:?}, may_have_been_sent={}",
            e.kind(),
            e.may_have_been_sent()
        )),
        Ok(r) => Err(format!("a closed connection returned a response ({})", r.status())),
    }
}

async fn request_timeout_is_honoured<T: Transport>(transport: &T, options: &Options) -> Result<(), String> {
    let ex = exchange(transport, Reply::Hold(Duration::from_secs(5)), |c| {
        let mut request = read_request(c);
        request.extensions_mut().insert(RequestTimeout(options.request_timeout));
        request
    })
    .await;
    match ex.result {
        Err(e) if e.kind() == TransportErrorKind::Timeout && e.may_have_been_sent() => Ok(()),
        Err(e) => Err(format!(
            "a silent server with RequestTimeout({:?}) gave {:?}, may_have_been_sent={} (was the timeout ignored?)",
            options.request_timeout,
            e.kind(),
            e.may_have_been_sent()
        )),
        Ok(r) => Err(format!("a silent server returned a response ({})", r.status())),
    }
}
