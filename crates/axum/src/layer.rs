//! The tower middleware: [`MetricsLayer`], the [`MetricsService`] service, its
//! [`ResponseFuture`] and [`ResponseBody`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};

use axum::extract::MatchedPath;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Buf;
use pin_project_lite::pin_project;
use promhttp_core::{
    BodyCounter, BuiltinLabel, HttpMethod, HttpMetrics, LabelReader, RequestGuard, RouteHandle,
    TraceContext,
};
use tower_layer::Layer;
use tower_service::Service;

/// A tower [`Layer`] that records the HTTP metrics of every request through the
/// service it wraps.
///
/// Add it with axum's `Router::layer` so that it sees each request's
/// [`MatchedPath`]: the route label is that template. Wrapped around any other
/// tower HTTP service, every request is recorded under
/// [`UNMATCHED_ROUTE`](promhttp_core::UNMATCHED_ROUTE).
///
/// When the metric set keeps exemplars
/// ([`HttpMetricsBuilder::exemplars`](promhttp_core::HttpMetricsBuilder::exemplars)),
/// a request's trace is the current `tracing` span's OpenTelemetry trace
/// ([`TraceContext::current`], feature `opentelemetry`), else its W3C
/// `traceparent` header's (sampled traces only); or what the function given to
/// [`MetricsLayer::trace_with`] finds.
///
/// When the set records body sizes
/// ([`HttpMetricsBuilder::body_sizes`](promhttp_core::HttpMetricsBuilder::body_sizes)),
/// the layer counts the request body's bytes as the service reads them by
/// wrapping the body, which keeps its type only for axum's own
/// [`axum::body::Body`]: what every axum `Router` layer sees, and what
/// `axum::serve` hands a service. Around a tower service with another request
/// body type, request sizes are not recorded (the response sizes are), and a
/// warning says so once.
#[derive(Clone)]
pub struct MetricsLayer {
    metrics: HttpMetrics,
    trace: Option<TraceFn>,
    /// The functions given to [`MetricsLayer::label_with`], by label name.
    label_fns: Vec<(String, LabelFn)>,
}

/// Reads a request label's value from the request's head.
type LabelFn = Arc<dyn for<'a> Fn(&'a http::request::Parts) -> Option<&'a str> + Send + Sync>;

/// Reads one request label's value from a request's head.
fn read<'a>(reader: &LabelReader<LabelFn>, parts: &'a http::request::Parts) -> Option<&'a str> {
    match reader {
        LabelReader::Given(read) => read(parts),
        LabelReader::Builtin(BuiltinLabel::UrlScheme {
            trust_forwarded_proto,
        }) => scheme(parts, *trust_forwarded_proto),
        LabelReader::Builtin(BuiltinLabel::ProtocolVersion) => version(parts.version),
        _ => None,
    }
}

/// `http` or `https`: the URI's scheme where it has one (HTTP/2's
/// `:scheme`), else the first `X-Forwarded-Proto` value when trusted, else
/// `http` (a tower layer cannot see TLS terminated below it).
fn scheme(parts: &http::request::Parts, trust_forwarded_proto: bool) -> Option<&'static str> {
    const X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");
    if let Some(scheme) = parts.uri.scheme_str() {
        return BuiltinLabel::forwarded_scheme(scheme.as_bytes());
    }
    match parts.headers.get(X_FORWARDED_PROTO) {
        Some(value) if trust_forwarded_proto => BuiltinLabel::forwarded_scheme(value.as_bytes()),
        _ => Some("http"),
    }
}

/// `1.0`, `1.1`, `2` or `3`.
fn version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// Finds a request's trace from its headers and extensions.
type TraceFn =
    Arc<dyn Fn(&http::HeaderMap, &http::Extensions) -> Option<TraceContext> + Send + Sync>;

