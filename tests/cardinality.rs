//! A scanner cannot blow up the number of series: 100,000 requests with random
//! paths, methods (invalid and very long tokens too) and query strings, through
//! both adapters, leave a bounded number of series, flat memory, and totals equal
//! to the requests sent. Unmatched requests are grouped by a function of their
//! raw path, which only ever yields the declared group, and a request label is
//! read from a header the client fills with random values.

mod common;

use actix_web::dev::Service as _;
use actix_web::{test as actix_test, web, App, HttpResponse};
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::{any, get};
use axum::Router;
use http_body_util::BodyExt as _;
use promhttp::{Format, HttpMetrics, Registry};
use tower::ServiceExt as _;

const REQUESTS: u64 = 100_000;

/// The two floods run one after the other: resident memory is the process's.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
const MAX_SERIES: usize = 200;

/// xorshift64*: reproducible randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random `x-tier` header value, for the request label read from it.
    fn tier(&mut self) -> String {
        match self.below(3) {
            0 => "paid".to_owned(),
            _ => format!("{:x}", self.next()),
        }
    }

    /// A random request: method, path and query.
    fn request(&mut self) -> (String, String) {
        let methods = [
            "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "get",
        ];
        let method = match self.below(12) {
            0 => format!("X{}", self.next()),
            1 => "M".repeat(1 + self.below(3000) as usize),
            n => methods[n as usize % methods.len()].to_owned(),
        };
        let path = match self.below(4) {
            // Paths the app routes, with a status chosen by the client.
            0 => format!("/status/{}", 100 + self.below(900)),
            1 => format!("/users/{}", self.next()),
            // And everything a scanner tries.
            2 => format!("/{:x}/{:x}/.env", self.next(), self.next()),
            _ => format!("/wp-admin/{}.php", self.next()),
        };
        (
            method,
            format!("{path}?q={:x}&id={}", self.next(), self.below(1 << 20)),
        )
    }
}

/// Resident memory in KiB (Linux); `None` elsewhere.
fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// The number of series of each family now.
fn series_counts(registry: &Registry) -> [usize; 3] {
    let m = common::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    [
        m.samples("http_server_requests_total").count(),
        m.samples("http_server_requests_in_flight").count(),
        m.samples("http_server_request_duration_seconds_count")
            .count(),
    ]
}

/// A registry with the test's series limit, and what it held a fifth of the way
/// through the flood of requests.
struct Flood {
    registry: Registry,
    metrics: HttpMetrics,
    series_at_fifth: [usize; 3],
    rss_at_fifth: Option<u64>,
}

impl Flood {
    fn new() -> Self {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder()
            .registry(&registry)
            .max_series(MAX_SERIES)
            // A request label read from a header the client chooses freely.
            .label("tier", ["free", "paid"])
            // Unmatched requests grouped by a function of the raw path: only
            // the declared group can come of it, whatever the function returns.
            .group_unmatched(["dotfiles"], |_, path| {
                if path.contains("/.") {
                    Some("dotfiles")
                } else {
                    Some(path)
                }
            })
            .build()
            .unwrap();
        Self {
            registry,
            metrics,
            series_at_fifth: [0; 3],
            rss_at_fifth: None,
        }
    }

    /// Called after request `i`: notes the series and resident memory a fifth of
    /// the way through.
    fn after_request(&mut self, i: u64) {
        if i == REQUESTS / 5 {
            self.series_at_fifth = series_counts(&self.registry);
            self.rss_at_fifth = rss_kib();
        }
    }

    /// After the flood: resident memory grew by less than 4 MiB since the fifth,
    /// and the exposition passes [`check`].
    fn finish(self, framework: &str) {
        if let (Some(before), Some(after)) = (self.rss_at_fifth, rss_kib()) {
            assert!(
                after < before + 4096,
                "resident memory grew from {before} KiB to {after} KiB"
            );
            println!(
                "{framework}: resident {before} KiB after 20% of the requests, {after} KiB after all"
            );
        }
        check(&self.registry, REQUESTS, self.series_at_fifth);
    }
}

