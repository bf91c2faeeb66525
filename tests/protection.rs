//! A protected /metrics: bearer and basic authentication with a clear 401, a
//! limit on concurrent scrapes and a timeout (503), failures counted by cause,
//! and a metrics-only listener; for both adapters, over real connections.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::HttpResponse;
use promhttp::prometheus_client::collector::Collector;
use promhttp::prometheus_client::encoding::DescriptorEncoder;
use promhttp::{MetricsEndpoint, Registry};

/// `prometheus:s3cret` in base64, computed outside this code base.
const BASIC: &str = "Basic cHJvbWV0aGV1czpzM2NyZXQ=";

/// A collector that takes `0` to encode.
#[derive(Debug)]
struct Slow(Duration);

impl Collector for Slow {
    fn encode(&self, _: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

fn slow_registry(delay: Duration) -> Registry {
    let registry = Registry::new();
    registry
        .register_collector(Vec::<String>::new(), Slow(delay))
        .unwrap();
    registry
}

/// The four endpoints under test, each on its own path.
fn endpoints() -> [(&'static str, MetricsEndpoint); 4] {
    let open = Registry::new();
    [
        (
            "/bearer",
            MetricsEndpoint::new(&open).bearer_token("t0ken").unwrap(),
        ),
        (
            "/basic",
            MetricsEndpoint::new(&open)
                .basic_auth("prometheus", "s3cret")
                .unwrap(),
        ),
        (
            "/limited",
            MetricsEndpoint::new(&slow_registry(Duration::from_millis(1500)))
                .max_concurrent_scrapes(1),
        ),
        (
            "/timeout",
            MetricsEndpoint::new(&slow_registry(Duration::from_millis(600)))
                .timeout(Duration::from_millis(100)),
        ),
    ]
}

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    common::http(addr, "GET", path, headers, b"").unwrap()
}

fn failures(endpoint: &MetricsEndpoint, cause: &str) -> f64 {
    let text = endpoint
        .registry()
        .encode(promhttp::Format::OpenMetrics)
        .unwrap();
    common::parse_openmetrics(&text)
        .get("promhttp_metric_handler_errors_total", &[("cause", cause)])
        .unwrap_or(0.0)
}

/// Runs every check against a server that mounts `endpoints()` at their paths.
fn check(addr: SocketAddr, endpoints: &[(&'static str, MetricsEndpoint); 4]) {
    // Bearer.
    let none = get(addr, "/bearer", &[]);
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"metrics\"")
    );
    assert!(none.text().contains("requires credentials"));
    assert_eq!(
        get(addr, "/bearer", &[("authorization", "Bearer t0ke")]).status,
        401
    );
    assert_eq!(
        get(addr, "/bearer", &[("authorization", "Basic t0ken")]).status,
        401
    );
    let ok = get(
        addr,
        "/bearer",
        &[
            ("authorization", "Bearer t0ken"),
            ("accept", common::PROMETHEUS_ACCEPT),
        ],
    );
    assert_eq!(ok.status, 200);
    common::parse_openmetrics(&ok.text());
    assert_eq!(failures(&endpoints[0].1, "unauthorized"), 3.0);

    // Basic.
    let none = get(addr, "/basic", &[]);
    assert_eq!(none.status, 401);
    assert!(none
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic realm=\"metrics\""));
    assert_eq!(
        get(
            addr,
            "/basic",
            &[("authorization", "Basic cHJvbWV0aGV1czp3cm9uZw==")]
        )
        .status,
        401
    );
    assert_eq!(get(addr, "/basic", &[("authorization", BASIC)]).status, 200);

    // Concurrency: a second scrape while the first is encoding is refused.
    let first = std::thread::spawn(move || get(addr, "/limited", &[]));
    // Well inside the first scrape's 1.5 s encoding, even on a loaded machine.
    std::thread::sleep(Duration::from_millis(500));
    let second = get(addr, "/limited", &[]);
    assert_eq!(second.status, 503);
    assert_eq!(second.header("retry-after"), Some("1"));
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(failures(&endpoints[2].1, "too_many_scrapes"), 1.0);
    assert_eq!(
        get(addr, "/limited", &[]).status,
        200,
        "the permit was given back"
    );

    // Timeout.
    let slow = get(addr, "/timeout", &[]);
    assert_eq!(slow.status, 503);
    assert!(slow.text().contains("timeout"));
    assert_eq!(failures(&endpoints[3].1, "timeout"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_endpoint_protection() {
    require_python_parser!();
    let endpoints = endpoints();
    let mut app = axum::Router::new();
    for (path, endpoint) in &endpoints {
        app = app.route(
            path,
            axum::routing::get(promhttp::axum::metrics_endpoint(endpoint.clone())),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, app,
    )));
    let checked = endpoints.clone();
    tokio::task::spawn_blocking(move || check(addr, &checked))
        .await
        .unwrap();
}

#[actix_web::test]
async fn actix_endpoint_protection() {
    require_python_parser!();
    let endpoints = endpoints();
    let routes = endpoints.clone();
    let (addr, handle) = start_actix!(actix_web::HttpServer::new(move || {
        let mut app = actix_web::App::new();
        for (path, endpoint) in &routes {
            app = app.route(
                path,
                actix_web::web::get().to(promhttp::actix::metrics_endpoint(endpoint.clone())),
            );
        }
        app
    }));
    let checked = endpoints.clone();
    actix_web::rt::task::spawn_blocking(move || check(addr, &checked))
        .await
        .unwrap();
    handle.stop(false).await;
}

#[tokio::test]
async fn separate_metrics_listener_serves_only_metrics() {
    require_python_parser!();
    let registry = Registry::new();
    let metrics = promhttp::HttpMetrics::builder()
        .registry(&registry)
        .build()
        .unwrap();
    drop(metrics.route(Some("/x")).start(promhttp::HttpMethod::Get));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(promhttp::axum::serve_on(listener, &registry));
    let (metrics_page, other) = tokio::task::spawn_blocking(move || {
        (
            get(addr, "/metrics", &[("accept", common::PROMETHEUS_ACCEPT)]),
            get(addr, "/", &[]),
        )
    })
    .await
    .unwrap();
    assert_eq!(metrics_page.status, 200);
    let m = common::parse_openmetrics(&metrics_page.text());
    assert_eq!(
        m.value(
            "http_server_requests_total",
            &[("method", "GET"), ("route", "/x"), ("status", "499")]
        ),
        1.0
    );
    assert_eq!(other.status, 404);

    // `promhttp::serve` binds the address itself and reports a bind failure.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = promhttp::serve(taken.local_addr().unwrap(), &registry)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
