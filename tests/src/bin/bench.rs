//! Transport benchmark: raw hyper-util, raw reqwest, `hpp-hyper` (plain, behind `SharedTransport`,
//! and inside a pass-through tower layer) and `hpp-reqwest` sending the
//! same distribution request to a minimal loopback hyper server in another process, sequentially
//! and at 32 in flight. Warm-up, then rounds; medians of requests/s, p50, p99 and client CPU per
//! request (the client runs on one thread, whose CPU time Linux reports in
//! `/proc/thread-self/schedstat`).
//!
//! Three kinds of rows per HTTP stack, so that each part of the SDK is compared with what it
//! replaces:
//! - the raw client sending a request assembled from parts prepared once (no per-request work
//!   beyond the client's; raw hyper-util with and without the per-request timeout `hpp-hyper`
//!   keeps by default);
//! - **transport** rows: the SDK transport sending the same hand-assembled request, against the
//!   raw client with the same timeout (what the transport itself adds);
//! - **client** rows: the SDK's whole call (`Distribution::email`, the core's build with its checks,
//!   the transport, the parse), against the raw client with the same timeout, and against the raw
//!   client doing the same per-request wire work by hand (`serde_json` of the body, the URL parsed
//!   from the string the API returned: the `cargo bench -p hpp-core` baseline).
//!
//! `cargo xtask bench [ROUNDS]`; `cargo xtask instructions` counts each row's instructions per
//! request under callgrind (`profile KIND 1 N`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hpp_core::retry::RetryPolicy;
use hpp_core::{Client, Config, Credentials, DistributeSession, Distribution, Environment, Transport};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full};

const SESSION: &str = "9cbc9884-1fdb-45a8-9694-9340340d0436";
const EMAIL: &str = "jane.doe@example.com";
const KEY: &str = "kco_test_api_0123456789abcdef";

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("server") => server(),
        // `kinds`: each row's KIND, what it is compared with (R, H; `-` for none) and its name.
        Some("kinds") => {
            for kind in KINDS {
                let (r, h) = kind.compared_with();
                let arg = |k: Option<Kind>| k.map_or("-", Kind::arg);
                println!("{} {} {} {}", kind.arg(), arg(r), arg(h), kind.name().trim());
            }
        }
        // `profile KIND IN_FLIGHT REQUESTS`: one cell, no table (for callgrind).
        Some("profile") => {
            let name = args.next().unwrap_or_default();
            let Some(kind) = KINDS.into_iter().find(|kind| kind.arg() == name) else {
                let names: Vec<&str> = KINDS.iter().map(|kind| kind.arg()).collect();
                eprintln!("hpp-bench profile: KIND is one of {}", names.join(", "));
                std::process::exit(2);
            };
            let in_flight = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
            let requests = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
            client(Plan::Profile(kind, in_flight, requests));
        }
        other => client(Plan::Table(other.and_then(|r| r.parse().ok()).unwrap_or(5))),
    }
}

/// Answers every request with 201 and no body, on one thread.
fn server() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", listener.local_addr().expect("addr").port());
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                    let _ = request.into_body().collect().await;
                    let mut response = http::Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = http::StatusCode::CREATED;
                    Ok::<_, std::convert::Infallible>(response)
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    RawHyper,
    RawHyperTimeout,
    RawHyperByHand,
    HppHyperTransport,
    HppHyper,
    HppHyperShared,
    HppHyperLayered,
    RawReqwest,
    RawReqwestByHand,
    HppReqwestTransport,
    HppReqwest,
}

