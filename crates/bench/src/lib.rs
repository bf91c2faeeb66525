//! Benchmarks of promhttp; see `benches/` and BENCHMARKS.md.
//!
//! The apps and the request loops that `benches/request_overhead.rs`,
//! `examples/overhead_table.rs` and `examples/load_target.rs` measure, so that
//! all three always measure the same thing.
//!
//! The app is one of realistic size, the same in both frameworks: 20 routes,
//! static and parameterised, two levels of nested routers (axum) or scopes
//! (actix-web), and a wildcard tail route. [`PATHS`] spreads the requests over
//! eight of them.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::{test as actix_test, web};
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::Request;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt as _;
use tower::Service as _;

/// The floor of any layer that watches the response body in an axum `Router`:
/// the response body wrapped in a body that forwards everything (size hint
/// included, so that axum still sets `content-length`), no metrics. axum boxes
/// the wrapped body again, as it does promhttp's.
pub fn body_watching_layer() -> tower::util::MapResponseLayer<fn(Response) -> Response<Forwarding>>
{
    tower::util::MapResponseLayer::new(|res: Response| res.map(|inner| Forwarding { inner }))
}

pin_project_lite::pin_project! {
    /// A response body that forwards every call to the one it wraps.
    pub struct Forwarding {
        #[pin]
        inner: Body,
    }
}

impl http_body::Body for Forwarding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// promhttp's HTTP metric set in `registry` with the options that shape the
/// labels all on (`status_classes`, an `exclude` predicate,
/// `group_unmatched`), none of which acts on [`PATHS`]: what the benches
/// measure is their checks.
///
/// # Panics
/// Never: the options are valid.
#[must_use]
pub fn with_options(registry: &promhttp::Registry) -> promhttp::HttpMetrics {
    promhttp::HttpMetrics::builder()
        .registry(registry)
        .status_classes(true)
        .exclude(|r| r.status == 404 && r.route == promhttp::UNMATCHED_ROUTE)
        .group_unmatched(["static"], |_, path| {
            path.starts_with("/assets/").then_some("static")
        })
        .build()
        .expect("valid options")
}

/// Polls a future that never waits on I/O to completion, with no runtime.
pub fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// The request mix: eight of the app's routes, each answered 200 with a short
/// body, in both frameworks.
pub const PATHS: [&str; 8] = [
    "/",
    "/users/42",
    "/users/42/posts/7",
    "/api/v1/items/3",
    "/api/v1/orders/9/lines/2",
    "/admin/users/5",
    "/static/css/site.css",
    "/health",
];

/// The route templates of [`PATHS`], in the same order (axum's spelling).
pub const TEMPLATES: [&str; 8] = [
    "/",
    "/users/{id}",
    "/users/{id}/posts/{post}",
    "/api/v1/items/{id}",
    "/api/v1/orders/{id}/lines/{line}",
    "/admin/users/{id}",
    "/static/{*path}",
    "/health",
];

/// The number of routes in each app.
pub const ROUTES: usize = 20;

async fn one(Path(id): Path<String>) -> String {
    id
}

async fn two(Path((a, b)): Path<(String, String)>) -> String {
    format!("{a}/{b}")
}

/// The axum app measured: [`ROUTES`] routes, `/api/v1` and `/admin` nested.
pub fn axum_app() -> Router {
    let v1 = Router::new()
        .route("/items", get(|| async { "items" }))
        .route("/items/{id}", get(one))
        .route("/orders", get(|| async { "orders" }))
        .route("/orders/{id}", get(one))
        .route("/orders/{id}/lines/{line}", get(two));
    let api = Router::new()
        .nest("/v1", v1)
        .route("/v2/search", get(|| async { "search" }));
    let admin = Router::new()
        .route("/stats", get(|| async { "stats" }))
        .route("/users/{id}", get(one));
    Router::new()
        .route("/", get(|| async { "index" }))
        .route("/health", get(|| async { "ok" }))
        .route("/about", get(|| async { "about" }))
        .route("/version", get(|| async { "1.0" }))
        .route("/login", post(|| async { "in" }))
        .route("/logout", post(|| async { "out" }))
        .route("/users", get(|| async { "users" }))
        .route("/users/{id}", get(one))
        .route("/users/{id}/posts", get(one))
        .route("/users/{id}/posts/{post}", get(two))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/static/{*path}", get(one))
        .nest("/api", api)
        .nest("/admin", admin)
}

