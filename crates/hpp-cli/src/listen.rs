//! The `status_update` listener of `kustom-hpp callbacks listen` and of the demo: `hpp-tracker`'s
//! [`CallbackReceiver`] (secret, body bound, parse, each event applied once through a tracking
//! store, answered within its budget) with a hand-off that prints each new event and forwards it
//! to the local app. Events are recorded in memory, or with `--store` in a PostgreSQL tracking
//! store that several listeners share across restarts. What is here is only the printing, the
//! forwarding, and serving connections (each has `read_timeout` to send its headers).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hpp_core::callback::{CallbackSecret, StatusCallback};
use hpp_core::tracking::{Finished, HandOff, MemoryStore, TrackingPolicy, TrackingStore};
use hpp_postgres::PgStore;
use hpp_tracker::{CallbackReceiver, ReceiverOptions};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::mpsc;

/// What the listener saw.
#[derive(Debug)]
pub(crate) enum Received {
    /// A new event, what forwarding it to the local app gave (with `--forward-to`: the app's
    /// status, or why there was none), and where to say whether it was printed: the listener
    /// acknowledges the service only then, and otherwise answers non-2xx so that it retries.
    Event(Box<StatusCallback>, Option<Result<u16, String>>, tokio::sync::oneshot::Sender<bool>),
    /// A callback refused: wrong or missing secret, or not a callback.
    Rejected(&'static str),
    /// `--store` failed or was busy (answered 503, so the service retries).
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

/// How long the local app has to answer a forwarded callback (the service allows 3 s).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Listens on `127.0.0.1:port` (0: any free port); ready when this returns. A connection has
/// `read_timeout` to send its headers; a callback is answered (503 past it) within
/// `read_timeout` and the app's [`FORWARD_TIMEOUT`].
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
    let forward = forward_to.map(|uri| Forward {
        uri,
        transport: hpp_hyper::HyperTransport::with_connect_timeout(FORWARD_TIMEOUT).with_timeout(FORWARD_TIMEOUT),
    });
    let printer = Arc::new(Printer { sender: sender.clone(), forward });
    // Without --secret every callback is accepted: the listener's own random secret is added to
    // each request, so that the receiver (which always checks one) lets it through.
    let (secret, open) = match secret {
        Some(secret) => (secret, None),
        None => {
            let own = hpp_runtime::random_callback_secret().map_err(std::io::Error::other)?;
            (own.clone(), Some(own))
        }
    };
    let mut options = ReceiverOptions::default();
    options.budget = read_timeout + FORWARD_TIMEOUT;
    options.max_body = BODY_LIMIT;
    let task = match store {
        Some(store) => {
            tokio::spawn(serve(listener, receiver(store, printer, secret, options), open, sender, read_timeout))
        }
        None => {
            // A listener prints every callback, for sessions it never saw created too.
            let mut policy = TrackingPolicy::default();
            policy.track_unknown_sessions = true;
            let store = Arc::new(MemoryStore::new(policy));
            tokio::spawn(serve(listener, receiver(store, printer, secret, options), open, sender, read_timeout))
        }
    };
    Ok(Listener { url, received, task })
}

type Receiver<S> = CallbackReceiver<S, Printer, hpp_runtime::TokioTimer>;

fn receiver<S>(store: Arc<S>, printer: Arc<Printer>, secret: CallbackSecret, options: ReceiverOptions) -> Receiver<S>
where
    S: TrackingStore + 'static,
    Printer: HandOff<S>,
{
    CallbackReceiver::with_options(store, printer, secret, hpp_runtime::TokioTimer::new(), options)
}

/// Accepts connections (at most [`MAX_CONNECTIONS`] at once) and serves each with the receiver.
fn serve<S>(
    listener: tokio::net::TcpListener,
    receiver: Receiver<S>,
    open: Option<CallbackSecret>,
    sender: mpsc::UnboundedSender<Received>,
    read_timeout: Duration,
) -> impl Future<Output = ()> + Send + 'static
where
    S: TrackingStore + 'static,
    Printer: HandOff<S>,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let (stream, _) = hpp_sandbox::net::accept(&listener).await;
            let (receiver, open, sender) = (receiver.clone(), open.clone(), sender.clone());
            tokio::spawn(async move {
                let service =
                    service_fn(move |request| answer(request, receiver.clone(), open.clone(), sender.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(slot);
            });
        }
    }
}

