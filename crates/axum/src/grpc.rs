//! gRPC through tower: [`GrpcMetricsLayer`], its [`GrpcMetricsService`],
//! [`GrpcResponseFuture`], [`GrpcRequestBody`] and [`GrpcResponseBody`].

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Bytes;
use pin_project_lite::pin_project;
use promhttp_core::grpc::{code, GrpcCall, GrpcMethod, GrpcMetrics, MessageCounter};
use tower_layer::Layer;
use tower_service::Service;

/// A tower [`Layer`] that records gRPC server metrics
/// ([`promhttp_core::grpc`]) for tonic and any tower gRPC server: add it
/// with tonic's `Server::builder().layer(..)`.
///
/// A call's code is its `grpc-status`: from the response headers (a
/// trailers-only response) or the trailers at the end of the body. Messages
/// are counted from the gRPC length-prefixed frames of both bodies as they
/// pass, without buffering one. A call that ends otherwise gets the code a
/// client sees:
///
/// - the client cancels (the response future or body is dropped before the
///   end): `Canceled`;
/// - past the deadline its `grpc-timeout` header set: `DeadlineExceeded`, also
///   when the server answered it `Canceled` itself (tonic's server answers an
///   expired deadline `Cancelled`, "Timeout expired");
/// - the handler panics: `Internal` (tonic's client sees the stream reset, as
///   `Cancelled`; recorded so, a server's panic would pass for a client's
///   cancel);
/// - the response body ends without a status: `Internal`;
/// - the service returns an error, or the body fails: `Unknown`.
///
/// ```
/// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
/// use promhttp::axum::GrpcMetricsLayer;
/// use promhttp::grpc::{GrpcMetrics, GrpcType};
/// use promhttp::Registry;
///
/// let grpc = GrpcMetrics::builder()
///     .registry(&Registry::new())
///     .service("helloworld.Greeter", [("SayHello", GrpcType::Unary)])
///     .build()?;
/// let layer = GrpcMetricsLayer::new(&grpc);
/// // tonic: Server::builder().layer(layer).add_service(GreeterServer::new(greeter))
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct GrpcMetricsLayer {
    metrics: GrpcMetrics,
}

impl GrpcMetricsLayer {
    /// A layer recording into `metrics`.
    #[must_use]
    pub fn new(metrics: &GrpcMetrics) -> Self {
        Self {
            metrics: metrics.clone(),
        }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service made by [`GrpcMetricsLayer`].
#[derive(Clone, Debug)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: GrpcMetrics,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcMetricsService<S>
where
    S: Service<Request<GrpcRequestBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body<Data = Bytes>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<GrpcResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = GrpcResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (req, call) = start_call(&self.metrics, req, false);
        GrpcResponseFuture {
            inner: self.inner.call(req),
            call: Some(call),
            client: false,
        }
    }
}

/// A tower [`Layer`] that records a gRPC client's calls into a client set
/// ([`GrpcMetrics::client_builder`]): wrap a tonic `Channel`, and give the
/// wrapped service to the generated client (`EchoClient::new(service)`) or
/// `tonic::client::Grpc::new`.
///
/// The layer counts the messages the client sends by wrapping the request
/// body, and a client's request must keep its body type: `rebox` turns the
/// wrapped body back into it, `tonic::body::Body::new` for tonic (promhttp does
/// not depend on tonic). The codes follow [`GrpcMetricsLayer`]'s rules, seen
/// from the client: the status from the head or the trailers, `Canceled` for a
/// call dropped before its end, `DeadlineExceeded` past its `grpc-timeout`,
/// `Unavailable` for a call the transport could not send (connection refused).
///
/// ```
/// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
/// use promhttp::axum::GrpcClientMetricsLayer;
/// use promhttp::grpc::{GrpcMetrics, GrpcType};
/// use promhttp::Registry;
///
/// let calls = GrpcMetrics::client_builder()
///     .registry(&Registry::new())
///     .service("helloworld.Greeter", [("SayHello", GrpcType::Unary)])
///     .build()?;
/// // With tonic: GrpcClientMetricsLayer::new(&calls, tonic::body::Body::new)
/// let layer = GrpcClientMetricsLayer::new(&calls, |body: promhttp::axum::GrpcRequestBody<String>| {
///     let _ = body;
///     String::new()
/// });
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct GrpcClientMetricsLayer<F> {
    metrics: GrpcMetrics,
    rebox: F,
}

