//! HTTP plumbing: accept loop, per-connection hyper service, body limit, Basic auth check.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{Answer, Fault, State};

/// Largest request body the sandbox reads.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// The most connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 256;

/// The largest read buffer of a connection (hyper's default is about 400 KiB): request heads
/// longer than this are refused.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// The longest a `delay` fault waits: ten minutes.
const MAX_FAULT_DELAY_MS: u64 = 600_000;

/// The largest body an `oversized_body` fault sends.
const MAX_FAULT_BODY: usize = 16 * 1024 * 1024;

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<Mutex<State>>,
    authorization: Vec<Vec<u8>>,
    read_timeout: Duration,
    log_requests: bool,
    mut stop: watch::Receiver<bool>,
) {
    let authorization = Arc::new(authorization);
    let mut connections = JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            // At most MAX_CONNECTIONS served at once; more wait in the accept queue.
            Ok(slot) = slots.clone().acquire_owned() => {
                let (stream, _) = tokio::select! {
                    _ = stop.changed() => break,
                    accepted = crate::net::accept(&listener) => accepted,
                };
                let (state, authorization) = (state.clone(), authorization.clone());
                connections.spawn(async move {
                    let _slot = slot;
                    let service = service_fn(move |request: http::Request<Incoming>| {
                        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
                        let answered = respond(request, state.clone(), authorization.clone(), read_timeout);
                        async move {
                            let result = answered.await;
                            if log_requests {
                                // Method, path and status only: never a query (callback secrets), header or body.
                                let status = result.as_ref().map_or_else(|_| "reset".to_owned(), |r| r.status().as_u16().to_string());
                                // A closed stderr must not take the request down with it.
                                let _ = writeln!(std::io::stderr(), "sandbox: {method} {path} -> {status}");
                            }
                            result
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(read_timeout)
                        .max_buf_size(MAX_READ_BUFFER)
                        // A client that shuts its side down after the request still gets the answer.
                        .half_close(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// The connection is dropped without an answer (a scripted reset).
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted connection reset")
    }
}

impl std::error::Error for Reset {}

async fn respond(
    request: http::Request<Incoming>,
    state: Arc<Mutex<State>>,
    authorization: Arc<Vec<Vec<u8>>>,
    read_timeout: Duration,
) -> Result<http::Response<Full<Bytes>>, Reset> {
    let (parts, body) = request.into_parts();
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let authorized = parts.headers.get(http::header::AUTHORIZATION).is_some_and(|given| {
        authorization.iter().any(|expected| hpp_core::__private::constant_time_eq(given.as_bytes(), expected))
    });
    // Faults are for the API requests of the test's own client: an unauthenticated request (or a
    // control request) never consumes one.
    let api_request = !parts.uri.path().starts_with("/_sandbox/");
    let fault = if api_request && authorized { lock().next_fault() } else { None };
    match fault {
        Some(Fault::ResetBeforeRead) => return Err(Reset),
        Some(Fault::Delay { ms }) => tokio::time::sleep(Duration::from_millis(ms.min(MAX_FAULT_DELAY_MS))).await,
        Some(Fault::Status { status, retry_after, error_code }) => {
            return Ok(render(lock().fault_status(status, retry_after, error_code)));
        }
        Some(Fault::OversizedBody { bytes, status }) => {
            let mut response = http::Response::new(Full::new(Bytes::from(vec![b' '; bytes.min(MAX_FAULT_BODY)])));
            *response.status_mut() = status.and_then(|s| http::StatusCode::from_u16(s).ok()).unwrap_or_default();
            return Ok(response);
        }
        Some(Fault::Redirect { location }) => {
            let mut response = http::Response::new(Full::new(Bytes::new()));
            *response.status_mut() = http::StatusCode::FOUND;
            if let Ok(location) = http::HeaderValue::from_str(&location) {
                response.headers_mut().insert(http::header::LOCATION, location);
            }
            return Ok(response);
        }
        _ => {}
    }
    let body = match tokio::time::timeout(read_timeout, Limited::new(body, BODY_LIMIT).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            let message = format!("Request body larger than {BODY_LIMIT} bytes or unreadable.");
            return Ok(render(lock().refuse(http::StatusCode::PAYLOAD_TOO_LARGE, &message)));
        }
        Err(_) => {
            let message = "Request body not received in time.";
            return Ok(render(lock().refuse(http::StatusCode::REQUEST_TIMEOUT, message)));
        }
    };
    let accept = parts.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
    let answer = lock().handle_accepting(&parts.method, parts.uri.path(), authorized, &body, accept);
    match fault {
        Some(Fault::ResetAfterRead) => Err(Reset),
        Some(Fault::TruncatedBody) => {
            let mut response = render(answer);
            let full = response.body().clone().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let half = full.slice(..full.len() / 2);
            *response.body_mut() = Full::new(half);
            Ok(response)
        }
        _ => Ok(render(answer)),
    }
}

fn render(answer: Answer) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(match (&answer.body, &answer.html, &answer.image) {
        (Some(json), _, _) => Bytes::from(json.to_string()),
        (None, Some(html), _) => Bytes::from(html.clone()),
        (None, None, Some((_, image))) => Bytes::from(image.clone()),
        (None, None, None) => Bytes::new(),
    }));
    *response.status_mut() = answer.status;
    if let Some((content_type, _)) = answer.image {
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
        // The code of a session never changes; `qr` answers by `Accept`.
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=3600"));
        headers.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
    }
    if answer.body.is_some() {
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    } else if answer.html.is_some() {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html; charset=utf-8"));
    }
    if let Some(location) = answer.location.as_deref().and_then(|l| http::HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(http::header::LOCATION, location);
    }
    if let Some(seconds) = answer.retry_after {
        response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    if let Some(allow) = answer.allow {
        response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    }
    if answer.www_authenticate {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"kustom-hpp-sandbox\""),
        );
    }
    response
}
