//! The actix-web middleware: [`Metrics`], the [`MetricsMiddleware`] service, its
//! [`ResponseFuture`] and [`ResponseBody`].

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::PayloadError;
use actix_web::http::header::HeaderName;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage};
use futures_util::Stream;
use pin_project_lite::pin_project;
use promhttp_core::{
    BodyCounter, BuiltinLabel, HttpMethod, HttpMetrics, LabelReader, RequestGuard, TraceContext,
};

/// actix-web middleware that records the HTTP metrics of every request through the
/// app or scope it wraps: `App::new().wrap(Metrics::new(&metrics))`.
///
/// When the metric set keeps exemplars
/// ([`HttpMetricsBuilder::exemplars`](promhttp_core::HttpMetricsBuilder::exemplars)),
/// a request's trace is the current `tracing` span's OpenTelemetry trace
/// ([`TraceContext::current`], feature `opentelemetry`), else its W3C
/// `traceparent` header's (sampled traces only); or what the function given to
/// [`Metrics::trace_with`] finds.
#[derive(Clone)]
pub struct Metrics {
    metrics: HttpMetrics,
    trace: Option<TraceFn>,
    /// The functions given to [`Metrics::label_with`], by label name.
    label_fns: Vec<(String, LabelFn)>,
}

/// Reads a request label's value from the request.
type LabelFn = Rc<dyn for<'a> Fn(&'a ServiceRequest) -> Option<&'a str>>;

/// Reads one request label's value from a request.
fn read<'a>(reader: &LabelReader<LabelFn>, req: &'a ServiceRequest) -> Option<&'a str> {
    match reader {
        LabelReader::Given(read) => read(req),
        LabelReader::Builtin(BuiltinLabel::UrlScheme {
            trust_forwarded_proto,
        }) => scheme(req, *trust_forwarded_proto),
        LabelReader::Builtin(BuiltinLabel::ProtocolVersion) => version(req.version()),
        _ => None,
    }
}

/// `http` or `https`: the first `X-Forwarded-Proto` value when trusted and
/// present, else whether the server's listener is TLS. (Read directly:
/// actix-web's `connection_info()` would also work out the host and the peer,
/// allocating, on every request.)
fn scheme(req: &ServiceRequest, trust_forwarded_proto: bool) -> Option<&'static str> {
    const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
    match req.headers().get(X_FORWARDED_PROTO) {
        Some(value) if trust_forwarded_proto => BuiltinLabel::forwarded_scheme(value.as_bytes()),
        _ if req.app_config().secure() => Some("https"),
        _ => Some("http"),
    }
}

