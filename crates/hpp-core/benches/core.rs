//! What the sans-IO core costs: building each request and parsing each response, next to a
//! baseline doing the same wire work by hand (serde_json on the same structs, a hand-assembled
//! `http::Request` with a precomputed `Authorization`). Reports time and allocations per operation.
//!
//! `cargo bench -p hpp-core` (compare `baseline_*` with the matching `core_*`).

use divan::{AllocProfiler, Bencher, black_box};
use hpp_core::__private::{ContactInformation, DistributionRequest};
use hpp_core::model::{DistributionMethod, Session};
use hpp_core::{
    Config, CreateSession, Credentials, DisableSession, DistributeSession, Distribution, Environment, Mode, Operation,
    ReadSession,
};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const ID: &str = "9cbc9884-1fdb-45a8-9694-9340340d0436";
const URL: &str = "https://api.playground.kustom.co/hpp/v1/sessions/9cbc9884-1fdb-45a8-9694-9340340d0436/distribution";
const SESSION_JSON: &[u8] = br#"{"session_id":"9cbc9884-1fdb-45a8-9694-9340340d0436","status":"WAITING","updated_at":"2019-05-13T14:51:46.288Z","expires_at":"2019-05-15T13:51:43.507Z"}"#;
const CREATED_JSON: &[u8] = br#"{"session_id":"9cbc9884-1fdb-45a8-9694-9340340d0436","session_url":"https://api.playground.kustom.co/hpp/v1/sessions/9cbc9884-1fdb-45a8-9694-9340340d0436","distribution_url":"https://api.playground.kustom.co/hpp/v1/sessions/9cbc9884-1fdb-45a8-9694-9340340d0436/distribution","redirect_url":"https://pay.playground.kustom.co/eu/hpp/payments/2OCkffK","qr_code_url":"https://pay.playground.kustom.co/eu/hpp/payments/2OCkffK/qr","expires_at":"2038-01-19T03:14:07.000Z"}"#;
const ERROR_JSON: &[u8] = br#"{"error_code":"CONSTRAINT_VIOLATION","error_messages":["Invalid request"],"correlation_id":"c0ffee00-0000-4000-8000-000000000001"}"#;

fn main() {
    divan::main();
}

fn config() -> Config {
    Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_0123456789abcdef").unwrap())
}

fn response(status: u16, body: &[u8]) -> http::Response<Vec<u8>> {
    http::Response::builder().status(status).header(CONTENT_TYPE, "application/json").body(body.to_vec()).unwrap()
}

fn distribute_op() -> DistributeSession {
    DistributeSession::new(URL, Distribution::email("jane.doe@example.com").unwrap())
}

// ---- the core ----

#[divan::bench]
fn core_build_distribute(bencher: Bencher<'_, '_>) {
    let (config, op) = (config(), distribute_op());
    bencher.bench_local(|| black_box(&op).build(black_box(&config)).unwrap());
}

#[divan::bench]
fn core_build_read(bencher: Bencher<'_, '_>) {
    let (config, op) = (config(), ReadSession::new(ID));
    bencher.bench_local(|| black_box(&op).build(black_box(&config)).unwrap());
}

#[divan::bench]
fn core_build_disable(bencher: Bencher<'_, '_>) {
    let (config, op) = (config(), DisableSession::new(ID));
    bencher.bench_local(|| black_box(&op).build(black_box(&config)).unwrap());
}

#[divan::bench]
fn core_build_create(bencher: Bencher<'_, '_>) {
    let (config, op) = (config(), CreateSession::new("https://api.playground.kustom.co/checkout/v3/orders/92d97f60"));
    bencher.bench_local(|| black_box(&op).build(black_box(&config)).unwrap());
}

/// The caller's part of a distribution: checking the address (what `Distribution::email` costs).
#[divan::bench]
fn core_distribution_email() -> Distribution {
    Distribution::email(black_box("jane.doe@example.com")).unwrap()
}

#[divan::bench]
fn core_parse_distribute_201(bencher: Bencher<'_, '_>) {
    let op = distribute_op();
    bencher.with_inputs(|| response(201, b"")).bench_local_values(|r| op.parse(r).unwrap());
}

#[divan::bench]
fn core_parse_read_200(bencher: Bencher<'_, '_>) {
    let op = ReadSession::new(ID);
    bencher.with_inputs(|| response(200, SESSION_JSON)).bench_local_values(|r| op.parse(r).unwrap());
}

#[divan::bench]
fn core_parse_create_201(bencher: Bencher<'_, '_>) {
    let op = CreateSession::new("https://x.example/o");
    bencher.with_inputs(|| response(201, CREATED_JSON)).bench_local_values(|r| op.parse(r).unwrap());
}

#[divan::bench]
fn core_parse_error_400(bencher: Bencher<'_, '_>) {
    let op = distribute_op();
    bencher.with_inputs(|| response(400, ERROR_JSON)).bench_local_values(|r| op.parse(r).unwrap_err());
}

#[divan::bench]
fn core_build_and_parse_distribute(bencher: Bencher<'_, '_>) {
    let (config, op) = (config(), distribute_op());
    bencher.with_inputs(|| response(201, b"")).bench_local_values(|r| {
        black_box(op.build(&config).unwrap());
        op.parse(r).unwrap()
    });
}

// ---- the baseline: the same wire work by hand ----

struct Baseline {
    authorization: HeaderValue,
    body: DistributionRequest,
}

fn baseline() -> Baseline {
    let mut authorization = HeaderValue::from_static("Basic kco_test_api_0123456789abcdef");
    authorization.set_sensitive(true);
    let mut contact = ContactInformation::default();
    contact.email = Some("jane.doe@example.com".to_owned());
    let mut body = DistributionRequest::default();
    body.contact_information = Some(contact);
    body.method = Some(DistributionMethod::Email);
    Baseline { authorization, body }
}

fn baseline_request(b: &Baseline) -> http::Request<Vec<u8>> {
    let mut request = http::Request::new(serde_json::to_vec(&b.body).unwrap());
    *request.method_mut() = http::Method::POST;
    // The URL arrives as a string (the distribution_url of a create response) and is parsed.
    *request.uri_mut() = http::Uri::try_from(black_box(URL)).unwrap();
    let headers = request.headers_mut();
    headers.reserve(4);
    headers.insert(AUTHORIZATION, b.authorization.clone());
    headers.insert(USER_AGENT, HeaderValue::from_static("baseline"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}

#[divan::bench]
fn baseline_build_distribute(bencher: Bencher<'_, '_>) {
    let b = baseline();
    bencher.bench_local(|| baseline_request(black_box(&b)));
}

#[divan::bench]
fn baseline_parse_read_200(bencher: Bencher<'_, '_>) {
    bencher.with_inputs(|| response(200, SESSION_JSON)).bench_local_values(|r| {
        assert!(r.status().is_success());
        serde_json::from_slice::<Session>(r.body()).unwrap()
    });
}

#[divan::bench]
fn baseline_build_and_parse_distribute(bencher: Bencher<'_, '_>) {
    let b = baseline();
    bencher.with_inputs(|| response(201, b"")).bench_local_values(|r| {
        black_box(baseline_request(&b));
        r.status().is_success()
    });
}