impl std::fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsLayer")
            .field("metrics", &self.metrics)
            .field("trace_with", &self.trace.is_some())
            .field(
                "label_with",
                &self.label_fns.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl MetricsLayer {
    /// A layer recording into `metrics`.
    #[must_use]
    pub fn new(metrics: &HttpMetrics) -> Self {
        Self {
            metrics: metrics.clone(),
            trace: None,
            label_fns: Vec::new(),
        }
    }

    /// Reads the request label `name` (declared with
    /// [`HttpMetricsBuilder::label`](promhttp_core::HttpMetricsBuilder::label))
    /// from each request's head with `read`: a value that is not declared, or
    /// `None`, is [`OTHER_LABEL_VALUE`](promhttp_core::OTHER_LABEL_VALUE). It
    /// runs once per request as it enters, so keep it cheap. A function for a
    /// name the set does not declare is never called; the built-in labels
    /// (`url_scheme`, `protocol_version`) need none, and one given replaces
    /// the built-in reading.
    ///
    /// ```
    /// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
    /// use axum::{routing::get, Router};
    /// use promhttp::axum::MetricsLayer;
    /// use promhttp::{HttpMetrics, Registry};
    ///
    /// let metrics = HttpMetrics::builder()
    ///     .registry(&Registry::new())
    ///     .label("tier", ["free", "paid"])
    ///     .build()?;
    /// // A header name made once: `get("x-tier")` would parse it on every
    /// // request.
    /// const X_TIER: http::HeaderName = http::HeaderName::from_static("x-tier");
    /// let layer = MetricsLayer::new(&metrics).label_with("tier", |head| {
    ///     head.headers.get(X_TIER).and_then(|v| v.to_str().ok())
    /// });
    /// let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(layer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn label_with(
        mut self,
        name: impl Into<String>,
        read: impl for<'a> Fn(&'a http::request::Parts) -> Option<&'a str> + Send + Sync + 'static,
    ) -> Self {
        let name = name.into();
        self.label_fns.retain(|(n, _)| *n != name);
        self.label_fns.push((name, Arc::new(read)));
        self
    }

    /// Finds each request's trace with `trace` instead of reading the
    /// `traceparent` header: for a trace that an earlier layer put in the
    /// request's extensions, or a header of another propagation format. It runs
    /// only when the metric set keeps exemplars; `None` gives the request no
    /// exemplar. [`TraceContext::from_traceparent`] reads the W3C header.
    #[must_use]
    pub fn trace_with(
        mut self,
        trace: impl Fn(&http::HeaderMap, &http::Extensions) -> Option<TraceContext>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.trace = Some(Arc::new(trace));
        self
    }

    /// The `/metrics` handler of this layer's metric set: it serves the
    /// registry the set records into, whichever that is, so the route and the
    /// layer cannot disagree.
    ///
    /// ```no_run
    /// # mod promhttp { pub mod axum { pub use promhttp_axum::*; } pub use promhttp_core::*; }
    /// use axum::{routing::get, Router};
    /// use promhttp::axum::MetricsLayer;
    /// use promhttp::{HttpMetrics, Registry};
    ///
    /// let registry = Registry::new();
    /// let layer = MetricsLayer::new(&HttpMetrics::builder().registry(&registry).build()?);
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hello" }))
    ///     .layer(layer.clone())
    ///     .route("/metrics", get(layer.handler()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// For authentication, a concurrency limit or a timeout, build a
    /// [`MetricsEndpoint`](promhttp_core::MetricsEndpoint) of
    /// [`HttpMetrics::registry`] and serve it with
    /// [`metrics_endpoint`](crate::metrics_endpoint).
    #[must_use]
    pub fn handler(&self) -> impl crate::ScrapeHandler {
        crate::metrics_handler_with(self.metrics.registry().clone())
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            state: Arc::new(State {
                exemplars: self.metrics.exemplars(),
                body_sizes: self.metrics.body_sizes(),
                groups: self.metrics.groups_unmatched(),
                labels: self.metrics.label_readers(&self.label_fns),
                metrics: self.metrics.clone(),
                route: OnceLock::new(),
                trace: self.trace.clone(),
            }),
        }
    }
}

