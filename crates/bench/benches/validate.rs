//! What `MetricFamily::validate` costs: on one sample with many labels (10,000
//! and 40,000), near linear (the repeated-label check was once
//! quadratic: one sample with 200,000 labels took 20 s to relay); and on the
//! families a collector gives at every scrape: 100 gauges of three labels, and a
//! histogram of 10 series of 14 buckets.
//!
//! `cargo bench -p promhttp-bench --bench validate`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use promhttp::family::{MetricFamily, MetricType, Sample};

fn wide(labels: usize) -> MetricFamily {
    let mut family = MetricFamily::gauge("wide", "");
    family.add_gauge((0..labels).map(|i| (format!("l{i}"), format!("v{i}"))), 1.0);
    family
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate_one_wide_sample");
    for labels in [10_000, 40_000] {
        let family = wide(labels);
        group.bench_with_input(BenchmarkId::from_parameter(labels), &family, |b, f| {
            b.iter(|| black_box(f.validate()).unwrap());
        });
    }
    group.finish();
    let mut group = c.benchmark_group("validate_collector_family");
    let mut gauges = MetricFamily::gauge("pods_ready", "");
    for i in 0..100 {
        gauges.add_gauge(
            [
                ("namespace", "default".to_owned()),
                ("pod", format!("web-{i}")),
                ("node", format!("node-{}", i % 7)),
            ],
            f64::from(i),
        );
    }
    group.bench_function("100_gauges", |b| {
        b.iter(|| black_box(&gauges).validate().unwrap());
    });
    let mut histogram = MetricFamily::new("latency_seconds", MetricType::Histogram, "");
    for series in 0..10 {
        let route = format!("/r{series}");
        for (i, le) in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0",
            "30.0", "60.0", "+Inf",
        ]
        .iter()
        .enumerate()
        {
            histogram.samples.push(Sample::new(
                "latency_seconds_bucket",
                [("route", route.as_str()), ("le", le)],
                i as f64,
            ));
        }
        histogram.samples.push(Sample::new(
            "latency_seconds_sum",
            [("route", route.as_str())],
            1.5,
        ));
        histogram.samples.push(Sample::new(
            "latency_seconds_count",
            [("route", route.as_str())],
            13.0,
        ));
    }
    group.bench_function("histogram_10_series", |b| {
        b.iter(|| black_box(&histogram).validate().unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
