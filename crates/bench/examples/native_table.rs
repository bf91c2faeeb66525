//! What native buckets cost an observation: a `DurationHistogram` with the
//! default 14 classic buckets, without and with native buckets (factor 1.1),
//! on one thread and on two threads writing the same histogram, interleaved
//! (every round times each variant in turn).
//!
//! `cargo run --release -p promhttp-bench --example native_table`
//! (`ROUNDS`, default 51; `PER_ROUND`, default 200000.)

use std::hint::black_box;
use std::time::Instant;

use promhttp::{DurationHistogram, NativeHistogram, DEFAULT_BUCKETS};
use promhttp_bench::median_and_fastest;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Nanoseconds per observation, `threads` threads observing `per_thread` each.
fn run(h: &DurationHistogram, threads: usize, per_thread: usize) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                // Durations from 50 µs to about 50 ms, spread over the buckets.
                let mut nanos = 50_000u64 + t as u64;
                for _ in 0..per_thread {
                    h.observe_nanos(black_box(nanos));
                    nanos = if nanos > 50_000_000 {
                        50_000
                    } else {
                        nanos * 21 / 20
                    };
                }
            });
        }
    });
    #[allow(clippy::cast_precision_loss)]
    let per = start.elapsed().as_secs_f64() * 1e9 / (threads * per_thread) as f64;
    per
}

fn main() {
    let rounds = env_or("ROUNDS", 51);
    let per_round = env_or("PER_ROUND", 200_000);
    let classic = DurationHistogram::new(DEFAULT_BUCKETS).unwrap();
    let native = DurationHistogram::new(DEFAULT_BUCKETS)
        .unwrap()
        .with_native(NativeHistogram::new())
        .unwrap();
    let variants: [(&str, &DurationHistogram, usize); 4] = [
        ("classic, 1 thread", &classic, 1),
        ("classic + native, 1 thread", &native, 1),
        ("classic, 2 threads", &classic, 2),
        ("classic + native, 2 threads", &native, 2),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, h, threads)) in variants.iter().enumerate() {
            times[i].push(run(h, *threads, per_round / threads));
        }
    }
    let stats = median_and_fastest(&mut times);
    println!("observe cost, {rounds} interleaved rounds of {per_round} observations\n");
    println!("| histogram | median ns/observation | fastest |");
    println!("|---|---|---|");
    for ((name, _, _), (med, low)) in variants.iter().zip(&stats) {
        println!("| {name} | {med:.2} | {low:.2} |");
    }
}