/// `1.0`, `1.1`, `2` or `3`.
fn version(version: actix_web::http::Version) -> Option<&'static str> {
    use actix_web::http::Version as V;
    match version {
        V::HTTP_10 => Some("1.0"),
        V::HTTP_11 => Some("1.1"),
        V::HTTP_2 => Some("2"),
        V::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// Finds a request's trace.
type TraceFn = Rc<dyn Fn(&ServiceRequest) -> Option<TraceContext>>;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("metrics", &self.metrics)
            .field("trace_with", &self.trace.is_some())
            .field(
                "label_with",
                &self.label_fns.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Metrics {
    /// Middleware recording into `metrics`.
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
    /// from each request with `read`: a value that is not declared, or `None`,
    /// is [`OTHER_LABEL_VALUE`](promhttp_core::OTHER_LABEL_VALUE). It runs once
    /// per request as it enters, before routing (so the path's parameters are
    /// not parsed yet), so keep it cheap. A function for a name the set does
    /// not declare is never called; the built-in labels (`url_scheme`,
    /// `protocol_version`) need none, and one given replaces the built-in
    /// reading.
    ///
    /// ```
    /// # mod promhttp { pub mod actix { pub use promhttp_actix::*; } pub use promhttp_core::*; }
    /// use actix_web::{http::header::HeaderName, App};
    /// use promhttp::actix::Metrics;
    /// use promhttp::{HttpMetrics, Registry};
    ///
    /// let metrics = HttpMetrics::builder()
    ///     .registry(&Registry::new())
    ///     .label("tier", ["free", "paid"])
    ///     .build()?;
    /// // A header name made once: `get("x-tier")` would build (and allocate)
    /// // one on every request.
    /// const X_TIER: HeaderName = HeaderName::from_static("x-tier");
    /// let middleware = Metrics::new(&metrics).label_with("tier", |req| {
    ///     req.headers().get(X_TIER).and_then(|v| v.to_str().ok())
    /// });
    /// let app = App::new().wrap(middleware);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn label_with(
        mut self,
        name: impl Into<String>,
        read: impl for<'a> Fn(&'a ServiceRequest) -> Option<&'a str> + 'static,
    ) -> Self {
        let name = name.into();
        self.label_fns.retain(|(n, _)| *n != name);
        self.label_fns.push((name, Rc::new(read)));
        self
    }

    /// Finds each request's trace with `trace` instead of reading the
    /// `traceparent` header: for a trace that an earlier middleware put in the
    /// request's extensions, or a header of another propagation format. It runs
    /// only when the metric set keeps exemplars; `None` gives the request no
    /// exemplar. [`TraceContext::from_traceparent`] reads the W3C header.
    #[must_use]
    pub fn trace_with(
        mut self,
        trace: impl Fn(&ServiceRequest) -> Option<TraceContext> + 'static,
    ) -> Self {
        self.trace = Some(Rc::new(trace));
        self
    }

    /// The `/metrics` handler of this middleware's metric set: it serves the
    /// registry the set records into, whichever that is, so the route and the
    /// middleware cannot disagree.
    ///
    /// ```no_run
    /// # mod promhttp { pub mod actix { pub use promhttp_actix::*; } pub use promhttp_core::*; }
    /// use actix_web::{web, App, HttpServer};
    /// use promhttp::actix::Metrics;
    /// use promhttp::HttpMetrics;
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let metrics = HttpMetrics::builder().ignore_route("/metrics").build().unwrap();
    /// HttpServer::new(move || {
    ///     let middleware = Metrics::new(&metrics);
    ///     App::new()
    ///         .route("/metrics", web::route().to(middleware.handler()))
    ///         .wrap(middleware)
    /// })
    /// .bind("127.0.0.1:3001")?
    /// .run()
    /// .await
    /// # }
    /// ```
    ///
    /// For authentication, a concurrency limit or a timeout, build a
    /// [`MetricsEndpoint`](promhttp_core::MetricsEndpoint) of
    /// [`HttpMetrics::registry`] and serve it with
    /// [`metrics_endpoint`](crate::metrics_endpoint).
    pub fn handler(
        &self,
    ) -> impl Fn(
        actix_web::HttpRequest,
    ) -> futures_util::future::LocalBoxFuture<'static, actix_web::HttpResponse>
           + Clone
           + 'static {
        crate::metrics_handler_with(self.metrics.registry().clone())
    }
}

impl<S, B> Transform<S, ServiceRequest> for Metrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Transform = MetricsMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(MetricsMiddleware {
            service,
            exemplars: self.metrics.exemplars(),
            body_sizes: self.metrics.body_sizes(),
            metrics: Rc::new(self.metrics.clone()),
            trace: self.trace.clone(),
            labels: self.metrics.label_readers(&self.label_fns),
        }))
    }
}

/// The service made by the [`Metrics`] transform.
///
/// actix-web routes a request inside the service this middleware wraps, so the
/// route is not known when the request enters: the in-flight gauge is labelled by
/// method alone, and the route is read after routing, from the response's
/// request. Nothing here matches the path against the app's resources.
pub struct MetricsMiddleware<S> {
    service: S,
    /// Shared with the response futures of this worker (actix-web runs each
    /// worker's services on one thread).
    metrics: Rc<HttpMetrics>,
    /// Whether the set keeps exemplars: only then is a trace looked for.
    exemplars: bool,
    /// Whether the set records body sizes: only then is the payload wrapped.
    body_sizes: bool,
    trace: Option<TraceFn>,
    /// How the set's request labels are read; `None` when it has none.
    labels: Option<Box<[LabelReader<LabelFn>]>>,
}