/// Checks the exposition after the flood: bounded series, as many as at a fifth
/// of it, the overflow series in use, nothing lost.
fn check(registry: &Registry, sent: u64, at_a_fifth: [usize; 3]) {
    assert_eq!(
        series_counts(registry),
        at_a_fifth,
        "the number of series kept growing"
    );
    let m = common::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let series = m.samples("http_server_requests_total").count();
    assert!(
        series <= MAX_SERIES + 1,
        "{series} series for a limit of {MAX_SERIES}"
    );
    let in_flight = m.samples("http_server_requests_in_flight").count();
    assert!(in_flight <= MAX_SERIES + 1, "{in_flight} in-flight series");
    assert_eq!(m.sum("http_server_requests_total"), sent as f64);
    assert_eq!(
        m.sum("http_server_request_duration_seconds_count"),
        sent as f64
    );
    let folded = m.value(
        "promhttp_series_overflow_total",
        &[("metric", "http_server_requests_total")],
    );
    let overflow = m.value(
        "http_server_requests_total",
        &[
            ("method", "_OTHER"),
            ("route", "overflow"),
            ("status", "overflow"),
        ],
    );
    assert!(folded > 0.0, "the flood never reached the limit");
    assert_eq!(folded, overflow);
    // Raw paths and query strings never become label values.
    assert!(m
        .label_values()
        .all(|v| !v.contains('?') && !v.contains(".env") && !v.contains("wp-admin")));
    // The request label: the declared value the flood sends, and `other`.
    assert_eq!(
        m.distinct("http_server_requests_total", "tier"),
        ["other", "paid"]
    );
    // Routes are the templates, the declared group and promhttp's own.
    assert_eq!(
        m.distinct("http_server_requests_total", "route"),
        [
            "/status/{code}",
            "/users/{id}",
            "dotfiles",
            "overflow",
            "unmatched"
        ]
    );
    m.assert_books_balanced();
}

#[tokio::test]
#[expect(
    clippy::await_holding_lock,
    reason = "serialises whole tests, each on its own thread and runtime"
)]
async fn random_requests_through_axum_keep_series_bounded() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut flood = Flood::new();
    let metrics = flood.metrics.clone();
    let app = Router::new()
        .route(
            "/status/{code}",
            any(|Path(code): Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
            }),
        )
        .route("/users/{id}", get(|| async { "user" }))
        .layer(common::axum_layer_with_tier(&metrics))
        .with_state(());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..REQUESTS {
        let (method, uri) = rng.request();
        let req = Request::builder()
            .method(method.as_str())
            .uri(uri)
            .header("x-tier", rng.tier())
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        res.into_body().collect().await.unwrap();
        flood.after_request(i);
    }
    flood.finish("axum");
}

#[actix_web::test]
#[expect(
    clippy::await_holding_lock,
    reason = "serialises whole tests, each on its own thread and runtime"
)]
async fn random_requests_through_actix_keep_series_bounded() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut flood = Flood::new();
    let metrics = flood.metrics.clone();
    let app = actix_test::init_service(
        App::new()
            .wrap(common::actix_middleware_with_tier(&metrics))
            .route(
                "/status/{code}",
                web::route().to(|code: web::Path<u16>| async move {
                    let status = actix_web::http::StatusCode::from_u16(*code)
                        .unwrap_or(actix_web::http::StatusCode::OK);
                    HttpResponse::build(status).finish()
                }),
            )
            .route("/users/{id}", web::get().to(|| async { "user" })),
    )
    .await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..REQUESTS {
        let (method, uri) = rng.request();
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let req = actix_test::TestRequest::default()
            .method(method)
            .uri(&uri)
            .insert_header(("x-tier", rng.tier()))
            .to_request();
        let res = app.call(req).await.unwrap();
        let _ = actix_web::body::to_bytes(res.into_body()).await;
        flood.after_request(i);
    }
    flood.finish("actix");
}
