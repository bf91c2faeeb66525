//! What the exporter toolkit costs a scrape, side by side in one run: an empty
//! registry; one family from memory (`SyncedGaugeFamily`, 100 series); the same
//! 100 series from a scrape-time collector run inline and on its own thread (the
//! default, which buys the timeout); and a `prometheus-client` `Family` of 100
//! gauges for reference.
//!
//! `cargo bench -p promhttp-bench --bench collect`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};

use promhttp::source::SyncedGaugeFamily;
use promhttp::{Format, Registry};

use promhttp_bench::pods::{client_family, pods};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape_100_gauges");
    let empty = Registry::new();
    group.bench_function("empty_registry", |b| {
        b.iter(|| black_box(empty.encode(Format::OpenMetrics).unwrap()));
    });

    let client = Registry::new();
    client
        .register("pod_energy", "Energy.", client_family())
        .unwrap();
    group.bench_function("prometheus_client_family", |b| {
        b.iter(|| black_box(client.encode(Format::OpenMetrics).unwrap()));
    });

    let synced = Registry::new();
    let source = SyncedGaugeFamily::new(["pod", "namespace"]).unwrap();
    source
        .replace(pods().into_iter().enumerate().map(|(i, p)| (p, i as f64)))
        .unwrap();
    synced
        .register_family("pod_energy", "Energy.", source)
        .unwrap();
    group.bench_function("synced_gauge_family", |b| {
        b.iter(|| black_box(synced.encode(Format::OpenMetrics).unwrap()));
    });

    for (name, inline) in [("collector_inline", true), ("collector_thread", false)] {
        let registry = Registry::new();
        let builder = registry
            .collector("pods")
            .family(promhttp_bench::pods::declared());
        let builder = if inline { builder.inline() } else { builder };
        builder.register(promhttp_bench::pods::collect).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| black_box(registry.encode(Format::OpenMetrics).unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
