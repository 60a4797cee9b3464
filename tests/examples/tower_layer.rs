//! Middleware as tower layers around a transport: a header on every request and a request
//! counter, over hpp-hyper. The client keeps its retries, per-call timeouts and timer: they
//! belong to the client, not to the transport. Needs `hpp-core` with the `tower` feature.
//!
//! Run it: `cargo run -p hpp-tests --example tower_layer` (against an embedded sandbox).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use hpp_core::{Client, CreateSession, Request};
use hpp_hyper::{HyperTransport, TokioTimer};
use hpp_runtime::tower::{Layer, Service, layered};

/// Adds `x-request-source: checkout-service` to every request, counting them.
#[derive(Clone)]
struct Tagging {
    requests: Arc<AtomicU64>,
}

impl<S> Layer<S> for Tagging {
    type Service = Tagged<S>;
    fn layer(&self, inner: S) -> Tagged<S> {
        Tagged { inner, requests: self.requests.clone() }
    }
}

#[derive(Clone)]
struct Tagged<S> {
    inner: S,
    requests: Arc<AtomicU64>,
}

impl<S: Service<Request>> Service<Request> for Tagged<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> S::Future {
        self.requests.fetch_add(1, Ordering::Relaxed);
        request.headers_mut().insert("x-request-source", http::HeaderValue::from_static("checkout-service"));
        self.inner.call(request)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = hpp_sandbox::Sandbox::start(hpp_sandbox::SandboxConfig::default()).await?;
    let requests = Arc::new(AtomicU64::new(0));
    let transport = layered(HyperTransport::new(), Tagging { requests: requests.clone() });
    let client = Client::new(sandbox.client_config(), transport, TokioTimer::new());

    let created = client.create_session(&CreateSession::new("https://x.example/orders/tower-1")).await?;
    let session_url = created.session_url.as_deref().ok_or("no session_url")?;
    // The next read gets a 503; the client retries it through the layers.
    sandbox.inject_faults([hpp_sandbox::Fault::Status { status: 503, retry_after: Some(0), error_code: None }]);
    let session = client.read_session(session_url).await?;
    println!("status {:?}; requests through the layer: {}", session.status, requests.load(Ordering::Relaxed));
    Ok(())
}