/// `GET path` through `router`, its body read to the end; the body's length.
pub fn axum_request(router: &mut Router, path: &str) -> usize {
    let req = Request::get(path).body(Body::empty()).unwrap();
    let res = run(router.call(req)).unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    axum_body_len(res.into_body())
}

/// Reads an axum response body to the end; its length.
fn axum_body_len(body: Body) -> usize {
    let mut body = pin!(body);
    let mut len = 0;
    while let Some(frame) = run(body.as_mut().frame()) {
        len += frame.unwrap().into_data().map_or(0, |d| d.len());
    }
    len
}

/// Reads an actix-web response body to the end; its length.
fn actix_body_len<B: MessageBody>(body: B) -> usize {
    let mut body = pin!(body);
    let mut len = 0;
    while let Some(chunk) = run(std::future::poll_fn(|cx| body.as_mut().poll_next(cx))) {
        len += chunk
            .unwrap_or_else(|_| panic!("the response body failed"))
            .len();
    }
    len
}

/// `POST /echo` of `body` through `router`, the echo read to the end; its
/// length.
pub fn axum_request_echo(router: &mut Router, body: &'static [u8]) -> usize {
    let req = Request::post("/echo").body(Body::from(body)).unwrap();
    let res = run(router.call(req)).unwrap();
    assert!(res.status().is_success(), "/echo: {}", res.status());
    axum_body_len(res.into_body())
}

async fn actix_one(id: web::Path<String>) -> String {
    id.into_inner()
}

async fn actix_two(ids: web::Path<(String, String)>) -> String {
    let (a, b) = ids.into_inner();
    format!("{a}/{b}")
}

/// The actix-web app measured, the same [`ROUTES`] routes as [`axum_app`]:
/// `/api/v1` and `/admin` are scopes.
pub fn actix_app(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { "index" }))
        .route("/health", web::get().to(|| async { "ok" }))
        .route("/about", web::get().to(|| async { "about" }))
        .route("/version", web::get().to(|| async { "1.0" }))
        .route("/login", web::post().to(|| async { "in" }))
        .route("/logout", web::post().to(|| async { "out" }))
        .route("/users", web::get().to(|| async { "users" }))
        .route("/users/{id}", web::get().to(actix_one))
        .route("/users/{id}/posts", web::get().to(actix_one))
        .route("/users/{id}/posts/{post}", web::get().to(actix_two))
        .route(
            "/echo",
            web::post().to(|body: web::Bytes| async move { body }),
        )
        .route("/static/{path:.*}", web::get().to(actix_one))
        .service(
            web::scope("/api")
                .service(
                    web::scope("/v1")
                        .route("/items", web::get().to(|| async { "items" }))
                        .route("/items/{id}", web::get().to(actix_one))
                        .route("/orders", web::get().to(|| async { "orders" }))
                        .route("/orders/{id}", web::get().to(actix_one))
                        .route("/orders/{id}/lines/{line}", web::get().to(actix_two)),
                )
                .route("/v2/search", web::get().to(|| async { "search" })),
        )
        .service(
            web::scope("/admin")
                .route("/stats", web::get().to(|| async { "stats" }))
                .route("/users/{id}", web::get().to(actix_one)),
        );
}

/// `GET path` through `app`, its body read to the end; the body's length.
pub fn actix_request<S, B>(app: &S, path: &str) -> usize
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: MessageBody,
{
    let req = actix_test::TestRequest::get().uri(path).to_request();
    let res = run(app.call(req)).unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    actix_body_len(res.into_body())
}

