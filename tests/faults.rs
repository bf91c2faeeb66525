//! Faults over real connections on loopback, for both adapters: a client that
//! disconnects mid-stream, a slow client, and load while /metrics is scraped in
//! a loop. Every request is counted once, in-flight returns to 0, and no scrape
//! shows a counter going down.

mod common;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::routing::get;
use axum::Router;
use common::Exposition;
use promhttp::{HttpMetrics, Registry};

const REQUESTS: &str = "http_server_requests_total";

/// 10 chunks of 64 KiB, 50 ms apart.
fn chunks() -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok(Bytes::from(vec![b'x'; 64 * 1024])), i + 1))
    })
}

fn metrics() -> (Registry, HttpMetrics) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    (registry, metrics)
}

async fn axum_server(metrics: &HttpMetrics, registry: &Registry) -> SocketAddr {
    let app = Router::new()
        .route("/stream", get(|| async { Body::from_stream(chunks()) }))
        .route("/users/{id}", get(|| async { "user" }))
        .layer(promhttp::axum::MetricsLayer::new(metrics))
        .route(
            "/metrics",
            get(promhttp::axum::metrics_handler_with(registry.clone())),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    addr
}

fn actix_server(
    metrics: &HttpMetrics,
    registry: &Registry,
) -> (SocketAddr, actix_web::dev::ServerHandle) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let (metrics, registry) = (metrics.clone(), registry.clone());
    let (addr, handle) = start_actix!(HttpServer::new(move || {
        App::new()
            .wrap(promhttp::actix::Metrics::new(&metrics))
            .route(
                "/stream",
                web::get().to(|| async { HttpResponse::Ok().streaming(chunks()) }),
            )
            .route("/users/{id}", web::get().to(|| async { "user" }))
            .route(
                "/metrics",
                web::get().to(promhttp::actix::metrics_handler_with(registry.clone())),
            )
    }));
    (addr, handle)
}

fn scrape(registry: &Registry) -> Exposition {
    common::parse_openmetrics(&registry.encode(promhttp::Format::OpenMetrics).unwrap())
}

/// Reads the response head and one chunk of `/stream`, then hangs up.
fn disconnect_mid_stream(addr: SocketAddr) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 70_000];
    let mut read = 0;
    while read < 1024 {
        read += s.read(&mut buf[read..]).unwrap();
    }
    drop(s);
}

/// Reads `/stream` 8 KiB at a time, pausing between reads.
fn slow_read(addr: SocketAddr) -> (usize, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 8192];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            return (total, start.elapsed());
        }
        total += n;
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn check_faults(registry: &Registry, addr: SocketAddr) {
    tokio::task::spawn_blocking(move || disconnect_mid_stream(addr))
        .await
        .unwrap();
    let l = [("method", "GET"), ("route", "/stream"), ("status", "200")];
    // The count and the in-flight gauge move a moment apart: wait for both.
    let settled = |m: &Exposition, n: f64| {
        m.get(REQUESTS, &l) == Some(n)
            && m.samples("http_server_requests_in_flight")
                .all(|s| s.value == 0.0)
    };
    let m = common::eventually(|| scrape(registry), |m| settled(m, 1.0)).await;
    assert_eq!(
        m.value(REQUESTS, &l),
        1.0,
        "a client gone mid-stream is counted once, with its status"
    );
    m.assert_books_balanced();
    let sum = |m: &Exposition| m.value("http_server_request_duration_seconds_sum", &l);
    let before = sum(&m);

    let (bytes, took) = tokio::task::spawn_blocking(move || slow_read(addr))
        .await
        .unwrap();
    assert!(bytes > 10 * 64 * 1024, "read {bytes} bytes");
    let m = common::eventually(|| scrape(registry), |m| settled(m, 2.0)).await;
    assert_eq!(m.value(REQUESTS, &l), 2.0);
    m.assert_books_balanced();
    // The slow read's duration covers its ten 50 ms timers, which never fire
    // early, and is within what the client saw (5% either way for the
    // middleware's clock, a calibrated cycle counter, against `Instant`).
    let recorded = sum(&m) - before;
    assert!(
        recorded >= 0.5 * 0.95 && recorded <= took.as_secs_f64() * 1.05,
        "recorded {recorded} s for a {took:?} read"
    );
}

/// `tasks` tasks send `per_task` requests each while /metrics is scraped over
/// HTTP in a loop; every scrape is checked.
async fn load_while_scraping(addr: SocketAddr, tasks: usize, per_task: usize) {
    let senders: Vec<_> = (0..tasks)
        .map(|t| {
            tokio::task::spawn_blocking(move || {
                for i in 0..per_task {
                    let res =
                        common::http(addr, "GET", &format!("/users/{t}-{i}"), &[], b"").unwrap();
                    assert_eq!(res.status, 200);
                }
            })
        })
        .collect();
    let scraper = tokio::task::spawn_blocking(move || {
        let mut last: BTreeMap<String, f64> = BTreeMap::new();
        let mut scrapes = 0;
        // Only turns a hang into a failure: the loop ends when every request
        // has been counted.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let res = common::http(
                addr,
                "GET",
                "/metrics",
                &[("accept", common::PROMETHEUS_ACCEPT)],
                b"",
            )
            .unwrap();
            let m = common::parse_openmetrics(&res.text());
            scrapes += 1;
            for s in m.samples(REQUESTS) {
                let key = format!("{:?}", s.labels);
                let before = last.insert(key.clone(), s.value).unwrap_or(0.0);
                assert!(
                    s.value >= before,
                    "scrape {scrapes}: {key} went down from {before} to {}",
                    s.value
                );
            }
            let users = m
                .get(
                    REQUESTS,
                    &[
                        ("method", "GET"),
                        ("route", "/users/{id}"),
                        ("status", "200"),
                    ],
                )
                .unwrap_or(0.0);
            if users as usize == tasks * per_task || Instant::now() > deadline {
                return (scrapes, m);
            }
        }
    });
    for s in senders {
        s.await.unwrap();
    }
    let (scrapes, m) = scraper.await.unwrap();
    assert!(scrapes > 1);
    let users = m.value(
        REQUESTS,
        &[
            ("method", "GET"),
            ("route", "/users/{id}"),
            ("status", "200"),
        ],
    );
    assert_eq!(users as usize, tasks * per_task);
}

/// Waits until no request is in flight (servers close their books a moment after
/// the client has read the answer), then checks the books.
async fn assert_books_balanced_once_settled(registry: &Registry) {
    let m = common::eventually(
        || scrape(registry),
        |m| {
            m.samples("http_server_requests_in_flight")
                .all(|s| s.value == 0.0)
        },
    )
    .await;
    m.assert_books_balanced();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_faults_and_load_keep_the_books_exact() {
    let (registry, metrics) = metrics();
    let addr = axum_server(&metrics, &registry).await;
    check_faults(&registry, addr).await;
    load_while_scraping(addr, 4, 250).await;
    assert_books_balanced_once_settled(&registry).await;
}

#[actix_web::test]
async fn actix_faults_and_load_keep_the_books_exact() {
    let (registry, metrics) = metrics();
    let (addr, handle) = actix_server(&metrics, &registry);
    check_faults(&registry, addr).await;
    load_while_scraping(addr, 4, 250).await;
    // The scrapes themselves go through the middleware here.
    assert_books_balanced_once_settled(&registry).await;
    handle.stop(false).await;
}
