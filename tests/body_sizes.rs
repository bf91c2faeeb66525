//! Body sizes and time to first byte, in both adapters, against the exact bytes
//! a real client sent and read over loopback, read back by the parsers (ours,
//! and Python's `prometheus_client` where installed).

#[macro_use]
mod common;

use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{parse_openmetrics, Exposition};
use promhttp::{Format, HttpMetrics, Registry};

const REQUESTS: &str = "http_server_requests_total";
const REQUEST_SIZE: &str = "http_server_request_body_size_bytes";
const RESPONSE_SIZE: &str = "http_server_response_body_size_bytes";
const FIRST_BYTE: &str = "http_server_time_to_first_byte_seconds";
const DURATION: &str = "http_server_request_duration_seconds";

/// A download of this many bytes is far more than loopback's socket buffers
/// hold, so a client that stops reading early leaves most of it unsent.
const BIG: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

fn metrics(registry: &Registry) -> HttpMetrics {
    HttpMetrics::builder()
        .registry(registry)
        .body_sizes(true)
        .time_to_first_byte(true)
        .build()
        .unwrap()
}

fn scrape(registry: &Registry) -> Exposition {
    parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap())
}

fn labels<'a>(method: &'a str, route: &'a str, status: &'a str) -> [(&'a str, &'a str); 3] {
    [("method", method), ("route", route), ("status", status)]
}

fn le<'a>(labels: [(&'a str, &'a str); 3], le: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut all = labels.to_vec();
    all.push(("le", le));
    all
}

/// `GET /download` of [`BIG`] bytes: reads `keep` bytes of the body and
/// closes the connection. Returns the bytes of the body read.
fn download_and_leave(addr: SocketAddr, keep: usize) -> usize {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET /download HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let body_at = loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the head");
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    // Chunked framing aside, what was read of the body is at least this.
    while raw.len() - body_at < keep {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed mid-body");
        raw.extend_from_slice(&buf[..n]);
    }
    drop(stream);
    raw.len() - body_at
}

/// What every test here checks of one scrape once the traffic is over: the
/// three extra histograms have a series for every counted one, with the same
/// count (every request here got a response), and time to first byte is
/// never above the full duration.
fn assert_consistent(m: &Exposition) {
    m.assert_books_balanced();
    for s in m.samples(REQUESTS) {
        let l = s.label_pairs();
        for family in [REQUEST_SIZE, RESPONSE_SIZE, FIRST_BYTE] {
            assert_eq!(
                m.value(&format!("{family}_count"), &l),
                s.value,
                "{family} for {l:?}"
            );
        }
        assert!(
            m.value(&format!("{FIRST_BYTE}_sum"), &l) <= m.value(&format!("{DURATION}_sum"), &l),
            "first byte after the end for {l:?}"
        );
    }
}

/// The client side of the first test: a 12,345-byte upload echoed as its
/// length, and a GET of an empty answer. Checks the answers.
fn upload_and_get_empty(addr: SocketAddr) {
    let upload = vec![b'u'; 12_345];
    let up = common::http(addr, "POST", "/upload", &[], &upload).unwrap();
    assert_eq!((up.status, up.text()), (200, "12345".to_owned()));
    let empty = common::http(addr, "GET", "/empty", &[], b"").unwrap();
    assert_eq!((empty.status, empty.body.len()), (200, 0));
}

/// What [`upload_and_get_empty`] must leave.
fn check_upload_and_empty(m: &Exposition) {
    let up = labels("POST", "/upload", "200");
    assert_eq!(m.value(&format!("{REQUEST_SIZE}_sum"), &up), 12_345.0);
    let bucket =
        |family: &str, labels, le_: &str| m.value(&format!("{family}_bucket"), &le(labels, le_));
    assert_eq!(bucket(REQUEST_SIZE, up, "10000.0"), 0.0);
    assert_eq!(bucket(REQUEST_SIZE, up, "100000.0"), 1.0);
    // The answer, "12345", is five bytes.
    assert_eq!(m.value(&format!("{RESPONSE_SIZE}_sum"), &up), 5.0);
    let empty = labels("GET", "/empty", "200");
    assert_eq!(bucket(REQUEST_SIZE, empty, "0.0"), 1.0);
    assert_eq!(bucket(RESPONSE_SIZE, empty, "0.0"), 1.0);
    assert_consistent(m);
}

/// The client side of the second test: an upload cut after 5,000 of an
/// announced 100,000 bytes, and a download left after 100,000 bytes. Returns
/// the bytes of the download read.
fn cut_upload_and_leave_download(addr: SocketAddr) -> usize {
    common::send_cut_upload(addr, "/partial");
    download_and_leave(addr, 100_000)
}

/// What [`cut_upload_and_leave_download`] must leave, `read` bytes of the
/// download having been read.
fn check_cut(m: &Exposition, read: usize) {
    let cut = labels("POST", "/partial", "200");
    assert_eq!(m.value(&format!("{REQUEST_SIZE}_sum"), &cut), 5_000.0);
    let download = labels("GET", "/download", "200");
    let sent = m.value(&format!("{RESPONSE_SIZE}_sum"), &download);
    // At least what the client read (less the chunked framing), far less than
    // the whole body.
    #[allow(clippy::cast_precision_loss)]
    let floor = read as f64 - 1_000.0;
    assert!(
        floor <= sent && sent < (BIG / 2) as f64,
        "sent {sent}, read {read}"
    );
    assert_consistent(m);
}

