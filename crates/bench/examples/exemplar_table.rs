//! What exemplars cost one request in the core (start, status, end), measured
//! interleaved (every round times each variant in turn): a set without
//! exemplars, a set with exemplars and a request without a trace, with a trace
//! handed over as a `TraceContext`, and with a trace read from a `traceparent`
//! header value. Four routes in turn, one status.
//!
//! `cargo run --release -p promhttp-bench --example exemplar_table`
//! (`ROUNDS`, default 101; `PER_ROUND`, default 20000.)

use std::hint::black_box;
use std::time::Instant;

use promhttp::{HttpMethod, HttpMetrics, Registry, RouteHandle, TraceContext};
use promhttp_bench::median_and_fastest;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ROUTES: [&str; 4] = ["/", "/users/{id}", "/api/v1/items/{id}", "/health"];
const TRACEPARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn routes(exemplars: bool) -> (Registry, Vec<RouteHandle>) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exemplars(exemplars)
        .build()
        .unwrap();
    let handles = ROUTES.iter().map(|r| metrics.route(Some(r))).collect();
    (registry, handles)
}

/// A variant's name, and one request on route `i`.
type Variant<'a> = (&'static str, Box<dyn FnMut(usize) + 'a>);

fn main() {
    let rounds = env_or("ROUNDS", 101);
    let per_round = env_or("PER_ROUND", 20_000);
    let (_off_registry, off) = routes(false);
    let (_on_registry, on) = routes(true);
    let trace = TraceContext::from_traceparent(TRACEPARENT).unwrap();
    let mut variants: Vec<Variant<'_>> = vec![
        (
            "exemplars off",
            Box::new(|i| {
                let guard = off[i].start(HttpMethod::Get).unwrap();
                drop(black_box(guard).with_status(200));
            }),
        ),
        (
            "exemplars on, no trace",
            Box::new(|i| {
                let guard = on[i].start(HttpMethod::Get).unwrap();
                drop(black_box(guard).with_status(200));
            }),
        ),
        (
            "exemplars on, a `TraceContext` set",
            Box::new(|i| {
                let mut guard = on[i].start(HttpMethod::Get).unwrap();
                guard.set_trace(black_box(trace));
                drop(black_box(guard).with_status(200));
            }),
        ),
        (
            "exemplars on, `traceparent` read and set",
            Box::new(|i| {
                let mut guard = on[i].start(HttpMethod::Get).unwrap();
                if let Some(trace) = TraceContext::from_traceparent(black_box(TRACEPARENT)) {
                    guard.set_trace(trace);
                }
                drop(black_box(guard).with_status(200));
            }),
        ),
    ];
    for (_, v) in &mut variants {
        for i in 0..1000 {
            v(i % ROUTES.len());
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (k, (_, v)) in variants.iter_mut().enumerate() {
            let start = Instant::now();
            for i in 0..per_round {
                v(i % ROUTES.len());
            }
            #[allow(clippy::cast_precision_loss)]
            times[k].push(start.elapsed().as_secs_f64() * 1e9 / per_round as f64);
        }
    }
    let stats = median_and_fastest(&mut times);
    println!("one request in the core; {rounds} interleaved rounds of {per_round}\n");
    println!("| variant | median ns | fastest ns | added vs off (median / fastest) |");
    println!("|---|---|---|---|");
    for ((name, _), (med, low)) in variants.iter().zip(&stats) {
        println!(
            "| {name} | {med:.1} | {low:.1} | {:+.1} / {:+.1} |",
            med - stats[0].0,
            low - stats[0].1
        );
    }
}