/// The rows, in table order.
const KINDS: [Kind; 11] = [
    Kind::RawHyper,
    Kind::RawHyperTimeout,
    Kind::RawHyperByHand,
    Kind::HppHyperTransport,
    Kind::HppHyper,
    Kind::HppHyperShared,
    Kind::HppHyperLayered,
    Kind::RawReqwest,
    Kind::RawReqwestByHand,
    Kind::HppReqwestTransport,
    Kind::HppReqwest,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::RawHyper => "raw hyper-util",
            Self::RawHyperTimeout => "  + timeout (R)",
            Self::RawHyperByHand => "  R, by hand (H)",
            Self::HppHyperTransport => "hpp-hyper transport",
            Self::HppHyper => "hpp-hyper client",
            Self::HppHyperShared => "  shared (dyn)",
            Self::HppHyperLayered => "  tower layer",
            Self::RawReqwest => "raw reqwest (R)",
            Self::RawReqwestByHand => "  R, by hand (H)",
            Self::HppReqwestTransport => "hpp-reqwest transport",
            Self::HppReqwest => "hpp-reqwest client",
        }
    }

    /// Its name on the command line (`profile KIND`, `cargo xtask instructions`).
    fn arg(self) -> &'static str {
        match self {
            Self::RawHyper => "raw-hyper",
            Self::RawHyperTimeout => "raw-hyper-timeout",
            Self::RawHyperByHand => "raw-hyper-by-hand",
            Self::HppHyperTransport => "hpp-hyper-transport",
            Self::HppHyper => "hpp-hyper",
            Self::HppHyperShared => "hpp-hyper-shared",
            Self::HppHyperLayered => "hpp-hyper-layered",
            Self::RawReqwest => "raw-reqwest",
            Self::RawReqwestByHand => "raw-reqwest-by-hand",
            Self::HppReqwestTransport => "hpp-reqwest-transport",
            Self::HppReqwest => "hpp-reqwest",
        }
    }

    /// The rows this one is compared with: the raw client with the same timeout (R), and the
    /// raw client doing the same per-request work by hand (H), where that comparison means something.
    fn compared_with(self) -> (Option<Self>, Option<Self>) {
        match self {
            Self::RawHyper | Self::RawReqwest => (None, None),
            Self::RawHyperTimeout => (Some(Self::RawHyper), None),
            Self::RawHyperByHand | Self::HppHyperTransport => (Some(Self::RawHyperTimeout), None),
            Self::HppHyper | Self::HppHyperShared | Self::HppHyperLayered => {
                (Some(Self::RawHyperTimeout), Some(Self::RawHyperByHand))
            }
            Self::RawReqwestByHand | Self::HppReqwestTransport => (Some(Self::RawReqwest), None),
            Self::HppReqwest => (Some(Self::RawReqwest), Some(Self::RawReqwestByHand)),
        }
    }
}

type Layered = hpp_runtime::tower::ServiceTransport<
    hpp_runtime::tower::TransportService<hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>>,
>;

/// Everything one client kind needs, built once.
struct Clients {
    url: String,
    uri: http::Uri,
    body: Bytes,
    /// The body as a model, for the rows that serialize it per request.
    body_model: hpp_core::__private::DistributionRequest,
    authorization: HeaderValue,
    /// The client `HyperTransport::new` wraps (same connector, same pool settings), driven directly.
    raw_hyper: hyper_util::client::legacy::Client<hpp_hyper::DefaultConnector, Full<Bytes>>,
    hpp_hyper_transport: hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>,
    hpp_reqwest_transport: hpp_reqwest::ReqwestTransport,
    raw_reqwest: hpp_reqwest::reqwest::Client,
    hpp_hyper: Client<hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>>,
    /// The same transport behind `SharedTransport` (`Client`'s default type).
    hpp_hyper_shared: Client,
    /// The same transport inside a pass-through tower layer.
    hpp_hyper_layered: Client<Layered>,
    hpp_reqwest: Client<hpp_reqwest::ReqwestTransport>,
}