impl<F> std::fmt::Debug for GrpcClientMetricsLayer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClientMetricsLayer")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl<F> GrpcClientMetricsLayer<F> {
    /// A layer recording into `metrics`, a client's set, which turns the
    /// wrapped request body back into the client's body type with `rebox`.
    #[must_use]
    pub fn new(metrics: &GrpcMetrics, rebox: F) -> Self {
        Self {
            metrics: metrics.clone(),
            rebox,
        }
    }
}

impl<S, F: Clone> Layer<S> for GrpcClientMetricsLayer<F> {
    type Service = GrpcClientMetricsService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClientMetricsService {
            inner,
            metrics: self.metrics.clone(),
            rebox: self.rebox.clone(),
        }
    }
}

/// The service made by [`GrpcClientMetricsLayer`].
#[derive(Clone)]
pub struct GrpcClientMetricsService<S, F> {
    inner: S,
    metrics: GrpcMetrics,
    rebox: F,
}

impl<S: std::fmt::Debug, F> std::fmt::Debug for GrpcClientMetricsService<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClientMetricsService")
            .field("inner", &self.inner)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl<S, F, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcClientMetricsService<S, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    F: Fn(GrpcRequestBody<ReqBody>) -> ReqBody,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<GrpcResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = GrpcResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (req, call) = start_call(&self.metrics, req, true);
        let req = req.map(&self.rebox);
        GrpcResponseFuture {
            inner: self.inner.call(req),
            call: Some(call),
            client: true,
        }
    }
}

/// Starts recording the call `req` makes (its method from the path, its
/// deadline from `grpc-timeout`), and wraps its body to count the messages in
/// it: received on a server, sent on a `client`.
fn start_call<B>(
    metrics: &GrpcMetrics,
    req: Request<B>,
    client: bool,
) -> (Request<GrpcRequestBody<B>>, GrpcCall) {
    let mut call = metrics.start(req.uri().path());
    if let Some(nanos) = req
        .headers()
        .get("grpc-timeout")
        .and_then(|v| parse_timeout(v.as_bytes()))
    {
        call.set_deadline_nanos(nanos);
    }
    let method = call.method().clone();
    let req = req.map(|inner| GrpcRequestBody {
        inner,
        counter: MessageCounter::default(),
        method,
        client,
    });
    (req, call)
}

/// A `grpc-timeout` value in nanoseconds: up to eight digits and a unit
/// (`H`, `M`, `S`, `m`, `u`, `n`).
fn parse_timeout(value: &[u8]) -> Option<u64> {
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let per: u64 = match unit {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    };
    n.checked_mul(per)
}

/// The `grpc-status` of a header map, if it has one.
fn status_of(headers: &HeaderMap) -> Option<u8> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(value.trim().parse::<u8>().unwrap_or(code::UNKNOWN))
}

pin_project! {
    /// The response future of [`GrpcMetricsService`].
    pub struct GrpcResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<GrpcCall>,
        // A client's call: the response's messages are received, and an
        // error is `Unavailable`.
        client: bool,
    }
}

