//! Per-request cost of the middleware, in process on one thread: the router is
//! called as a service and the response body is read to the end, for the bare
//! framework, promhttp and the peer crates, side by side in one run. The app and
//! the request mix are `promhttp_bench`'s: 20 routes, requests spread over eight.
//!
//! `cargo bench -p promhttp-bench --bench request_overhead`

use actix_web::{test as actix_test, App};
use criterion::{criterion_group, criterion_main, Criterion};
use promhttp::{HttpMetrics, Registry};
use promhttp_bench::{actix_app, actix_request, axum_app, axum_request, PATHS};

/// The next path of the mix, round robin.
fn next(i: &mut usize) -> &'static str {
    *i += 1;
    PATHS[*i % PATHS.len()]
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
        ("bare", axum_app()),
        (
            "identity_layer",
            axum_app().layer(tower::layer::util::Identity::new()),
        ),
        // Any layer that wraps the response body makes axum box it again: this is
        // that floor, with no metrics at all.
        (
            "body_watching_wrapper",
            axum_app().layer(promhttp_bench::body_watching_layer()),
        ),
        (
            "promhttp",
            axum_app().layer(promhttp::axum::MetricsLayer::new(&metrics)),
        ),
        ("axum_prometheus", axum_app().layer(peer_layer)),
    ];
    let mut group = c.benchmark_group("axum_request");
    for (name, router) in &mut variants {
        // What `axum::serve` does once: build every route's service (and apply its
        // layers) now rather than on every call.
        *router = std::mem::take(router).with_state(());
        for path in PATHS {
            axum_request(router, path); // warm the series
        }
        let mut i = 0;
        group.bench_function(*name, |b| b.iter(|| axum_request(router, next(&mut i))));
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
    let bare = system.block_on(actix_test::init_service(App::new().configure(actix_app)));
    let ours = system.block_on(actix_test::init_service(
        App::new()
            .wrap(promhttp::actix::Metrics::new(&metrics))
            .configure(actix_app),
    ));
    let theirs = system.block_on(actix_test::init_service(
        App::new().wrap(peer).configure(actix_app),
    ));

    let mut group = c.benchmark_group("actix_request");
    system.block_on(async {
        for path in PATHS {
            actix_request(&bare, path);
            actix_request(&ours, path);
            actix_request(&theirs, path);
        }
        let mut i = 0;
        group.bench_function("bare", |b| b.iter(|| actix_request(&bare, next(&mut i))));
        group.bench_function("promhttp", |b| {
            b.iter(|| actix_request(&ours, next(&mut i)))
        });
        group.bench_function("actix_web_prom", |b| {
            b.iter(|| actix_request(&theirs, next(&mut i)))
        });
    });
    group.finish();
}

criterion_group!(benches, axum_overhead, actix_overhead);
criterion_main!(benches);