impl Clients {
    /// The distribution request, assembled by hand from parts prepared once.
    fn assembled<B>(&self, uri: http::Uri, body: B) -> http::Request<B> {
        let mut request = http::Request::new(body);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.authorization.clone());
        headers.insert(USER_AGENT, HeaderValue::from_static("raw"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        request
    }

    async fn raw_hyper_send(&self, request: http::Request<Bytes>) {
        let response = self.raw_hyper.request(request.map(Full::new)).await.expect("raw hyper");
        assert_eq!(response.status(), 201);
        let _ = response.into_body().collect().await.expect("body");
    }

    async fn once(&self, kind: Kind) {
        match kind {
            Kind::RawHyperTimeout => {
                // What hpp-hyper's default does beyond the raw client: a per-request deadline.
                let raw = Box::pin(self.once(Kind::RawHyper));
                tokio::time::timeout(Duration::from_secs(60), raw).await.expect("in time");
            }
            Kind::RawHyper => {
                let request = self.assembled(self.uri.clone(), self.body.clone());
                self.raw_hyper_send(request).await;
            }
            Kind::RawHyperByHand => {
                // The wire work the core does, written by hand: the body serialized and the URL
                // parsed per request.
                let body = Bytes::from(serde_json::to_vec(&self.body_model).expect("json"));
                let request = self.assembled(self.url.parse().expect("uri"), body);
                let raw = Box::pin(self.raw_hyper_send(request));
                tokio::time::timeout(Duration::from_secs(60), raw).await.expect("in time");
            }
            Kind::HppHyperTransport => {
                let request = self.assembled(self.uri.clone(), self.body.to_vec());
                let response = self.hpp_hyper_transport.send(request).await.expect("hpp-hyper transport");
                assert_eq!(response.status(), 201);
            }
            Kind::HppReqwestTransport => {
                let request = self.assembled(self.uri.clone(), self.body.to_vec());
                let response = self.hpp_reqwest_transport.send(request).await.expect("hpp-reqwest transport");
                assert_eq!(response.status(), 201);
            }
            Kind::RawReqwest | Kind::RawReqwestByHand => {
                let body = match kind {
                    Kind::RawReqwestByHand => Bytes::from(serde_json::to_vec(&self.body_model).expect("json")),
                    _ => self.body.clone(),
                };
                let response = self
                    .raw_reqwest
                    .post(&self.url)
                    .header(AUTHORIZATION, self.authorization.clone())
                    .header(USER_AGENT, "raw")
                    .header(ACCEPT, "application/json")
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("raw reqwest");
                assert_eq!(response.status(), 201);
                let _ = response.bytes().await.expect("body");
            }
            Kind::HppHyper => {
                let op = DistributeSession::new(&self.url, Distribution::email(EMAIL).expect("valid"));
                self.hpp_hyper.send(&op).await.expect("hpp-hyper");
            }
            Kind::HppHyperShared => {
                let op = DistributeSession::new(&self.url, Distribution::email(EMAIL).expect("valid"));
                self.hpp_hyper_shared.send(&op).await.expect("hpp-hyper shared");
            }
            Kind::HppHyperLayered => {
                let op = DistributeSession::new(&self.url, Distribution::email(EMAIL).expect("valid"));
                self.hpp_hyper_layered.send(&op).await.expect("hpp-hyper layered");
            }
            Kind::HppReqwest => {
                let op = DistributeSession::new(&self.url, Distribution::email(EMAIL).expect("valid"));
                self.hpp_reqwest.send(&op).await.expect("hpp-reqwest");
            }
        }
    }
}

struct Round {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: f64,
}

async fn round(clients: &Arc<Clients>, kind: Kind, in_flight: usize, requests: usize) -> Round {
    let cpu = thread_cpu_ns();
    let started = Instant::now();
    let per_task = requests / in_flight;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let clients = clients.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                clients.once(kind).await;
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(requests);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("task"));
    }
    let elapsed = started.elapsed();
    let cpu_ns = thread_cpu_ns() - cpu;
    latencies.sort();
    let n = latencies.len();
    let pick = |p: f64| latencies[((n as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    Round {
        rps: n as f64 / elapsed.as_secs_f64(),
        p50_us: pick(0.5),
        p99_us: pick(0.99),
        cpu_us: cpu_ns as f64 / 1e3 / n as f64,
    }
}

/// An SDK client without retries (a benchmark measures one attempt).
fn hpp_client<T: Transport>(config: &Config, transport: T) -> Client<T> {
    Client::new(config.clone(), transport, hpp_runtime::TokioTimer::new()).with_retry_policy(RetryPolicy::none())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

enum Plan {
    Table(usize),
    Profile(Kind, usize, usize),
}

fn client(plan: Plan) {
    let exe = std::env::current_exe().expect("own path");
    let mut server = Command::new(exe).arg("server").stdout(Stdio::piped()).spawn().expect("start server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("port");
    let port: u16 = line.trim().parse().expect("port number");
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("{base}/hpp/v1/sessions/{SESSION}/distribution");

    // The client runs on this one thread.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let config = Config::new(hpp_core::BaseUrl::parse(&base).map(Environment::Custom).expect("base"), Credentials::api_key(KEY).expect("key"));
        let mut contact = hpp_core::__private::ContactInformation::default();
        contact.email = Some(EMAIL.to_owned());
        let mut body = hpp_core::__private::DistributionRequest::default();
        body.contact_information = Some(contact);
        body.method = Some(hpp_core::DistributionMethod::Email);
        let mut authorization = HeaderValue::from_str(&format!("Basic {KEY}")).expect("header");
        authorization.set_sensitive(true);
        let connector = hpp_hyper::HyperTransport::connector(
            hpp_runtime::tls::client_config(),
            hpp_hyper::DEFAULT_CONNECT_TIMEOUT,
        );
        let clients = Arc::new(Clients {
            uri: url.parse().expect("uri"),
            url: url.clone(),
            body: Bytes::from(serde_json::to_vec(&body).expect("json")),
            body_model: body,
            authorization,
            raw_hyper: hpp_hyper::HyperTransport::client_builder().build(connector),
            hpp_hyper_transport: hpp_hyper::HyperTransport::new(),
            hpp_reqwest_transport: hpp_reqwest::ReqwestTransport::new().expect("reqwest"),
            raw_reqwest: hpp_reqwest::ReqwestTransport::new().expect("reqwest").client().clone(),
            hpp_hyper: hpp_client(&config, hpp_hyper::HyperTransport::new()),
            hpp_hyper_shared: hpp_client(&config, hpp_hyper::HyperTransport::new()).into_shared(),
            hpp_hyper_layered: hpp_client(
                &config,
                hpp_runtime::tower::layered(hpp_hyper::HyperTransport::new(), tower_layer::Identity::new()),
            ),
            hpp_reqwest: hpp_client(&config, hpp_reqwest::ReqwestTransport::new().expect("reqwest")),
        });
        let rounds = match plan {
            Plan::Profile(kind, in_flight, requests) => {
                let r = round(&clients, kind, in_flight, requests).await;
                println!("{}: {:.2} µs CPU per request", kind.name(), r.cpu_us);
                return;
            }
            Plan::Table(rounds) => rounds,
        };
        println!("hpp-bench: {rounds} rounds per cell after warm-up; medians. Server: one thread, other process.");
        println!("R: the raw client with the same timeout; H: R doing the core's per-request work by hand.");
        println!(
            "{:<22} {:>9} {:>10} {:>9} {:>9} {:>11} {:>10} {:>10} {:>10}",
            "client", "in flight", "req/s", "p50 µs", "p99 µs", "CPU µs/req", "CPU vs R", "CPU vs H", "req/s vs R"
        );
        for in_flight in [1, 32] {
            let requests = if in_flight == 1 { 4_000 } else { 32_000 };
            let mut medians: Vec<(Kind, f64, f64)> = Vec::new();
            for kind in KINDS {
                round(&clients, kind, in_flight, requests / 4).await; // warm-up
                let mut results = Vec::new();
                for _ in 0..rounds {
                    results.push(round(&clients, kind, in_flight, requests).await);
                }
                let cpu = median(results.iter().map(|r| r.cpu_us).collect());
                let rps = median(results.iter().map(|r| r.rps).collect());
                let p50 = median(results.iter().map(|r| r.p50_us).collect());
                let p99 = median(results.iter().map(|r| r.p99_us).collect());
                medians.push((kind, cpu, rps));
                let of = |other: Option<Kind>| other.and_then(|o| medians.iter().find(|m| m.0 == o)).map(|m| (m.1, m.2));
                let (against_raw, against_hand) = kind.compared_with();
                let ratio = |x: Option<f64>| x.map_or_else(|| "".to_owned(), |x| format!("{x:.3}x"));
                let cpu_vs_raw = ratio(of(against_raw).map(|(c, _)| cpu / c));
                let cpu_vs_hand = ratio(of(against_hand).map(|(c, _)| cpu / c));
                let rps_vs_raw = ratio(of(against_raw).map(|(_, r)| rps / r));
                println!(
                    "{:<22} {in_flight:>9} {rps:>10.0} {p50:>9.1} {p99:>9.1} {cpu:>11.2} {cpu_vs_raw:>10} {cpu_vs_hand:>10} {rps_vs_raw:>10}",
                    kind.name()
                );
            }
        }
    });
    let _ = server.kill();
    let _ = server.wait();
}
