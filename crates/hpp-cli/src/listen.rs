//! A `status_update` callback receiver: checks the secret, parses, drops duplicates, answers 204,
//! and hands each new event on. Used by `kustom-hpp callbacks listen` and by the demo.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hpp_core::callback::{self, CallbackSecret, Deduplicator, StatusCallback};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::mpsc;

/// What the listener saw.
#[derive(Debug)]
pub(crate) enum Received {
    /// A new event, and where to say whether it was handed on (printed or forwarded): the
    /// listener answers the service 204 only then, and otherwise non-2xx so that it retries.
    Event(Box<StatusCallback>, tokio::sync::oneshot::Sender<bool>),
    /// A callback refused: wrong or missing secret, or not a callback.
    Rejected(&'static str),
}

/// A running listener.
pub(crate) struct Listener {
    /// `http://127.0.0.1:<port>/callbacks`.
    pub(crate) url: String,
    pub(crate) received: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The most connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 64;

/// The largest callback body read (a callback is well under 4 KiB).
const BODY_LIMIT: usize = 64 * 1024;

/// Listens on `127.0.0.1:port` (0: any free port); ready when this returns. A connection has
/// `read_timeout` to send its headers and its body; silent or stalled ones are closed.
pub(crate) async fn start(
    port: u16,
    secret: Option<CallbackSecret>,
    read_timeout: Duration,
) -> std::io::Result<Listener> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let url = format!("http://{}/callbacks", listener.local_addr()?);
    let (sender, received) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { secret, seen: Mutex::new(Deduplicator::new(10_000)), sender, read_timeout });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let (stream, _) = hpp_sandbox::net::accept(&listener).await;
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(request, shared.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(slot);
            });
        }
    });
    Ok(Listener { url, received, task })
}

struct Shared {
    secret: Option<CallbackSecret>,
    seen: Mutex<Deduplicator>,
    sender: mpsc::UnboundedSender<Received>,
    read_timeout: Duration,
}

async fn answer(
    request: http::Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let Shared { secret, seen, sender, read_timeout } = &*shared;
    let reply = |status: u16| {
        let mut response = http::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
        Ok(response)
    };
    let uri = request.uri().to_string();
    if secret.as_ref().is_some_and(|s| !s.verify_uri(&uri)) {
        let _ = sender.send(Received::Rejected("wrong or missing secret"));
        return reply(401);
    }
    if request.method() != http::Method::POST {
        return reply(405);
    }
    let body = match tokio::time::timeout(*read_timeout, Limited::new(request.into_body(), BODY_LIMIT).collect()).await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return reply(413),
        Err(_) => return reply(408),
    };
    match callback::parse(&body.to_bytes()) {
        Ok(event) => {
            let event_id = event.event_id.clone();
            if !seen.lock().unwrap_or_else(|p| p.into_inner()).first_time(&event_id) {
                return reply(204); // a repeat of an event already handed on
            }
            let (handed_on, outcome) = tokio::sync::oneshot::channel();
            let delivered =
                sender.send(Received::Event(Box::new(event), handed_on)).is_ok() && outcome.await == Ok(true);
            if delivered {
                reply(204)
            } else {
                // Not handed on: not acknowledged either, and not remembered, so the retry counts.
                seen.lock().unwrap_or_else(|p| p.into_inner()).forget(&event_id);
                reply(503)
            }
        }
        Err(_) => {
            let _ = sender.send(Received::Rejected("not a status callback"));
            reply(400)
        }
    }
}
