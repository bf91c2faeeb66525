//! Per-request cost of the middleware, in process on one thread: the router is
//! called as a service and the response body is read to the end, for the bare
//! framework, promhttp and the peer crates, side by side in one run.
//!
//! `cargo bench -p promhttp-bench --bench request_overhead`

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use actix_web::body::MessageBody;
use actix_web::dev::Service as _;
use actix_web::{test as actix_test, web, App};
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt as _;
use promhttp::{HttpMetrics, Registry};
use tower::Service as _;

/// Polls a future that never waits on I/O to completion, with no runtime.
fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn axum_routes() -> Router {
    Router::new()
        .route("/", get(|| async { "index" }))
        .route("/users/{id}", get(|| async { "user" }))
}

fn axum_request(router: &mut Router) -> usize {
    let req = Request::get("/users/42").body(Body::empty()).unwrap();
    let res = run(router.call(req)).unwrap();
    let mut body = pin!(res.into_body());
    let mut len = 0;
    while let Some(frame) = run(body.as_mut().frame()) {
        len += frame.unwrap().into_data().map_or(0, |d| d.len());
    }
    len
}

fn axum_overhead(c: &mut Criterion) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    // axum-prometheus spawns its upkeep task on the ambient tokio runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let (peer_layer, _peer_handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let mut variants = [
        ("bare", axum_routes()),
        (
            "identity_layer",
            axum_routes().layer(tower::layer::util::Identity::new()),
        ),
        // Any layer that wraps the response body makes axum box it again: this is
        // that floor, with no metrics at all.
        (
            "body_wrapper_only",
            axum_routes().layer(tower::util::MapResponseLayer::new(
                |res: axum::response::Response| res.map(|body| body.map_frame(|frame| frame)),
            )),
        ),
        (
            "promhttp",
            axum_routes().layer(promhttp::axum::MetricsLayer::new(&metrics)),
        ),
        ("axum_prometheus", axum_routes().layer(peer_layer)),
    ];
    let mut group = c.benchmark_group("axum_request");
    for (name, router) in &mut variants {
        // What `axum::serve` does once: build every route's service (and apply its
        // layers) now rather than on every call.
        *router = std::mem::take(router).with_state(());
        assert_eq!(axum_request(router), 4); // warm the series
        group.bench_function(*name, |b| b.iter(|| axum_request(router)));
    }
    group.finish();
}

fn actix_overhead(c: &mut Criterion) {
    let system = actix_web::rt::System::new();
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let peer = actix_web_prom::PrometheusMetricsBuilder::new("api")
        .registry(prometheus::Registry::new())
        .build()
        .unwrap();
    let routes = |cfg: &mut web::ServiceConfig| {
        cfg.route("/", web::get().to(|| async { "index" }))
            .route("/users/{id}", web::get().to(|| async { "user" }));
    };
    let bare = system.block_on(actix_test::init_service(App::new().configure(routes)));
    let ours = system.block_on(actix_test::init_service(
        App::new()
            .wrap(promhttp::actix::Metrics::new(&metrics))
            .configure(routes),
    ));
    let theirs = system.block_on(actix_test::init_service(
        App::new().wrap(peer).configure(routes),
    ));

    macro_rules! request {
        ($app:expr) => {{
            let req = actix_test::TestRequest::get().uri("/users/42").to_request();
            let res = run($app.call(req)).unwrap();
            let mut body = pin!(res.into_body());
            let mut len = 0;
            while let Some(chunk) = run(std::future::poll_fn(|cx| body.as_mut().poll_next(cx))) {
                len += chunk.map_or(0, |c| c.len());
            }
            len
        }};
    }
    let mut group = c.benchmark_group("actix_request");
    system.block_on(async {
        assert_eq!(request!(bare), 4);
        assert_eq!(request!(ours), 4);
        assert_eq!(request!(theirs), 4);
        group.bench_function("bare", |b| b.iter(|| request!(bare)));
        group.bench_function("promhttp", |b| b.iter(|| request!(ours)));
        group.bench_function("actix_web_prom", |b| b.iter(|| request!(theirs)));
    });
    group.finish();
}

criterion_group!(benches, axum_overhead, actix_overhead);
criterion_main!(benches);