/// `POST /echo` of `body` through `app`, the echo read to the end; its length.
pub fn actix_request_echo<S, B>(app: &S, body: &'static [u8]) -> usize
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: MessageBody,
{
    let req = actix_test::TestRequest::post()
        .uri("/echo")
        .set_payload(body)
        .to_request();
    let res = run(app.call(req)).unwrap();
    assert!(res.status().is_success(), "/echo: {}", res.status());
    actix_body_len(res.into_body())
}

/// The registries the render benchmarks encode: `n` histogram series labelled
/// method, route and status, with the default 14 buckets, one observation each.
pub mod render {
    use promhttp::{HttpMethod, HttpMetrics, Registry, DEFAULT_BUCKETS};

    const STATUSES: [u16; 10] = [200, 201, 204, 301, 304, 400, 401, 404, 500, 503];

    /// (route, status) for `n` series.
    pub fn series(n: usize) -> impl Iterator<Item = (String, u16)> {
        (0..n).map(|i| {
            (
                format!("/api/v1/resource{}/{{id}}", i / 10),
                STATUSES[i % 10],
            )
        })
    }

    /// promhttp's HTTP metric set with `n` series.
    pub fn promhttp_registry(n: usize) -> Registry {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder()
            .registry(&registry)
            .max_series(n.max(1))
            .build()
            .unwrap();
        for (route, status) in series(n) {
            let mut guard = metrics.route(Some(&route)).start(HttpMethod::Get).unwrap();
            guard.set_status(status);
        }
        registry
    }

    type Labels = Vec<(&'static str, String)>;

    /// prometheus-client's `Family<_, Histogram>` with the same `n` series.
    pub fn prometheus_client_registry(n: usize) -> prometheus_client::registry::Registry {
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::histogram::Histogram;
        let mut registry = prometheus_client::registry::Registry::default();
        let family: Family<Labels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS));
        registry.register(
            "http_server_request_duration_seconds",
            "Latency",
            family.clone(),
        );
        for (route, status) in series(n) {
            let labels = vec![
                ("method", "GET".to_owned()),
                ("route", route),
                ("status", status.to_string()),
            ];
            family.get_or_create(&labels).observe(0.003);
        }
        registry
    }

    /// prometheus-client's OpenMetrics encoder on `registry`.
    pub fn prometheus_client_text(registry: &prometheus_client::registry::Registry) -> String {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, registry).unwrap();
        s
    }
}

/// The fixture of the exporter toolkit benchmarks: 100 gauges labelled pod and
/// namespace, as a prometheus-client family and as owned families.
pub mod pods {
    use std::sync::LazyLock;

    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use promhttp::collect::{CollectError, Families};
    use promhttp::family::MetricFamily;

    /// How many series.
    pub const SERIES: usize = 100;

    /// The label values: `[pod, namespace]` per series.
    pub fn pods() -> Vec<[String; 2]> {
        (0..SERIES)
            .map(|i| [format!("pod-{i}"), format!("ns-{}", i % 7)])
            .collect()
    }

    /// The family a collector declares.
    pub fn declared() -> MetricFamily {
        MetricFamily::gauge("pod_energy", "Energy.")
    }

    /// A collector of the series: reads the label values from memory, as a
    /// collector reads the state of the application it reports on (the
    /// reference holds its label values too), and adds a sample per series to
    /// the declared family, on every call.
    ///
    /// # Errors
    /// Never: the family is declared with [`declared`].
    pub fn collect(out: &mut Families) -> Result<(), CollectError> {
        static PODS: LazyLock<Vec<[String; 2]>> = LazyLock::new(pods);
        let mut family = out.family("pod_energy")?;
        for (i, [pod, ns]) in PODS.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            family.add_gauge([("pod", pod), ("namespace", ns)], i as f64);
        }
        Ok(())
    }

    /// The series as a prometheus-client family.
    pub fn client_family() -> Family<Vec<(String, String)>, Gauge> {
        let family = Family::<Vec<(String, String)>, Gauge>::default();
        for (i, [pod, ns]) in pods().into_iter().enumerate() {
            #[allow(clippy::cast_possible_wrap)]
            family
                .get_or_create(&vec![("pod".into(), pod), ("namespace".into(), ns)])
                .set(i as i64);
        }
        family
    }
}