/// The service made by [`MetricsLayer`].
///
/// axum clones a route's service for every request, so everything but the inner
/// service sits behind one `Arc`: a clone is one reference-count increment.
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    state: Arc<State>,
}

struct State {
    metrics: HttpMetrics,
    /// Whether the set keeps exemplars: only then is a trace looked for.
    exemplars: bool,
    /// Whether the set records body sizes: only then is the request body
    /// wrapped.
    body_sizes: bool,
    /// Whether the set groups unmatched requests by path.
    groups: bool,
    /// How the set's request labels are read; `None` when it has none.
    labels: Option<Box<[LabelReader<LabelFn>]>>,
    trace: Option<TraceFn>,
    /// axum's `Router::layer` wraps each route on its own, so one service (and its
    /// clones) nearly always sees one route: its handle is kept here and the
    /// set's route table is not consulted per request. axum hands every request
    /// of a route the same `MatchedPath` (one shared string), which is kept too:
    /// while it is held its address cannot be reused, so an equal address is the
    /// same route, and most requests are told apart without comparing text.
    route: OnceLock<(Option<MatchedPath>, RouteHandle)>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("metrics", &self.metrics)
            .field("exemplars", &self.exemplars)
            .finish_non_exhaustive()
    }
}

impl State {
    /// The request's trace: from the function given, else its `traceparent`.
    #[inline(never)]
    fn trace(
        &self,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Option<TraceContext> {
        match &self.trace {
            Some(find) => find(headers, extensions),
            None => TraceContext::current().or_else(|| {
                headers
                    .get("traceparent")
                    .and_then(|value| TraceContext::from_traceparent(value.as_bytes()))
            }),
        }
    }

    /// Sets the guard's request labels, read from the request's head.
    #[inline(never)]
    fn read_labels<B>(
        &self,
        req: Request<B>,
        readers: &[LabelReader<LabelFn>],
        guard: &mut RequestGuard,
    ) -> Request<B> {
        // The head alone, for the readers; moved back unchanged.
        let (parts, body) = req.into_parts();
        guard.set_labels(
            self.metrics
                .label_values(|i, _| read(readers.get(i)?, &parts)),
        );
        Request::from_parts(parts, body)
    }

    #[inline]
    fn start(
        &self,
        matched: Option<&MatchedPath>,
        method: HttpMethod,
        path: &str,
    ) -> Option<RequestGuard> {
        if matched.is_none() && self.groups {
            return self.metrics.unmatched_route(method, path).start(method);
        }
        let Some((seen, handle)) = self.route.get() else {
            return self.first_start(matched, method);
        };
        let same = match (seen, matched) {
            (Some(seen), Some(matched)) => {
                std::ptr::eq(seen.as_str(), matched.as_str()) || seen.as_str() == matched.as_str()
            }
            (None, None) => true,
            _ => false,
        };
        if same {
            handle.start(method)
        } else {
            self.metrics
                .route(matched.map(MatchedPath::as_str))
                .start(method)
        }
    }

    #[cold]
    fn first_start(
        &self,
        matched: Option<&MatchedPath>,
        method: HttpMethod,
    ) -> Option<RequestGuard> {
        let (_, handle) = self.route.get_or_init(|| {
            let route = matched.map(MatchedPath::as_str);
            (matched.cloned(), self.metrics.route(route))
        });
        if handle.is_for(matched.map(MatchedPath::as_str)) {
            handle.start(method)
        } else {
            self.metrics
                .route(matched.map(MatchedPath::as_str))
                .start(method)
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: 'static,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline(never)]
    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let method = method_of(req.method());
        let mut guard = self.state.start(
            req.extensions().get::<MatchedPath>(),
            method,
            req.uri().path(),
        );
        if let Some(guard) = guard.as_mut() {
            if let Some(readers) = &self.state.labels {
                req = self.state.read_labels(req, readers, guard);
            }
            if self.state.body_sizes {
                count_request_body(req.body_mut(), guard);
            }
        }
        if self.state.exemplars {
            if let (Some(guard), Some(trace)) = (
                guard.as_mut(),
                self.state.trace(req.headers(), req.extensions()),
            ) {
                guard.set_trace(trace);
            }
        }
        ResponseFuture {
            inner: self.inner.call(req),
            guard,
        }
    }
}

pin_project! {
    /// The response future of [`MetricsService`].
    ///
    /// Dropped before the inner service answers, it records the request as
    /// cancelled (status 499), or as 500 when the handler panicked.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RequestGuard>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let result = ready!(RequestGuard::poll_scope(this.guard, || inner
            .as_mut()
            .poll(cx)));
        // The service failed instead of answering: the connection is closed
        // without a response, which counts as a server error.
        Poll::Ready(answered(result, this.guard.take(), 500))
    }
}

