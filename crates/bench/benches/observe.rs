//! Histogram observe: promhttp's `DurationHistogram` against one bare atomic
//! bucket add and `prometheus-client`'s `Histogram`, on one thread and with two
//! threads hammering the same series.
//!
//! `cargo bench -p promhttp-bench --bench observe`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prometheus_client::metrics::histogram::Histogram as PcHistogram;
use promhttp::{DurationHistogram, DEFAULT_BUCKETS};

/// The floor: the same bucket search, then one atomic add.
struct BareBuckets {
    bounds: Vec<u64>,
    buckets: Vec<AtomicU64>,
}

impl BareBuckets {
    fn new() -> Self {
        let bounds: Vec<u64> = DEFAULT_BUCKETS.iter().map(|b| (b * 1e9) as u64).collect();
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self { bounds, buckets }
    }

    #[inline]
    fn observe_nanos(&self, nanos: u64) {
        let i = self
            .bounds
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Relaxed);
    }
}

const NANOS: u64 = 30_000_000; // 30 ms: the fourth bucket of the defaults

/// Runs `observe` `iters` times on each of `threads` threads at once and
/// returns the wall time: throughput is `threads * iters / time`.
fn hammer(threads: usize, iters: u64, observe: &(dyn Fn() + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..iters {
                    observe();
                }
            });
        }
    });
    start.elapsed()
}

fn observe(c: &mut Criterion) {
    let bare = BareBuckets::new();
    let ours = DurationHistogram::new(DEFAULT_BUCKETS).unwrap();
    let theirs = PcHistogram::new(DEFAULT_BUCKETS);

    let mut group = c.benchmark_group("observe_1_thread");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bare_atomic_bucket_add", |b| {
        b.iter(|| bare.observe_nanos(black_box(NANOS)))
    });
    group.bench_function("promhttp", |b| {
        b.iter(|| ours.observe_nanos(black_box(NANOS)))
    });
    group.bench_function("prometheus_client", |b| {
        b.iter(|| theirs.observe(black_box(NANOS as f64 / 1e9)))
    });
    group.finish();

    let mut group = c.benchmark_group("observe_2_threads_same_series");
    group.throughput(Throughput::Elements(2));
    group.bench_function("bare_atomic_bucket_add", |b| {
        b.iter_custom(|iters| hammer(2, iters, &|| bare.observe_nanos(black_box(NANOS))))
    });
    group.bench_function("promhttp", |b| {
        b.iter_custom(|iters| hammer(2, iters, &|| ours.observe_nanos(black_box(NANOS))))
    });
    group.bench_function("prometheus_client", |b| {
        b.iter_custom(|iters| hammer(2, iters, &|| theirs.observe(black_box(NANOS as f64 / 1e9))))
    });
    group.finish();
}

criterion_group!(benches, observe);
criterion_main!(benches);
