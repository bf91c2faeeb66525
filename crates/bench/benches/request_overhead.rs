//! Per-request cost of the middleware, in process on one thread: the router is
//! called as a service and the response body is read to the end, for the bare
//! framework, promhttp and the peer crates, side by side in one run.
//!
//! `cargo bench -p promhttp-bench --bench request_overhead`

use actix_web::{test as actix_test, App};
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt as _;
use promhttp::{HttpMetrics, Registry};
use promhttp_bench::{actix_request, actix_routes, axum_request, axum_routes};

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
    let bare = system.block_on(actix_test::init_service(App::new().configure(actix_routes)));
    let ours = system.block_on(actix_test::init_service(
        App::new()
            .wrap(promhttp::actix::Metrics::new(&metrics))
            .configure(actix_routes),
    ));
    let theirs = system.block_on(actix_test::init_service(
        App::new().wrap(peer).configure(actix_routes),
    ));

    let mut group = c.benchmark_group("actix_request");
    system.block_on(async {
        assert_eq!(actix_request(&bare), 4);
        assert_eq!(actix_request(&ours), 4);
        assert_eq!(actix_request(&theirs), 4);
        group.bench_function("bare", |b| b.iter(|| actix_request(&bare)));
        group.bench_function("promhttp", |b| b.iter(|| actix_request(&ours)));
        group.bench_function("actix_web_prom", |b| b.iter(|| actix_request(&theirs)));
    });
    group.finish();
}

criterion_group!(benches, axum_overhead, actix_overhead);
criterion_main!(benches);
