//! A `status_update` callback receiver: checks the secret, parses, drops duplicates, answers 204,
//! and hands each new event on. Used by `kustom-hpp callbacks listen` and by the demo. Duplicates
//! are recognised in memory, or with `--store` in a PostgreSQL tracking store that several
//! listeners share across restarts.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hpp_core::__private::Deduplicator;
use hpp_core::callback::{CallbackSecret, StatusCallback};
use hpp_core::tracking::{Applied, Finished, HandOff, Input, StoreError, TrackingStore};
use hpp_postgres::PgStore;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use tokio::sync::{mpsc, watch};

/// What the listener saw.
#[derive(Debug)]
pub(crate) enum Received {
    /// A new event, what forwarding it to the local app gave (with `--forward-to`: the app's
    /// status, or why there was none), and where to say whether it was printed: the listener
    /// acknowledges the service only then, and otherwise answers non-2xx so that it retries.
    Event(Box<StatusCallback>, Option<Result<u16, String>>, tokio::sync::oneshot::Sender<bool>),
    /// A callback refused: wrong or missing secret, or not a callback.
    Rejected(&'static str),
    /// `--store` failed (answered 503, so the service retries).
    StoreFailed(String),
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
    forward_to: Option<http::Uri>,
    store: Option<Arc<PgStore>>,
) -> std::io::Result<Listener> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let url = format!("http://{}/callbacks", listener.local_addr()?);
    let (sender, received) = mpsc::unbounded_channel();
    let forward = forward_to.map(|uri| {
        (uri, hpp_hyper::HyperTransport::with_connect_timeout(FORWARD_TIMEOUT).with_timeout(FORWARD_TIMEOUT))
    });
    let shared = Arc::new(Shared {
        secret,
        seen: Mutex::new((Deduplicator::new(10_000), HashMap::new())),
        store,
        sender,
        read_timeout,
        forward,
    });
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
    /// Without `--store`: the events seen by this process, and those being handed on now.
    seen: SeenEvents,
    /// `--store`: the events applied by every listener sharing it, across restarts.
    store: Option<Arc<PgStore>>,
    sender: mpsc::UnboundedSender<Received>,
    read_timeout: Duration,
    /// `--forward-to`: the local app's URL, and the transport that reaches it.
    forward: Option<(http::Uri, hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>)>,
}

/// How long the local app has to answer a forwarded callback (the service allows 3 s).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Headers not forwarded (besides those `Connection` names): the connection's own (RFC 9110
/// section 7.6.1: a proxy forwards none of them), the ones the new request sets, and credentials
/// meant for the listener or a proxy on the way, never for the app.
const NOT_FORWARDED: [&str; 12] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "proxy-authorization",
    "cookie",
];

/// Whether a header of the callback goes on to the app: every end-to-end header but credentials.
fn forwarded(name: &http::HeaderName, headers: &http::HeaderMap) -> bool {
    let named_by_connection = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()));
    !NOT_FORWARDED.contains(&name.as_str()) && !named_by_connection
}

/// Sends the callback, body and headers as they came, to the local app: its status, or why none.
async fn forward(
    to: &(http::Uri, hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>),
    headers: &http::HeaderMap,
    body: Vec<u8>,
) -> Result<u16, String> {
    use hpp_core::Transport;
    let mut request = http::Request::new(body);
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = to.0.clone();
    for (name, value) in headers.iter().filter(|(n, _)| forwarded(n, headers)) {
        request.headers_mut().append(name.clone(), value.clone());
    }
    match to.1.send(request).await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) => Err(match e.kind() {
            hpp_core::TransportErrorKind::Connect => "the app is not listening".to_owned(),
            hpp_core::TransportErrorKind::Timeout => format!("no answer within {} s", FORWARD_TIMEOUT.as_secs()),
            _ => "the connection to the app failed".to_owned(),
        }),
    }
}

/// Forwards `event` to the app (with `--forward-to`) and has it printed: the status the service
/// is to hear (what the app said, 502 when it said nothing, or 204 without an app), and whether
/// it was printed.
async fn hand_on(
    sender: &mpsc::UnboundedSender<Received>,
    forward_to: Option<&(http::Uri, hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>)>,
    headers: &http::HeaderMap,
    body: &Bytes,
    event: StatusCallback,
) -> (u16, bool) {
    let forwarded = match forward_to {
        Some(to) => Some(forward(to, headers, body.to_vec()).await),
        None => None,
    };
    let status = match &forwarded {
        None => 204,
        Some(Ok(app)) => *app,
        Some(Err(_)) => 502,
    };
    let (handed_on, outcome) = tokio::sync::oneshot::channel();
    let printed =
        sender.send(Received::Event(Box::new(event), forwarded, handed_on)).is_ok() && outcome.await == Ok(true);
    (status, printed)
}

