//! What `MetricFamily::validate` costs on one sample with many labels (10,000
//! and 40,000): linear, so the second is about four times the first. Before
//! issue 13 the repeated-label check was quadratic (one sample with 200,000
//! labels took 20 s to relay).
//!
//! `cargo bench -p promhttp-bench --bench validate`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use promhttp::family::MetricFamily;

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