mod axum_adapter {
    use super::*;
    use axum::body::{Body, Bytes};
    use axum::routing::{get, post};
    use axum::Router;
    use http_body_util::BodyExt;
    use promhttp::axum::MetricsLayer;

    fn app(metrics: &HttpMetrics) -> Router {
        Router::new()
            .route(
                "/upload",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/partial",
                post(|body: Body| async move {
                    // Keeps what arrived of a cut upload, and answers.
                    match body.collect().await {
                        Ok(_) => "whole",
                        Err(_) => "cut",
                    }
                }),
            )
            .route("/empty", get(|| async {}))
            .route(
                "/download",
                get(|| async {
                    let chunk = Bytes::from(vec![b'x'; CHUNK]);
                    let chunks = futures_util::stream::iter(
                        (0..BIG / CHUNK).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                    );
                    Body::from_stream(chunks)
                }),
            )
            .layer(MetricsLayer::new(metrics))
    }

    async fn serve(metrics: &HttpMetrics) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = axum::serve(listener, app(metrics)).into_future();
        (addr, tokio::spawn(async move { server.await.unwrap() }))
    }

    #[tokio::test]
    async fn sizes_are_the_bytes_a_real_client_sent_and_read() {
        let registry = Registry::new();
        let metrics = metrics(&registry);
        let (addr, server) = serve(&metrics).await;
        tokio::task::spawn_blocking(move || upload_and_get_empty(addr))
            .await
            .unwrap();
        let m = common::eventually(|| scrape(&registry), |m| m.sum(REQUESTS) == 2.0).await;
        check_upload_and_empty(&m);
        server.abort();
    }

    #[tokio::test]
    async fn a_client_gone_mid_body_is_recorded_with_what_was_transferred() {
        let registry = Registry::new();
        let metrics = metrics(&registry);
        let (addr, server) = serve(&metrics).await;
        let read = tokio::task::spawn_blocking(move || cut_upload_and_leave_download(addr))
            .await
            .unwrap();
        let m = common::eventually(|| scrape(&registry), |m| m.sum(REQUESTS) == 2.0).await;
        check_cut(&m, read);
        server.abort();
    }

    #[tokio::test]
    async fn without_the_options_there_are_no_extra_families() {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
        let app = Router::new()
            .route(
                "/upload",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(MetricsLayer::new(&metrics));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(axum::serve(listener, app).into_future());
        tokio::task::spawn_blocking(move || common::http(addr, "POST", "/upload", &[], b"abc"))
            .await
            .unwrap()
            .unwrap();
        let m = common::eventually(|| scrape(&registry), |m| m.sum(REQUESTS) == 1.0).await;
        for family in [REQUEST_SIZE, RESPONSE_SIZE, FIRST_BYTE] {
            assert!(m.family(family).is_none(), "{family} without its option");
        }
        server.abort();
    }
}

mod actix_adapter {
    use super::*;
    use actix_web::web::{self, Bytes};
    use actix_web::{App, HttpResponse, HttpServer};
    use futures_util::StreamExt;
    use promhttp::actix::Metrics;

    fn routes(cfg: &mut web::ServiceConfig) {
        cfg.route(
            "/upload",
            web::post().to(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/partial",
            web::post().to(|mut body: web::Payload| async move {
                // Keeps what arrived of a cut upload, and answers.
                while let Some(chunk) = body.next().await {
                    if chunk.is_err() {
                        return "cut";
                    }
                }
                "whole"
            }),
        )
        .route("/empty", web::get().to(HttpResponse::Ok))
        .route(
            "/download",
            web::get().to(|| async {
                let chunk = Bytes::from(vec![b'x'; CHUNK]);
                let chunks = futures_util::stream::iter(
                    (0..BIG / CHUNK).map(move |_| Ok::<_, actix_web::Error>(chunk.clone())),
                );
                HttpResponse::Ok().streaming(chunks)
            }),
        );
    }

    #[actix_web::test]
    async fn sizes_are_the_bytes_a_real_client_sent_and_read() {
        let registry = Registry::new();
        let metrics = metrics(&registry);
        let (addr, handle) = start_actix!(HttpServer::new(move || App::new()
            .wrap(Metrics::new(&metrics))
            .configure(routes)));
        actix_web::rt::task::spawn_blocking(move || upload_and_get_empty(addr))
            .await
            .unwrap();
        let m = common::eventually(|| scrape(&registry), |m| m.sum(REQUESTS) == 2.0).await;
        check_upload_and_empty(&m);
        handle.stop(false).await;
    }

    #[actix_web::test]
    async fn a_client_gone_mid_body_is_recorded_with_what_was_transferred() {
        let registry = Registry::new();
        let metrics = metrics(&registry);
        let (addr, handle) = start_actix!(HttpServer::new(move || App::new()
            .wrap(Metrics::new(&metrics))
            .configure(routes)));
        let read = actix_web::rt::task::spawn_blocking(move || cut_upload_and_leave_download(addr))
            .await
            .unwrap();
        let m = common::eventually(|| scrape(&registry), |m| m.sum(REQUESTS) == 2.0).await;
        check_cut(&m, read);
        handle.stop(false).await;
    }
}