/// With `--store`: prints (and forwards) each event the first time any listener sharing the store
/// applies it, inside the store's transaction, so that it is recorded only once printed (and
/// accepted by the app).
struct Printer<'a> {
    sender: &'a mpsc::UnboundedSender<Received>,
    forward_to: Option<&'a (http::Uri, hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>)>,
    headers: &'a http::HeaderMap,
    body: &'a Bytes,
    /// What the app answered the forwarded callback.
    status: Mutex<Option<u16>>,
}

impl HandOff<PgStore> for Printer<'_> {
    async fn hand_off(
        &self,
        _tx: &tokio_postgres::Client,
        _finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(()) // Every event is printed by on_event, the final one included.
    }

    async fn on_event(
        &self,
        _tx: &tokio_postgres::Client,
        event: &StatusCallback,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let (status, printed) = hand_on(self.sender, self.forward_to, self.headers, self.body, event.clone()).await;
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        if !printed {
            return Err("the event could not be printed".into());
        }
        if !(200..300).contains(&status) {
            return Err(format!("the app answered {status}").into());
        }
        Ok(())
    }
}

/// An event being handed on. When dropped (done, or abandoned because the service hung up), it
/// leaves the in-flight set, is forgotten unless the app accepted it (so the service's retry
/// counts), and its outcome goes to the redeliveries waiting for it.
struct InFlight<'a> {
    seen: &'a SeenEvents,
    event_id: String,
    announce: watch::Sender<Option<u16>>,
    /// The status the service is to hear; `None` when abandoned.
    status: Option<u16>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let status = self.status.unwrap_or(503);
        {
            let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let (done, in_flight) = &mut *guard;
            in_flight.remove(&self.event_id);
            if !(200..300).contains(&status) {
                done.forget(&self.event_id);
            }
        }
        let _ = self.announce.send(Some(status));
    }
}

/// The events seen by this process, and those being handed on now with where their outcome
/// will be announced.
type SeenEvents = Mutex<(Deduplicator, HashMap<String, watch::Receiver<Option<u16>>>)>;

async fn answer(
    request: http::Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let Shared { secret, seen, store, sender, read_timeout, forward: forward_to } = &*shared;
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
    let headers = request.headers().clone();
    let body = match tokio::time::timeout(*read_timeout, Limited::new(request.into_body(), BODY_LIMIT).collect()).await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return reply(413),
        Err(_) => return reply(408),
    };
    let body = body.to_bytes();
    match StatusCallback::parse(&body) {
        Ok(event) if store.is_some() => {
            let store = store.as_deref().expect("checked");
            let printer = Printer {
                sender,
                forward_to: forward_to.as_ref(),
                headers: &headers,
                body: &body,
                status: Mutex::new(None),
            };
            let applied = store.apply(Input::Callback(&event), std::time::SystemTime::now(), &printer).await;
            let app_status = *printer.status.lock().unwrap_or_else(|p| p.into_inner());
            match applied {
                // Printed (and forwarded) now, or by this or another listener before.
                Ok(Applied::Done { .. }) => reply(app_status.unwrap_or(204)),
                Ok(Applied::Duplicate) => reply(204),
                Ok(Applied::Unknown) => {
                    let _ = sender.send(Received::Rejected("a callback without session_id"));
                    reply(400)
                }
                // Refused by the app, or not printed: not recorded, so the service's retry counts.
                Err(StoreError::HandOff(_)) => reply(app_status.filter(|s| !(200..300).contains(s)).unwrap_or(503)),
                Ok(_) => reply(503),
                Err(e) => {
                    let _ = sender.send(Received::StoreFailed(e.to_string()));
                    reply(503)
                }
            }
        }
        Ok(event) => {
            let event_id = event.event_id.clone();
            enum Seen {
                Before,
                InFlight(watch::Receiver<Option<u16>>),
                First(watch::Sender<Option<u16>>),
            }
            let seen_now = {
                let mut guard = seen.lock().unwrap_or_else(|p| p.into_inner());
                let (done, in_flight) = &mut *guard;
                if let Some(outcome) = in_flight.get(&event_id) {
                    Seen::InFlight(outcome.clone())
                } else if !done.first_time(&event_id) {
                    Seen::Before
                } else {
                    let (announce, outcome) = watch::channel(None);
                    in_flight.insert(event_id.clone(), outcome);
                    Seen::First(announce)
                }
            };
            let announce = match seen_now {
                Seen::Before => return reply(204), // a repeat of an event already handed on
                Seen::InFlight(mut outcome) => {
                    // A redelivery while the first is with the app: its answer, once known.
                    let status = outcome.wait_for(Option::is_some).await.map_or(503, |s| s.unwrap_or(503));
                    return reply(status);
                }
                Seen::First(announce) => announce,
            };
            let mut in_flight = InFlight { seen, event_id, announce, status: None };
            let (status, printed) = hand_on(sender, forward_to.as_ref(), &headers, &body, event).await;
            let status = if printed { status } else { 503 };
            in_flight.status = Some(status);
            drop(in_flight);
            reply(status)
        }
        Err(_) => {
            let _ = sender.send(Received::Rejected("not a status callback"));
            reply(400)
        }
    }
}
