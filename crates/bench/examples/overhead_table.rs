//! Per-request cost of each middleware, in process on one thread, measured
//! interleaved: every round times each variant in turn, and the table shows each
//! variant's median over the rounds, so that drift on a shared machine hits all
//! variants alike. The same setup as `benches/request_overhead.rs`.
//!
//! `cargo run --release -p promhttp-bench --example overhead_table`

use std::time::Instant;

use actix_web::{test as actix_test, App};
use axum::Router;
use promhttp::{HttpMetrics, Registry};
use promhttp_bench::{actix_request, actix_routes, axum_request, axum_routes};

const ROUNDS: usize = 25;
const PER_ROUND: u32 = 20_000;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let (peer_layer, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let mut axum: Vec<(&str, Router)> = vec![
        ("bare", axum_routes()),
        (
            "identity layer",
            axum_routes().layer(tower::layer::util::Identity::new()),
        ),
        (
            "promhttp",
            axum_routes().layer(promhttp::axum::MetricsLayer::new(&metrics)),
        ),
        ("axum-prometheus 0.10", axum_routes().layer(peer_layer)),
    ];
    for (_, router) in &mut axum {
        *router = std::mem::take(router).with_state(());
        axum_request(router);
    }
    let mut axum_times: Vec<Vec<f64>> = vec![Vec::new(); axum.len()];
    for _ in 0..ROUNDS {
        for (i, (_, router)) in axum.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                axum_request(router);
            }
            axum_times[i].push(start.elapsed().as_nanos() as f64 / f64::from(PER_ROUND));
        }
    }

    let system = actix_web::rt::System::new();
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
    macro_rules! actix_round {
        ($app:expr) => {{
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                actix_request(&$app);
            }
            start.elapsed().as_nanos() as f64 / f64::from(PER_ROUND)
        }};
    }
    let actix_names = ["bare", "promhttp", "actix-web-prom 0.10"];
    let mut actix_times: Vec<Vec<f64>> = vec![Vec::new(); 3];
    system.block_on(async {
        for _ in 0..ROUNDS {
            actix_times[0].push(actix_round!(bare));
            actix_times[1].push(actix_round!(ours));
            actix_times[2].push(actix_round!(theirs));
        }
    });

    let axum_med: Vec<f64> = axum_times.into_iter().map(median).collect();
    println!("| axum (GET /users/{{id}}, body read) | ns/request | added vs bare | added vs identity layer |");
    println!("|---|---|---|---|");
    for ((name, _), t) in axum.iter().zip(&axum_med) {
        println!(
            "| {name} | {t:.0} | {:+.0} | {:+.0} |",
            t - axum_med[0],
            t - axum_med[1]
        );
    }
    let (ours_axum, peer_axum) = (axum_med[2] - axum_med[1], axum_med[3] - axum_med[1]);
    println!(
        "\npromhttp's added cost is {:.3} of axum-prometheus's (both against the identity layer)\n",
        ours_axum / peer_axum
    );

    let actix_med: Vec<f64> = actix_times.into_iter().map(median).collect();
    println!("| actix-web (GET /users/{{id}}, body read) | ns/request | added vs bare |");
    println!("|---|---|---|");
    for (name, t) in actix_names.iter().zip(&actix_med) {
        println!("| {name} | {t:.0} | {:+.0} |", t - actix_med[0]);
    }
    println!(
        "\npromhttp's added cost is {:.3} of actix-web-prom's",
        (actix_med[1] - actix_med[0]) / (actix_med[2] - actix_med[0])
    );
    println!("\n{ROUNDS} interleaved rounds of {PER_ROUND} requests per variant; medians.");
}