/// The median and the fastest of each variant's times (sorted in place): what the
/// interleaved tables print.
pub fn median_and_fastest(times: &mut [Vec<f64>]) -> Vec<(f64, f64)> {
    times
        .iter_mut()
        .map(|t| {
            t.sort_by(f64::total_cmp);
            (t[t.len() / 2], t[0])
        })
        .collect()
}

/// The floors under promhttp's per-request cost: wrappers that do what any
/// middleware recording a request's duration to the end of its body must do,
/// and nothing else (no counters, no gauges, no histogram). The overhead table
/// measures them beside promhttp, so that its figures can be read against what
/// no implementation can avoid in each framework.
pub mod floor {
    use std::future::{ready, Future, Ready};
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    use actix_web::body::{BodySize, MessageBody};
    use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
    use axum::body::{Body, Bytes};
    use axum::http::Request;
    use axum::response::Response;

    /// Reads the clock the way promhttp does (`quanta`'s raw counter).
    #[derive(Clone, Debug)]
    pub struct Stopwatch(quanta::Clock);

    impl Stopwatch {
        /// A stopwatch on `quanta`'s clock.
        #[must_use]
        pub fn new() -> Self {
            Self(quanta::Clock::new())
        }

        fn start(&self) -> u64 {
            self.0.raw()
        }

        /// The nanoseconds since `start`, kept from the optimiser.
        fn stop(&self, start: u64) {
            std::hint::black_box(self.0.delta_as_nanos(start, self.0.raw()));
        }
    }

    impl Default for Stopwatch {
        fn default() -> Self {
            Self::new()
        }
    }

    /// A tower layer (added with `Router::layer`, like promhttp's) that reads
    /// the clock when a request enters and again when its response body ends:
    /// the least a duration to the end of the body costs in an axum `Router`.
    #[derive(Clone, Debug, Default)]
    pub struct TimedLayer(Stopwatch);

    impl<S> tower::Layer<S> for TimedLayer {
        type Service = Timed<S>;

        fn layer(&self, inner: S) -> Timed<S> {
            Timed {
                inner,
                clock: self.0.clone(),
            }
        }
    }

    /// The service of [`TimedLayer`].
    #[derive(Clone, Debug)]
    pub struct Timed<S> {
        inner: S,
        clock: Stopwatch,
    }

