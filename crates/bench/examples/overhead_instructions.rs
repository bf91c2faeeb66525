//! Instructions per request of each variant of the overhead table, counted by
//! `valgrind --tool=callgrind`: unlike time, the count does not move with
//! whatever else the machine is doing, so small differences between variants
//! (tens of nanoseconds, below the noise of a shared machine) can be read off
//! it. `scripts/instructions.sh` runs every variant once and counts only inside
//! the request loop's function, so that start-up is not counted.
//!
//! `overhead_instructions <variant> <requests>`; the variants are listed by
//! `overhead_instructions list`.

use actix_web::{test as actix_test, App};
use promhttp::{HttpMetrics, Registry};
use promhttp_bench::{
    actix_app, actix_request, actix_request_echo, axum_app, axum_request, axum_request_echo, floor,
    PATHS,
};

const AXUM: [&str; 12] = [
    "axum/identity",
    "axum/body-watching",
    "axum/floor-clock",
    "axum/promhttp",
    "axum/promhttp-options",
    "axum/promhttp-labels",
    "axum/promhttp-sizes",
    "axum/promhttp-first-byte",
    "axum/bare",
    "axum/identity-echo",
    "axum/promhttp-echo",
    "axum/promhttp-sizes-echo",
];
const ACTIX: [&str; 12] = [
    "actix/bare",
    "actix/bare-echo",
    "actix/body-watching",
    "actix/floor-clock",
    "actix/floor-clock-route",
    "actix/promhttp",
    "actix/promhttp-options",
    "actix/promhttp-labels",
    "actix/promhttp-sizes",
    "actix/promhttp-first-byte",
    "actix/promhttp-echo",
    "actix/promhttp-sizes-echo",
];

/// The body the `-echo` variants post to `/echo` (1 KiB), which echoes it.
const ECHO: &[u8] = &[b'e'; 1024];

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_default();
    if variant == "list" || variant.is_empty() {
        for name in AXUM.iter().chain(&ACTIX) {
            println!("{name}");
        }
        return;
    }
    let count: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .expect("usage: overhead_instructions <variant> <requests>");
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    // As in the overhead table: the options on, none of them acting on the mix.
    let with_options = promhttp_bench::with_options(&Registry::new());
    // Request labels: one read by a function (from a header the mix does not
    // send), and both built-ins.
    let with_labels = HttpMetrics::builder()
        .registry(&Registry::new())
        .label("tier", ["free", "paid"])
        .url_scheme_label(true)
        .protocol_version_label()
        .build()
        .unwrap();
    // Body sizes alone, and time to first byte alone.
    let with_sizes = HttpMetrics::builder()
        .registry(&Registry::new())
        .body_sizes(true)
        .build()
        .unwrap();
    let with_first_byte = HttpMetrics::builder()
        .registry(&Registry::new())
        .time_to_first_byte(true)
        .build()
        .unwrap();
    // The `-echo` variants post a body instead of the GET mix.
    let (framework_variant, echo) = match variant.strip_suffix("-echo") {
        Some(v) => (v.to_owned(), true),
        None => (variant.clone(), false),
    };
    let variant = framework_variant;
    // Every request timed on the calibrated clock, as in a running service.
    promhttp::calibrate_clock();
    let paths = || (0..count).map(|i| PATHS[i % PATHS.len()]);
    if let Some(framework) = variant.strip_prefix("axum/") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let router = match framework {
            "bare" => axum_app(),
            "identity" => axum_app().layer(tower::layer::util::Identity::new()),
            "body-watching" => axum_app().layer(promhttp_bench::body_watching_layer()),
            "floor-clock" => axum_app().layer(floor::TimedLayer::default()),
            "promhttp" => axum_app().layer(promhttp::axum::MetricsLayer::new(&metrics)),
            "promhttp-options" => {
                axum_app().layer(promhttp::axum::MetricsLayer::new(&with_options))
            }
            "promhttp-sizes" => axum_app().layer(promhttp::axum::MetricsLayer::new(&with_sizes)),
            "promhttp-first-byte" => {
                axum_app().layer(promhttp::axum::MetricsLayer::new(&with_first_byte))
            }
            "promhttp-labels" => axum_app().layer(
                promhttp::axum::MetricsLayer::new(&with_labels).label_with("tier", |head| {
                    const X_TIER: axum::http::HeaderName =
                        axum::http::HeaderName::from_static("x-tier");
                    head.headers.get(X_TIER).and_then(|v| v.to_str().ok())
                }),
            ),
            other => panic!("no variant axum/{other}"),
        };
        let mut router = router.with_state(());
        if echo {
            for _ in PATHS {
                axum_request_echo(&mut router, ECHO);
            }
            for _ in paths() {
                std::hint::black_box(axum_request_echo(&mut router, ECHO));
            }
        } else {
            for path in PATHS {
                axum_request(&mut router, path);
            }
            for path in paths() {
                std::hint::black_box(axum_request(&mut router, path));
            }
        }
    } else if let Some(framework) = variant.strip_prefix("actix/") {
        let system = actix_web::rt::System::new();
        let watch = |clock, route| floor::Watch { clock, route };
        macro_rules! drive {
            ($app:expr) => {{
                let app = system.block_on(actix_test::init_service($app.configure(actix_app)));
                system.block_on(async {
                    if echo {
                        for _ in PATHS {
                            actix_request_echo(&app, ECHO);
                        }
                        for _ in paths() {
                            std::hint::black_box(actix_request_echo(&app, ECHO));
                        }
                    } else {
                        for path in PATHS {
                            actix_request(&app, path);
                        }
                        for path in paths() {
                            std::hint::black_box(actix_request(&app, path));
                        }
                    }
                });
            }};
        }
        match framework {
            "bare" => drive!(App::new()),
            "body-watching" => drive!(App::new().wrap(watch(false, false))),
            "floor-clock" => drive!(App::new().wrap(watch(true, false))),
            "floor-clock-route" => drive!(App::new().wrap(watch(true, true))),
            "promhttp" => drive!(App::new().wrap(promhttp::actix::Metrics::new(&metrics))),
            "promhttp-options" => {
                drive!(App::new().wrap(promhttp::actix::Metrics::new(&with_options)))
            }
            "promhttp-sizes" => drive!(App::new().wrap(promhttp::actix::Metrics::new(&with_sizes))),
            "promhttp-first-byte" => {
                drive!(App::new().wrap(promhttp::actix::Metrics::new(&with_first_byte)))
            }
            "promhttp-labels" => drive!(App::new().wrap(
                promhttp::actix::Metrics::new(&with_labels).label_with("tier", |req| {
                    const X_TIER: actix_web::http::header::HeaderName =
                        actix_web::http::header::HeaderName::from_static("x-tier");
                    req.headers().get(X_TIER).and_then(|v| v.to_str().ok())
                })
            )),
            other => panic!("no variant actix/{other}"),
        }
    } else {
        panic!("no variant {variant}");
    }
}