/// Closes the books of a request whose service answered: the response's
/// status, its body watched to its end; or `error_status` for a service that
/// failed instead.
#[inline]
pub(crate) fn answered<B: Body, E>(
    result: Result<Response<B>, E>,
    guard: Option<RequestGuard>,
    error_status: u16,
) -> Result<Response<ResponseBody<B>>, E> {
    match result {
        Ok(response) => {
            let guard = guard.map(|mut g| {
                g.response_started();
                g.with_status(response.status().as_u16())
            });
            Ok(response.map(|body| ResponseBody::new(body, guard)))
        }
        Err(err) => {
            drop(guard.map(|g| g.with_status(error_status)));
            Err(err)
        }
    }
}

pin_project! {
    /// The response body of [`MetricsService`]: the inner body, which closes the request's
    /// books when it ends, fails or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        guard: Option<RequestGuard>,
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, guard: Option<RequestGuard>) -> Self {
        // A body that is empty from the start (HEAD, 204, 304) ends now: the server
        // may never poll it.
        let guard = guard.filter(|_| !inner.is_end_stream());
        Self { inner, guard }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let (Some(Ok(frame)), Some(guard)) = (&frame, this.guard.as_mut()) {
            if let Some(data) = frame.data_ref() {
                guard.add_response_bytes(data.remaining() as u64);
            }
        }
        // The end is also read off `is_end_stream` after a frame, because a server
        // stops polling a body of known length once it has all of it.
        if !matches!(frame, Some(Ok(_))) || this.inner.is_end_stream() {
            drop(this.guard.take());
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

/// Wraps the request body so that the guard gets its size: `0` for a body
/// that is empty from the start, else a counter of the bytes the service
/// reads. Only axum's [`axum::body::Body`] can be wrapped without changing the
/// request's type; another body gets no request size, and a warning once.
fn count_request_body<B: 'static>(body: &mut B, guard: &mut RequestGuard) {
    let Some(body) = (body as &mut dyn std::any::Any).downcast_mut::<axum::body::Body>() else {
        warn_uncounted_body::<B>();
        return;
    };
    if body.is_end_stream() {
        guard.set_request_body_size(0);
        return;
    }
    if let Some(counter) = guard.count_request_body() {
        let inner = std::mem::take(body);
        *body = axum::body::Body::new(CountedBody { inner, counter });
    }
}

#[cold]
fn warn_uncounted_body<B>() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            body = std::any::type_name::<B>(),
            "promhttp: the metric set records body sizes, but this request body type cannot be \
             counted without changing it; request sizes are not recorded (response sizes are). \
             Use MetricsLayer inside an axum Router, or convert the body to axum::body::Body."
        );
    }
}

/// A request body that counts the bytes the service reads of it.
struct CountedBody {
    inner: axum::body::Body,
    counter: BodyCounter,
}

impl Body for CountedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame {
            if let Some(data) = frame.data_ref() {
                self.counter.add(data.len() as u64);
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

/// The recorded method: comparisons of `http::Method` against its constants are
/// integer compares, cheaper than matching on the method's text.
#[inline]
pub(crate) fn method_of(method: &http::Method) -> HttpMethod {
    use http::Method as M;
    if *method == M::GET {
        HttpMethod::Get
    } else if *method == M::POST {
        HttpMethod::Post
    } else {
        HttpMethod::from_token(method.as_str())
    }
}
