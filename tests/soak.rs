//! Soak: one million requests in process through each adapter; resident memory
//! after warm-up stays flat. Prints the figures (`-- --nocapture`).

mod common;

use actix_web::dev::Service as _;
use actix_web::{test as actix_test, web, App};
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use promhttp::{HttpMetrics, Registry};
use tower::Service as _;

const REQUESTS: u32 = 1_000_000;
const WARM_UP: u32 = 100_000;

/// Resident memory in KiB (Linux); `None` elsewhere.
fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// The path of request `i`: two routes and, now and then, an unmatched path.
fn path(i: u32) -> String {
    if i.is_multiple_of(17) {
        format!("/missing/{i}")
    } else if i.is_multiple_of(3) {
        format!("/items/{i}")
    } else {
        format!("/users/{i}")
    }
}

/// Runs `one` REQUESTS times and checks resident memory after warm-up.
fn soak(name: &str, mut one: impl FnMut(u32)) {
    let mut after_warm_up = None;
    for i in 0..REQUESTS {
        one(i);
        if i == WARM_UP {
            after_warm_up = rss_kib();
        }
    }
    let (Some(before), Some(after)) = (after_warm_up, rss_kib()) else {
        return common::missing_tool(
            "the soak tests' memory check reads /proc/self/statm, which only Linux has",
        );
    };
    let growth = after as f64 / before as f64 - 1.0;
    println!(
        "{name}: resident {before} KiB after {WARM_UP} requests, {after} KiB after {REQUESTS} ({:+.2}%)",
        growth * 100.0
    );
    assert!(
        after <= before + before / 20 + 1024,
        "{name}: resident memory grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn a_million_requests_leave_memory_flat() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();

    let mut router = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/items/{id}", get(|| async { "item" }))
        .layer(promhttp::axum::MetricsLayer::new(&metrics))
        .with_state(());
    soak("axum", |i| {
        let req = Request::get(path(i)).body(Body::empty()).unwrap();
        let res = common::run(router.call(req)).unwrap();
        common::drain_body(res.into_body());
    });

    let system = actix_web::rt::System::new();
    let app = system.block_on(actix_test::init_service(
        App::new()
            .wrap(promhttp::actix::Metrics::new(&metrics))
            .route("/users/{id}", web::get().to(|| async { "user" }))
            .route("/items/{id}", web::get().to(|| async { "item" })),
    ));
    system.block_on(async {
        soak("actix-web", |i| {
            let req = actix_test::TestRequest::get().uri(&path(i)).to_request();
            let res = common::run(app.call(req)).unwrap();
            common::drain_actix_body(res.into_body());
        });
    });

    let m = common::parse_openmetrics(&registry.encode(promhttp::Format::OpenMetrics).unwrap());
    assert_eq!(
        m.sum("http_server_requests_total"),
        2.0 * f64::from(REQUESTS)
    );
    m.assert_books_balanced();
}
