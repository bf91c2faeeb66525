//! A protected /metrics: bearer and basic authentication with a clear 401, a
//! limit on concurrent scrapes and a timeout (503), failures counted by cause,
//! and a metrics-only listener; for both adapters, over real connections.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::HttpResponse;
use promhttp::prometheus_client::collector::Collector;
use promhttp::prometheus_client::encoding::DescriptorEncoder;
use promhttp::{MetricsEndpoint, Registry};

/// `prometheus:s3cret` in base64, computed outside this code base.
const BASIC: &str = "Basic cHJvbWV0aGV1czpzM2NyZXQ=";

/// Where a [`Held`] collector's encodings wait: closed, each encoding that
/// reaches it is counted and blocks until the test opens it. The tests see an
/// encoding in progress by waiting for its arrival, not by sleeping and hoping.
#[derive(Debug, Default)]
struct Gate {
    /// Encodings that have reached the gate, and whether it is open.
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        self.changed.notify_all();
        while !state.1 {
            state = self.changed.wait(state).unwrap();
        }
    }

    /// Blocks until `n` encodings have reached the gate. The limit only turns a
    /// hang into a failure; the test passes as soon as they have arrived.
    fn wait_for_arrivals(&self, n: usize) {
        let state = self.state.lock().unwrap();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, common::HANG, |s| s.0 < n)
            .unwrap();
        assert!(
            state.0 >= n,
            "{} of {n} encodings reached the gate",
            state.0
        );
    }

    fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

/// A collector whose encoding waits at its gate.
#[derive(Debug)]
struct Held(Arc<Gate>);

impl Collector for Held {
    fn encode(&self, _: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.0.pass();
        Ok(())
    }
}

fn held_registry(gate: &Arc<Gate>) -> Registry {
    let registry = Registry::new();
    registry
        .register_collector(Vec::<String>::new(), Held(Arc::clone(gate)))
        .unwrap();
    registry
}

/// The four endpoints under test, each on its own path, and the gates of the
/// `/limited` and `/timeout` ones (both closed).
#[derive(Clone)]
struct Endpoints {
    list: [(&'static str, MetricsEndpoint); 4],
    limited: Arc<Gate>,
    timeout: Arc<Gate>,
}

fn endpoints() -> Endpoints {
    let open = Registry::new();
    let (limited, timeout) = (Arc::<Gate>::default(), Arc::<Gate>::default());
    let list = [
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
            MetricsEndpoint::new(&held_registry(&limited)).max_concurrent_scrapes(1),
        ),
        (
            "/timeout",
            MetricsEndpoint::new(&held_registry(&timeout)).timeout(Duration::from_millis(100)),
        ),
    ];
    Endpoints {
        list,
        limited,
        timeout,
    }
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
fn check(addr: SocketAddr, all: &Endpoints) {
    let endpoints = &all.list;
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
    all.limited.wait_for_arrivals(1);
    let second = get(addr, "/limited", &[]);
    assert_eq!(second.status, 503);
    assert_eq!(second.header("retry-after"), Some("1"));
    all.limited.open();
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(failures(&endpoints[2].1, "too_many_scrapes"), 1.0);
    assert_eq!(
        get(addr, "/limited", &[]).status,
        200,
        "the permit was given back"
    );

    // Timeout: the encoding is held at its gate until the answer has come.
    let slow = get(addr, "/timeout", &[]);
    assert_eq!(slow.status, 503);
    assert!(slow.text().contains("timeout"));
    all.timeout.wait_for_arrivals(1);
    all.timeout.open();
    assert_eq!(failures(&endpoints[3].1, "timeout"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_endpoint_protection() {
    let endpoints = endpoints();
    let mut app = axum::Router::new();
    for (path, endpoint) in &endpoints.list {
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
    let endpoints = endpoints();
    let routes = endpoints.list.clone();
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

    // `promhttp::axum::serve` binds the address itself and reports a bind failure.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = promhttp::axum::serve(addr, &registry).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    // The message names the address.
    assert!(
        err.to_string()
            .contains(&format!("cannot listen on {addr}")),
        "{err}"
    );
}