tokio::task_local! {
    /// The headers of the callback being applied: forwarded to the local app with it.
    static HEADERS: http::HeaderMap;
}

/// Hands one request to the receiver (its headers kept for forwarding), and reports a refusal.
async fn answer<S>(
    mut request: http::Request<Incoming>,
    receiver: Receiver<S>,
    open: Option<CallbackSecret>,
    sender: mpsc::UnboundedSender<Received>,
) -> Result<http::Response<hpp_tracker::ReceiptBody>, std::convert::Infallible>
where
    S: TrackingStore + 'static,
    Printer: HandOff<S>,
{
    if request.method() != http::Method::POST {
        let mut response = http::Response::new(hpp_tracker::ReceiptBody::default());
        *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
        return Ok(response);
    }
    if let Some(own) = &open {
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        if let Ok(uri) = own.append_to(target).parse() {
            *request.uri_mut() = uri;
        }
    }
    let headers = request.headers().clone();
    let response = HEADERS.scope(headers, receiver.receive(request)).await;
    let refused = match response.status().as_u16() {
        401 => Some(Received::Rejected("wrong or missing secret")),
        400 => Some(Received::Rejected("not a status callback")),
        413 => Some(Received::Rejected("a body over the limit")),
        503 => {
            // The receipt's name says why: the store (busy or failed) or the time budget.
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let why = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["result"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = sender.send(Received::StoreFailed(why));
            return Ok(http::Response::from_parts(parts, hpp_tracker::ReceiptBody::new(bytes)));
        }
        _ => None,
    };
    if let Some(refused) = refused {
        let _ = sender.send(refused);
    }
    Ok(response)
}

/// `--forward-to`: the local app's URL, and the transport that reaches it.
struct Forward {
    uri: http::Uri,
    transport: hpp_hyper::HyperTransport<hpp_hyper::DefaultConnector>,
}

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

impl Forward {
    /// Sends the callback (as parsed, re-serialized) with the headers it came with to the local
    /// app: its status, or why none.
    async fn send(&self, event: &StatusCallback) -> Result<u16, String> {
        use hpp_core::Transport;
        // invariant: a `StatusCallback` always serializes (strings and open enums only).
        let body = serde_json::to_vec(event).expect("a callback serializes");
        let mut request = http::Request::new(body);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        let _ = HEADERS.try_with(|headers| {
            for (name, value) in headers.iter().filter(|(n, _)| forwarded(n, headers)) {
                request.headers_mut().append(name.clone(), value.clone());
            }
        });
        match self.transport.send(request).await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(e) => Err(match e.kind() {
                hpp_core::TransportErrorKind::Connect => "the app is not listening".to_owned(),
                hpp_core::TransportErrorKind::Timeout => format!("no answer within {} s", FORWARD_TIMEOUT.as_secs()),
                _ => "the connection to the app failed".to_owned(),
            }),
        }
    }
}

/// The listener's hand-off: prints (and forwards) each event the first time the store applies
/// it, inside the store's unit of work, so that it is recorded only once printed and accepted
/// by the app; otherwise the receiver answers 500 and the service's retry comes again.
pub(crate) struct Printer {
    sender: mpsc::UnboundedSender<Received>,
    forward: Option<Forward>,
}

impl Printer {
    async fn print(&self, event: &StatusCallback) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let forwarded = match &self.forward {
            Some(forward) => Some(forward.send(event).await),
            None => None,
        };
        let refused = match &forwarded {
            Some(Ok(status)) if !(200..300).contains(status) => Some(format!("the app answered {status}")),
            Some(Err(why)) => Some(why.clone()),
            _ => None,
        };
        let (handed_on, outcome) = tokio::sync::oneshot::channel();
        let sent = self.sender.send(Received::Event(Box::new(event.clone()), forwarded, handed_on)).is_ok();
        if !(sent && outcome.await == Ok(true)) {
            return Err("the event could not be printed".into());
        }
        refused.map_or(Ok(()), |why| Err(why.into()))
    }
}

impl<S: TrackingStore<Tx = T>, T: Send> HandOff<S> for Printer {
    async fn hand_off(
        &self,
        _tx: &mut T,
        _finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(()) // Every event is printed by on_event, the final one included.
    }

    async fn on_event(
        &self,
        _tx: &mut T,
        event: &StatusCallback,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.print(event).await
    }
}
