//! The tower middleware for outgoing requests: [`ClientMetricsLayer`], the
//! [`ClientMetricsService`] service and its [`ClientResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use promhttp_core::{HttpClientMetrics, RequestGuard, STATUS_FAILED};
use tower_layer::Layer;
use tower_service::Service;

use crate::layer::{answered, method_of, ResponseBody};

/// A tower [`Layer`] that records the requests a client sends into an
/// [`HttpClientMetrics`] set: wrap a hyper client, a tonic channel or any
/// tower service that sends `http::Request`s.
///
/// A request's server is its URI's host and port (the scheme's port when the
/// URI has none: 443 for `https`, else 80), or its `Host` header when the URI
/// has no host. The duration runs from the call until the response body ends
/// or is dropped; a call that returns an error is `status="error"`, one whose
/// future is dropped before the response (a timeout, a caller that gave up)
/// is `499`, and one in which the client panicked is `500`.
///
/// ```
/// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
/// use promhttp::axum::ClientMetricsLayer;
/// use promhttp::{HttpClientMetrics, Registry};
/// use tower::ServiceBuilder;
///
/// let client_metrics = HttpClientMetrics::builder()
///     .registry(&Registry::new())
///     .server_addresses(["api.example.com:443"])
///     .build()?;
/// // Any tower HTTP client: here one that answers by itself.
/// let client = tower::service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// let client = ServiceBuilder::new()
///     .layer(ClientMetricsLayer::new(&client_metrics))
///     .service(client);
/// # let _ = client;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientMetricsLayer {
    metrics: HttpClientMetrics,
}

impl ClientMetricsLayer {
    /// A layer recording into `metrics`.
    #[must_use]
    pub fn new(metrics: &HttpClientMetrics) -> Self {
        Self {
            metrics: metrics.clone(),
        }
    }
}

impl<S> Layer<S> for ClientMetricsLayer {
    type Service = ClientMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service made by [`ClientMetricsLayer`].
#[derive(Clone, Debug)]
pub struct ClientMetricsService<S> {
    inner: S,
    metrics: HttpClientMetrics,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientMetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ClientResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let method = method_of(req.method());
        let server = match server_of(&req) {
            Some((host, port)) => self.metrics.server(host, port),
            None => self.metrics.other_server(),
        };
        ClientResponseFuture {
            guard: server.start(method),
            inner: self.inner.call(req),
        }
    }
}

/// The host and port a request goes to: its URI's, else its `Host`
/// header's; the scheme's port when none is given.
fn server_of<B>(req: &Request<B>) -> Option<(&str, u16)> {
    let uri = req.uri();
    let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        443
    } else {
        80
    };
    if let Some(host) = uri.host() {
        return Some((host, uri.port_u16().unwrap_or(default_port)));
    }
    let header = req.headers().get(http::header::HOST)?.to_str().ok()?;
    match header.rsplit_once(':') {
        // A port, not the end of an IPv6 address.
        Some((host, port)) if !port.contains(']') => Some((host, port.parse().ok()?)),
        _ => Some((header, default_port)),
    }
}

pin_project! {
    /// The response future of [`ClientMetricsService`].
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RequestGuard>,
    }
}

impl<F, B, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        Poll::Ready(answered(result, this.guard.take(), STATUS_FAILED))
    }
}