    impl<S> tower::Service<Request<Body>> for Timed<S>
    where
        S: tower::Service<Request<Body>, Response = Response>,
    {
        type Response = Response<TimedBody>;
        type Error = S::Error;
        type Future = TimedFuture<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, req: Request<Body>) -> Self::Future {
            let start = self.clock.start();
            TimedFuture {
                inner: self.inner.call(req),
                clock: Some((self.clock.clone(), start)),
            }
        }
    }

    pin_project_lite::pin_project! {
        /// The future of [`Timed`].
        pub struct TimedFuture<F> {
            #[pin]
            inner: F,
            clock: Option<(Stopwatch, u64)>,
        }
    }

    impl<F, E> Future for TimedFuture<F>
    where
        F: Future<Output = Result<Response, E>>,
    {
        type Output = Result<Response<TimedBody>, E>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = self.project();
            let res = std::task::ready!(this.inner.poll(cx));
            let clock = this.clock.take();
            Poll::Ready(res.map(|res| res.map(|inner| TimedBody { inner, clock })))
        }
    }

    pin_project_lite::pin_project! {
        /// A response body that stops the clock when it ends.
        pub struct TimedBody {
            #[pin]
            inner: Body,
            clock: Option<(Stopwatch, u64)>,
        }
    }

    impl http_body::Body for TimedBody {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
            let mut this = self.project();
            let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
            if !matches!(frame, Some(Ok(_))) || this.inner.is_end_stream() {
                if let Some((clock, start)) = this.clock.take() {
                    clock.stop(start);
                }
            }
            Poll::Ready(frame)
        }

        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> http_body::SizeHint {
            self.inner.size_hint()
        }
    }

    /// actix-web middleware that watches the response body to its end, and
    /// optionally reads the clock at both ends and the route after routing
    /// (`match_pattern()`, the one public way to the template of a request that
    /// routing matched): the floors of promhttp's middleware.
    #[derive(Clone, Debug)]
    pub struct Watch {
        /// Read the clock when the request enters and when its body ends.
        pub clock: bool,
        /// Ask `match_pattern()` for the route once the inner service answered.
        pub route: bool,
    }

    impl<S, B> Transform<S, ServiceRequest> for Watch
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        type Response = ServiceResponse<WatchedBody<B>>;
        type Error = actix_web::Error;
        type Transform = WatchService<S>;
        type InitError = ();
        type Future = Ready<Result<WatchService<S>, ()>>;

        fn new_transform(&self, service: S) -> Self::Future {
            ready(Ok(WatchService {
                service,
                watch: Rc::new(self.clone()),
                clock: Stopwatch::new(),
            }))
        }
    }

    /// The service of [`Watch`].
    #[derive(Debug)]
    pub struct WatchService<S> {
        service: S,
        watch: Rc<Watch>,
        clock: Stopwatch,
    }

    impl<S, B> Service<ServiceRequest> for WatchService<S>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        type Response = ServiceResponse<WatchedBody<B>>;
        type Error = actix_web::Error;
        type Future = WatchFuture<S::Future>;

        actix_web::dev::forward_ready!(service);

        fn call(&self, req: ServiceRequest) -> Self::Future {
            let clock = self
                .watch
                .clock
                .then(|| (self.clock.clone(), self.clock.start()));
            WatchFuture {
                inner: self.service.call(req),
                clock,
                route: self.watch.route,
            }
        }
    }

    pin_project_lite::pin_project! {
        /// The future of [`WatchService`].
        pub struct WatchFuture<F> {
            #[pin]
            inner: F,
            clock: Option<(Stopwatch, u64)>,
            route: bool,
        }
    }

    impl<F, B> Future for WatchFuture<F>
    where
        F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
        B: MessageBody,
    {
        type Output = Result<ServiceResponse<WatchedBody<B>>, actix_web::Error>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = self.project();
            let res = std::task::ready!(this.inner.poll(cx))?;
            if *this.route {
                std::hint::black_box(res.request().match_pattern());
            }
            let clock = this.clock.take();
            Poll::Ready(Ok(res.map_body(|_, inner| {
                let clock = clock.filter(|_| !matches!(inner.size(), BodySize::None));
                WatchedBody { inner, clock }
            })))
        }
    }

    pin_project_lite::pin_project! {
        /// A response body that stops the clock, if one runs, when it ends.
        pub struct WatchedBody<B> {
            #[pin]
            inner: B,
            clock: Option<(Stopwatch, u64)>,
        }
    }

    impl<B: MessageBody> MessageBody for WatchedBody<B> {
        type Error = B::Error;

        fn size(&self) -> BodySize {
            self.inner.size()
        }

        fn poll_next(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Bytes, Self::Error>>> {
            let this = self.project();
            let chunk = std::task::ready!(this.inner.poll_next(cx));
            if !matches!(chunk, Some(Ok(_))) {
                if let Some((clock, start)) = this.clock.take() {
                    clock.stop(start);
                }
            }
            Poll::Ready(chunk)
        }

        fn try_into_bytes(self) -> Result<Bytes, Self> {
            let Self { inner, clock } = self;
            match inner.try_into_bytes() {
                Ok(bytes) => {
                    if let Some((clock, start)) = clock {
                        clock.stop(start);
                    }
                    Ok(bytes)
                }
                Err(inner) => Err(Self { inner, clock }),
            }
        }
    }
}