impl<S> std::fmt::Debug for MetricsMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsMiddleware")
            .field("metrics", &self.metrics)
            .field("exemplars", &self.exemplars)
            .finish_non_exhaustive()
    }
}

impl<S> MetricsMiddleware<S> {
    /// The request's trace: from the function given, else its `traceparent`.
    #[inline(never)]
    fn trace(&self, req: &ServiceRequest) -> Option<TraceContext> {
        match &self.trace {
            Some(find) => find(req),
            None => TraceContext::current().or_else(|| {
                req.headers()
                    .get("traceparent")
                    .and_then(|value| TraceContext::from_traceparent(value.as_bytes()))
            }),
        }
    }
}

impl<S, B> Service<ServiceRequest> for MetricsMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<ResponseBody<B>>;
    type Error = Error;
    type Future = ResponseFuture<S::Future>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        // The path as the router will match it: an ignored route without
        // parameters is left out here, before it raises any gauge.
        let mut guard = self
            .metrics
            .start_unrouted(method_of(req.method()), req.match_info().as_str());
        if let (Some(readers), Some(guard)) = (&self.labels, guard.as_mut()) {
            guard.set_labels(
                self.metrics
                    .label_values(|i, _| read(readers.get(i)?, &req)),
            );
        }
        if let (true, Some(guard)) = (self.body_sizes, guard.as_mut()) {
            count_payload(&mut req, guard);
        }
        if self.exemplars {
            if let (Some(guard), Some(trace)) = (guard.as_mut(), self.trace(&req)) {
                guard.set_trace(trace);
            }
        }
        ResponseFuture {
            inner: self.service.call(req),
            guard,
            metrics: Rc::clone(&self.metrics),
        }
    }
}

/// Wraps the request's payload so that the guard gets its size: `0` for a
/// request without one, else a counter of the bytes the service reads.
fn count_payload(req: &mut ServiceRequest, guard: &mut RequestGuard) {
    match req.take_payload() {
        Payload::None => guard.set_request_body_size(0),
        payload => match guard.count_request_body() {
            Some(counter) => req.set_payload(Payload::Stream {
                payload: Box::pin(CountedPayload {
                    inner: payload,
                    counter,
                }),
            }),
            None => req.set_payload(payload),
        },
    }
}

pin_project! {
    /// A request payload that counts the bytes the service reads of it.
    struct CountedPayload {
        #[pin]
        inner: Payload,
        counter: BodyCounter,
    }
}

