//! HTTP plumbing: accept loop, per-connection hyper service, body limit, Basic auth check.

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

use crate::api::{Answer, State};

/// Largest request body the sandbox reads.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<Mutex<State>>,
    authorization: Vec<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
) {
    let authorization = Arc::new(authorization);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (state, authorization) = (state.clone(), authorization.clone());
                connections.spawn(async move {
                    let service = service_fn(move |request| respond(request, state.clone(), authorization.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn respond(
    request: http::Request<Incoming>,
    state: Arc<Mutex<State>>,
    authorization: Arc<Vec<Vec<u8>>>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let authorized = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .is_some_and(|given| authorization.iter().any(|expected| constant_time_eq(given.as_bytes(), expected)));
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let too_large = serde_json::json!({
                "error_code": "CONSTRAINT_VIOLATION",
                "error_messages": [format!("Request body larger than {BODY_LIMIT} bytes or unreadable.")],
            });
            return Ok(render(Answer {
                status: http::StatusCode::PAYLOAD_TOO_LARGE,
                body: Some(too_large),
                www_authenticate: false,
            }));
        }
    };
    let now = crate::clock::now_millis();
    // A poisoned lock means a bug panicked mid-update; keep serving what is there.
    let answer =
        state.lock().unwrap_or_else(|p| p.into_inner()).handle(now, &parts.method, parts.uri.path(), authorized, &body);
    Ok(render(answer))
}

fn render(answer: Answer) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(match &answer.body {
        Some(json) => Bytes::from(json.to_string()),
        None => Bytes::new(),
    }));
    *response.status_mut() = answer.status;
    if answer.body.is_some() {
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    }
    if answer.www_authenticate {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic realm=\"kustom-hpp-sandbox\""),
        );
    }
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
