//! The core recording path, without any framework: what one request costs the
//! metric set (`start` + `set_status` + drop), and its parts.
//!
//! `cargo bench -p promhttp-bench --bench record`

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use promhttp::{HttpMethod, HttpMetrics, Registry};

fn record(c: &mut Criterion) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let route = metrics.route(Some("/users/{id}"));
    let mut group = c.benchmark_group("record");
    group.bench_function("start_finish_cached_route", |b| {
        b.iter(|| {
            let mut guard = black_box(&route).start(HttpMethod::Get).unwrap();
            guard.set_status(black_box(200));
        })
    });
    group.bench_function("route_lookup", |b| {
        b.iter(|| black_box(metrics.route(black_box(Some("/users/{id}")))))
    });
    group.bench_function("instant_now_elapsed", |b| {
        b.iter(|| black_box(Instant::now()).elapsed())
    });
    let clock = quanta::Clock::new();
    group.bench_function("quanta_now_elapsed", |b| {
        b.iter(|| {
            let start = black_box(clock.now());
            clock.now().duration_since(start)
        })
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
