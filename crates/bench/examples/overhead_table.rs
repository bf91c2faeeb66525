//! Per-request cost of each middleware, in process on one thread, measured
//! interleaved: every round times each variant in turn, and the table shows each
//! variant's median over the rounds, so that drift on a shared machine hits all
//! variants alike. The app and the request mix are `promhttp_bench`'s (20 routes,
//! requests spread over eight of them), as in `benches/request_overhead.rs`.
//!
//! `cargo run --release -p promhttp-bench --example overhead_table`
//!
//! `ROUNDS` and `PER_ROUND` (environment) change the number of rounds (default
//! 25) and of requests per variant and round (default 20,000).

use std::time::Instant;

use actix_web::{test as actix_test, App};
use axum::Router;
use promhttp::{HttpMetrics, Registry};
use promhttp_bench::{actix_app, actix_request, axum_app, axum_request, floor, PATHS, ROUTES};

/// One variant of a table: sends a request of the mix, returns the body's length.
type Variant<'a> = Box<dyn FnMut(&str) -> usize + 'a>;

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The least of the rounds: on a shared machine, the round least disturbed.
fn least(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Times `per_round` requests of the mix through `request`, in ns per request.
fn round(per_round: u32, mut request: impl FnMut(&str) -> usize) -> f64 {
    let start = Instant::now();
    for i in 0..per_round {
        std::hint::black_box(request(PATHS[i as usize % PATHS.len()]));
    }
    start.elapsed().as_nanos() as f64 / f64::from(per_round)
}

fn main() {
    // Every request timed on the calibrated clock, as in a running service.
    promhttp::calibrate_clock();
    let rounds = env_or("ROUNDS", 25) as usize;
    let per_round = env_or("PER_ROUND", 20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    // The options that shape the labels, all on; none of them excludes or
    // groups a request of the mix, so the work measured is their checks.
    let options_registry = Registry::new();
    let with_options = promhttp_bench::with_options(&options_registry);
    let (peer_layer, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let mut axum: Vec<(&str, Router)> = vec![
        ("bare", axum_app()),
        (
            "identity layer",
            axum_app().layer(tower::layer::util::Identity::new()),
        ),
        (
            "body-watching wrapper, no metrics",
            axum_app().layer(promhttp_bench::body_watching_layer()),
        ),
        (
            "floor: body watched, clock read at both ends",
            axum_app().layer(floor::TimedLayer::default()),
        ),
        (
            "promhttp",
            axum_app().layer(promhttp::axum::MetricsLayer::new(&metrics)),
        ),
        ("axum-prometheus 0.10", axum_app().layer(peer_layer)),
        (
            "promhttp, with status classes, exclude and groups",
            axum_app().layer(promhttp::axum::MetricsLayer::new(&with_options)),
        ),
    ];
    for (_, router) in &mut axum {
        // What `axum::serve` does once: build every route's service now.
        *router = std::mem::take(router).with_state(());
        for path in PATHS {
            axum_request(router, path);
        }
    }
    let mut axum_times: Vec<Vec<f64>> = vec![Vec::new(); axum.len()];
    for _ in 0..rounds {
        for (i, (_, router)) in axum.iter_mut().enumerate() {
            axum_times[i].push(round(per_round, |path| axum_request(router, path)));
        }
    }

    let system = actix_web::rt::System::new();
    let peer = actix_web_prom::PrometheusMetricsBuilder::new("api")
        .registry(prometheus::Registry::new())
        .build()
        .unwrap();
    let watch = |clock, route| floor::Watch { clock, route };
    let bare = system.block_on(actix_test::init_service(App::new().configure(actix_app)));
    let watched = system.block_on(actix_test::init_service(
        App::new().wrap(watch(false, false)).configure(actix_app),
    ));
    let timed = system.block_on(actix_test::init_service(
        App::new().wrap(watch(true, false)).configure(actix_app),
    ));
    let routed = system.block_on(actix_test::init_service(
        App::new().wrap(watch(true, true)).configure(actix_app),
    ));
    let ours = system.block_on(actix_test::init_service(
        App::new()
            .wrap(promhttp::actix::Metrics::new(&metrics))
            .configure(actix_app),
    ));
    let theirs = system.block_on(actix_test::init_service(
        App::new().wrap(peer).configure(actix_app),
    ));
    let ours_with_options = system.block_on(actix_test::init_service(
        App::new()
            .wrap(promhttp::actix::Metrics::new(&with_options))
            .configure(actix_app),
    ));
    let actix_names = [
        "bare",
        "body-watching middleware, no metrics",
        "floor: body watched, clock read at both ends",
        "floor: and `match_pattern()` after routing",
        "promhttp",
        "actix-web-prom 0.10",
        "promhttp, with status classes, exclude and groups",
    ];
    // The services differ in type: each variant is a closure over its own.
    let mut actix_variants: Vec<Variant<'_>> = vec![
        Box::new(|path| actix_request(&bare, path)),
        Box::new(|path| actix_request(&watched, path)),
        Box::new(|path| actix_request(&timed, path)),
        Box::new(|path| actix_request(&routed, path)),
        Box::new(|path| actix_request(&ours, path)),
        Box::new(|path| actix_request(&theirs, path)),
        Box::new(|path| actix_request(&ours_with_options, path)),
    ];
    let mut actix_times: Vec<Vec<f64>> = vec![Vec::new(); actix_variants.len()];
    system.block_on(async {
        for request in &mut actix_variants {
            for path in PATHS {
                request(path);
            }
        }
        for _ in 0..rounds {
            for (i, request) in actix_variants.iter_mut().enumerate() {
                actix_times[i].push(round(per_round, request));
            }
        }
    });

    println!(
        "{ROUTES}-route app, requests spread over {} routes, body read to the end; \
         {rounds} interleaved rounds of {per_round} requests per variant. \
         `median` is the median round, `least` the fastest round (the one least \
         disturbed by the rest of a shared machine); the added costs are taken \
         from each in turn.\n",
        PATHS.len()
    );
    let axum_names: Vec<&str> = axum.iter().map(|(name, _)| *name).collect();
    print_table(
        "axum",
        &axum_names,
        &axum_times,
        1,
        4,
        5,
        "the identity layer",
    );
    println!();
    print_table("actix-web", &actix_names, &actix_times, 0, 4, 5, "bare");
}

/// Prints one framework's table: each variant's median and fastest round, and
/// the cost promhttp and the peer add over the `base` variant, taken from each.
fn print_table(
    framework: &str,
    names: &[&str],
    times: &[Vec<f64>],
    base: usize,
    ours: usize,
    peer: usize,
    base_name: &str,
) {
    let stats: Vec<[f64; 2]> = times
        .iter()
        .map(|t| [median(t.clone()), least(t)])
        .collect();
    println!("| {framework} | median ns/request | least ns/request | added vs {base_name} (median / least) |");
    println!("|---|---|---|---|");
    for (name, [med, low]) in names.iter().zip(&stats) {
        println!(
            "| {name} | {med:.0} | {low:.0} | {:+.0} / {:+.0} |",
            med - stats[base][0],
            low - stats[base][1]
        );
    }
    for (label, pick) in [("median", 0), ("least", 1)] {
        let (added, peer_added) = (
            stats[ours][pick] - stats[base][pick],
            stats[peer][pick] - stats[base][pick],
        );
        println!(
            "{framework} ({label}): promhttp adds {added:.0} ns over {base_name}, {} {peer_added:.0} ns; ratio {:.3} (1/{:.0})",
            names[peer],
            added / peer_added,
            peer_added / added
        );
    }
}
