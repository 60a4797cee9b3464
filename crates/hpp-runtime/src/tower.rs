//! tower adapters (feature `tower`): a transport as a tower [`Service`], a tower `Service` as a
//! transport, and [`layered`] to put tower layers (headers, metrics, logging) around a transport.
//!
//! The client keeps its retries, per-call timeouts and timer whatever the layers do: they belong
//! to the `hpp_core::Client`, not to the transport. A layer must keep the transport
//! contract (`hpp_core::transport`): pass the request on as it is (adding headers is fine) and
//! return every response.
//!
//! ```
//! use hpp_runtime::tower::{TransportService, layered};
//! use hpp_core::{Request, Response, TransportError};
//! use tower_layer::layer_fn;
//!
//! /// A layer that adds a header to every request.
//! #[derive(Clone)]
//! struct Tag<S>(S);
//! impl<S: tower_service::Service<Request>> tower_service::Service<Request> for Tag<S> {
//!     type Response = S::Response;
//!     type Error = S::Error;
//!     type Future = S::Future;
//!     fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
//!         self.0.poll_ready(cx)
//!     }
//!     fn call(&mut self, mut request: Request) -> S::Future {
//!         request.headers_mut().insert("x-team", http::HeaderValue::from_static("payments"));
//!         self.0.call(request)
//!     }
//! }
//!
//! let inner = |req: Request| async move {
//!     let tagged = req.headers().contains_key("x-team");
//!     Ok::<Response, TransportError>(http::Response::builder().status(if tagged { 204 } else { 400 }).body(Vec::new()).unwrap())
//! };
//! let transport = layered(inner, layer_fn(Tag));
//! let request = http::Request::new(Vec::new());
//! let response = hpp_runtime::block_on(hpp_core::Transport::send(&transport, request)).unwrap();
//! assert_eq!(response.status(), 204);
//! ```

use std::error::Error as StdError;
use std::future::Future;
use std::task::{Context, Poll};

pub use tower_layer::Layer;
pub use tower_service::Service;

use hpp_core::{Request, Response, Transport, TransportError};

/// A boxed, sendable future.
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A [`Transport`] as a tower [`Service`]: always ready, its errors are [`TransportError`]s.
#[derive(Debug, Clone)]
#[allow(clippy::exhaustive_structs)] // a newtype by design: the transport is all it will ever hold
pub struct TransportService<T>(pub T);

impl<T: Transport> Service<Request> for TransportService<T> {
    type Response = Response;
    type Error = TransportError;
    type Future = BoxFuture<Result<Response, TransportError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

/// A tower [`Service`] as a [`Transport`]. Each request goes to a clone of the service (the tower
/// convention), after `poll_ready`. A service error that is a [`TransportError`] keeps what it
/// says; any other error (a layer's own) counts as "may have been sent".
#[derive(Debug, Clone)]
#[allow(clippy::exhaustive_structs)] // a newtype by design: the service is all it will ever hold
pub struct ServiceTransport<S>(pub S);

impl<S> Transport for ServiceTransport<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    S::Future: Send,
{
    fn send(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>> + Send + 'static + use<S> {
        let mut service = self.0.clone();
        async move {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await.map_err(into_transport_error)?;
            service.call(request).await.map_err(into_transport_error)
        }
    }
}

fn into_transport_error(error: impl Into<Box<dyn StdError + Send + Sync>>) -> TransportError {
    match error.into().downcast::<TransportError>() {
        Ok(error) => *error,
        Err(other) => TransportError::other(other),
    }
}

/// `transport` wrapped in `layer`, as a transport again.
pub fn layered<T, L>(transport: T, layer: L) -> ServiceTransport<L::Service>
where
    T: Transport,
    L: Layer<TransportService<T>>,
{
    ServiceTransport(layer.layer(TransportService(transport)))
}