impl Stream for CountedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let chunk = ready!(this.inner.poll_next(cx));
        if let Some(Ok(bytes)) = &chunk {
            this.counter.add(bytes.len() as u64);
        }
        Poll::Ready(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// The recorded method: comparisons of `Method` against its constants are integer
/// compares, cheaper than matching on the method's text.
#[inline]
fn method_of(method: &actix_web::http::Method) -> HttpMethod {
    use actix_web::http::Method as M;
    if *method == M::GET {
        HttpMethod::Get
    } else if *method == M::POST {
        HttpMethod::Post
    } else {
        HttpMethod::from_token(method.as_str())
    }
}

/// The route template of a routed request: `None` when no resource matched (the
/// default service).
///
/// actix-web records the resource it routed a request to, and `match_pattern`
/// then walks the resource tree by index instead of matching the path again; but
/// for a request that no resource matched it matches the path against every
/// resource with regular expressions. A request a resource matched has had its
/// whole path consumed by routing, and one that matched nothing has not (its
/// path still holds at least the part after the last matching scope), so
/// `match_pattern` is only asked when nothing is left: a flood of 404s costs no
/// re-match. The one exception is a path equal to a scope's own path (`/api`
/// for `web::scope("/api")`) with no resource at the scope's root: nothing is
/// left of it, no resource matched, and `match_pattern` matches it again to find
/// nothing.
#[inline]
fn routed_pattern(req: &actix_web::HttpRequest) -> Option<String> {
    if req.match_info().unprocessed().is_empty() {
        req.match_pattern()
    } else {
        None
    }
}

pin_project! {
    /// The response future of [`MetricsMiddleware`].
    ///
    /// Dropped before the inner service answers, it records the request as
    /// cancelled (status 499), or as 500 when the handler panicked. The route is
    /// read from the response, so such a request, and one whose inner service
    /// failed instead of answering, is counted under `route="unmatched"`.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<RequestGuard>,
        metrics: Rc<HttpMetrics>,
    }
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<ResponseBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let result = ready!(RequestGuard::poll_scope(this.guard, || inner
            .as_mut()
            .poll(cx)));
        let guard = this.guard.take();
        Poll::Ready(match result {
            Ok(response) => {
                let guard = guard.map(|mut guard| {
                    guard.response_started();
                    let request = response.request();
                    if let Some(route) = routed_pattern(request) {
                        guard.set_route(this.metrics.route(Some(&route)));
                    } else if this.metrics.groups_unmatched() {
                        let method = method_of(request.method());
                        guard.set_route(this.metrics.unmatched_route(method, request.path()));
                    }
                    guard.with_status(response.status().as_u16())
                });
                Ok(response.map_body(|_, body| ResponseBody::new(body, guard)))
            }
            Err(err) => {
                // actix-web turns the error into a response with this status. The
                // request it belonged to is gone: its route is not known.
                let status = err.as_response_error().status_code().as_u16();
                drop(guard.map(|mut g| {
                    g.response_started();
                    g.with_status(status)
                }));
                Err(err)
            }
        })
    }
}

pin_project! {
    /// The response body of [`MetricsMiddleware`]: the inner body, which closes the
    /// request's books when it ends, fails or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        guard: Option<RequestGuard>,
        // Bytes still to come of a body of known length.
        remaining: Option<u64>,
    }
}

impl<B: MessageBody> ResponseBody<B> {
    fn new(inner: B, guard: Option<RequestGuard>) -> Self {
        let (guard, remaining) = match inner.size() {
            // No body, or an empty one: the response ends with its head.
            BodySize::None | BodySize::Sized(0) => (None, None),
            BodySize::Sized(len) => (guard, Some(len)),
            BodySize::Stream => (guard, None),
        };
        Self {
            inner,
            guard,
            remaining,
        }
    }
}

impl<B: MessageBody> MessageBody for ResponseBody<B> {
    type Error = B::Error;

    #[inline]
    fn size(&self) -> BodySize {
        self.inner.size()
    }

    /// A body that is one buffer is complete: the request ends here, and
    /// actix-web writes the bytes without polling a stream.
    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self {
            inner,
            guard,
            remaining,
        } = self;
        match inner.try_into_bytes() {
            Ok(bytes) => {
                drop(guard.map(|mut g| {
                    g.add_response_bytes(bytes.len() as u64);
                    g
                }));
                Ok(bytes)
            }
            Err(inner) => Err(Self {
                inner,
                guard,
                remaining,
            }),
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let chunk = ready!(this.inner.poll_next(cx));
        if let (Some(Ok(bytes)), Some(guard)) = (&chunk, this.guard.as_mut()) {
            guard.add_response_bytes(bytes.len() as u64);
        }
        let ended = match (&chunk, this.remaining) {
            (Some(Ok(bytes)), Some(remaining)) => {
                // A body of known length has ended once all of it was read, even
                // if nobody polls it again.
                *remaining = remaining.saturating_sub(bytes.len() as u64);
                *remaining == 0
            }
            (Some(Ok(_)), None) => false,
            (None | Some(Err(_)), _) => true,
        };
        if ended {
            drop(this.guard.take());
        }
        Poll::Ready(chunk)
    }
}