impl<F, B, E> Future for GrpcResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<GrpcResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // A panic while the service runs is `Internal`.
        if let Some(call) = this.call.as_mut() {
            call.set_code_if_unfinished(code::INTERNAL);
        }
        let polled = this.inner.poll(cx);
        if let Some(call) = this.call.as_mut() {
            call.set_code_if_unfinished(code::CANCELLED);
        }
        let result = ready!(polled);
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let (Some(call), Some(status)) = (call.as_mut(), status_of(response.headers())) {
                    // Trailers-only: the status came with the head.
                    call.set_code(status);
                }
                let client = *this.client;
                Ok(response.map(|inner| GrpcResponseBody::new(inner, call, client)))
            }
            Err(err) => {
                if let Some(call) = call.as_mut() {
                    // A server's service that fails resets the stream; a
                    // client's transport that fails never reached the server.
                    call.set_code(if *this.client {
                        code::UNAVAILABLE
                    } else {
                        code::UNKNOWN
                    });
                }
                Err(err)
            }
        })
    }
}

pin_project! {
    /// The request body of a call through [`GrpcMetricsService`]: counts the
    /// messages the service reads.
    pub struct GrpcRequestBody<B> {
        #[pin]
        inner: B,
        counter: MessageCounter,
        method: GrpcMethod,
        // A client's request: its messages are sent, not received.
        client: bool,
    }
}

impl<B: Body<Data = Bytes>> Body for GrpcRequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(frame)) = &frame {
            if let Some(data) = frame.data_ref() {
                match (this.counter.feed(data), *this.client) {
                    (0, _) => {}
                    (messages, true) => this.method.messages_sent(messages),
                    (messages, false) => this.method.messages_received(messages),
                }
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The response body of a call through [`GrpcMetricsService`]: counts the
    /// messages sent, reads the status from the trailers, and ends the call
    /// when it ends or is dropped.
    pub struct GrpcResponseBody<B> {
        #[pin]
        inner: B,
        counter: MessageCounter,
        call: Option<GrpcCall>,
        // A client's response: its messages are received, not sent.
        client: bool,
    }
}

impl<B: Body<Data = Bytes>> GrpcResponseBody<B> {
    fn new(inner: B, mut call: Option<GrpcCall>, client: bool) -> Self {
        if inner.is_end_stream() {
            // A head alone: the status was in it, or there is none.
            if let Some(call) = call.as_mut() {
                if call.code().is_none() {
                    call.set_code(code::INTERNAL);
                }
            }
            call = None;
        }
        Self {
            inner,
            counter: MessageCounter::default(),
            call,
            client,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for GrpcResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let ended = match &frame {
            Some(Ok(frame)) => {
                if let Some(call) = this.call.as_mut() {
                    if let Some(data) = frame.data_ref() {
                        match (this.counter.feed(data), *this.client) {
                            (0, _) => {}
                            (messages, true) => call.method().messages_received(messages),
                            (messages, false) => call.method().messages_sent(messages),
                        }
                    } else if let Some(status) = frame.trailers_ref().and_then(status_of) {
                        call.set_code(status);
                    }
                }
                // The server stops polling a body that says it has ended.
                this.inner.is_end_stream()
            }
            Some(Err(_)) => {
                if let Some(call) = this.call.as_mut() {
                    if call.code().is_none() {
                        call.set_code(code::UNKNOWN);
                    }
                }
                true
            }
            None => true,
        };
        if ended {
            if let Some(mut call) = this.call.take() {
                // An end without a status.
                if call.code().is_none() {
                    call.set_code(code::INTERNAL);
                }
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit() {
        for (value, nanos) in [
            (&b"1H"[..], Some(3_600_000_000_000)),
            (b"2M", Some(120_000_000_000)),
            (b"3S", Some(3_000_000_000)),
            (b"50m", Some(50_000_000)),
            (b"7u", Some(7_000)),
            (b"99999999n", Some(99_999_999)),
            (b"123456789S", None),
            (b"10", None),
            (b"S", None),
            (b"1x", None),
            (b"-1S", None),
        ] {
            assert_eq!(
                parse_timeout(value),
                nanos,
                "{:?}",
                std::str::from_utf8(value)
            );
        }
    }
}
