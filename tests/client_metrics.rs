//! The client layer: a real hyper HTTP/1 client over loopback, wrapped in
//! `ClientMetricsLayer`, against a local axum server; read back by the
//! parsers (ours, and Python's `prometheus_client` where installed).

mod common;

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http;
use axum::routing::get;
use axum::Router;
use common::{parse_openmetrics, Exposition};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use promhttp::axum::ClientMetricsLayer;
use promhttp::{BuildError, Format, HttpClientMetrics, HttpMetrics, Registry};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

const REQUESTS: &str = "http_client_requests_total";
const IN_FLIGHT: &str = "http_client_requests_in_flight";
const DURATION: &str = "http_client_request_duration_seconds";

fn scrape(registry: &Registry) -> Exposition {
    parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap())
}

/// A client that opens a connection per request: hyper's HTTP/1 connection,
/// as a tower service. A refused connection is its error.
fn hyper_client() -> impl Service<
    http::Request<Empty<Bytes>>,
    Response = http::Response<Incoming>,
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<http::Response<Incoming>, BoxError>> + Send,
> + Clone {
    tower::service_fn(|req: http::Request<Empty<Bytes>>| async move {
        let authority = req.uri().authority().unwrap().as_str().to_owned();
        let stream = tokio::net::TcpStream::connect(authority).await?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok::<_, BoxError>(send.send_request(req).await?)
    })
}

fn get_request(url: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(url).body(Empty::new()).unwrap()
}

/// A server with `/ok` (200, five bytes), `/busy` (503) and `/hang` (never
/// answers; says on `arrived` that the request came).
async fn server(arrived: tokio::sync::mpsc::UnboundedSender<()>) -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "hello" }))
        .route(
            "/busy",
            get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "busy") }),
        )
        .route(
            "/hang",
            get(move || {
                let arrived = arrived.clone();
                async move {
                    let _ = arrived.send(());
                    std::future::pending::<()>().await
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    addr
}

#[tokio::test]
async fn a_real_client_is_recorded_by_server_address_until_its_body_ends() {
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let addr = server(arrived_tx).await;
    let registry = Registry::new();
    let metrics = HttpClientMetrics::builder()
        .registry(&registry)
        .build()
        .unwrap();
    let mut client = ServiceBuilder::new()
        .layer(ClientMetricsLayer::new(&metrics))
        .service(hyper_client());
    let server = addr.to_string();
    let server = server.as_str();
    let labels = |method: &'static str, status: &'static str| {
        [
            ("method", method),
            ("server_address", server),
            ("status", status),
        ]
    };
    let url = |path: &str| format!("http://{addr}{path}");

    // The head has come, the body not read: in flight, not counted.
    let res = client
        .ready()
        .await
        .unwrap()
        .call(get_request(&url("/ok")))
        .await
        .unwrap();
    let m = scrape(&registry);
    assert_eq!(
        m.value(IN_FLIGHT, &[("method", "GET"), ("server_address", server)]),
        1.0
    );
    assert_eq!(m.get(REQUESTS, &labels("GET", "200")), None);
    // The body read to its end: counted.
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");

    // A 503, its body dropped unread: counted when dropped.
    let res = client
        .ready()
        .await
        .unwrap()
        .call(get_request(&url("/busy")))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    drop(res);

    // A caller that gives up before the answer (a timeout): 499.
    let call = client
        .ready()
        .await
        .unwrap()
        .call(get_request(&url("/hang")));
    let waiting = tokio::spawn(call);
    arrived.recv().await.unwrap();
    waiting.abort();
    let _ = waiting.await;

    // A server that is not there: the call fails, `error`.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = client
        .ready()
        .await
        .unwrap()
        .call(get_request(&format!("http://{closed}/ok")))
        .await;
    assert!(err.is_err(), "connected to a closed port");

    let m = scrape(&registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "200")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("GET", "503")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("GET", "499")), 1.0);
    let closed = closed.to_string();
    assert_eq!(
        m.value(
            REQUESTS,
            &[
                ("method", "GET"),
                ("server_address", &closed),
                ("status", "error")
            ]
        ),
        1.0
    );
    for s in m.samples(IN_FLIGHT) {
        assert_eq!(s.value, 0.0, "{:?}", s.labels);
    }
    // Every counted request is in the histogram, once.
    for s in m.samples(REQUESTS) {
        let l = s.label_pairs();
        assert_eq!(m.value(&format!("{DURATION}_count"), &l), s.value, "{l:?}");
    }
    assert_eq!(m.sum(REQUESTS), 4.0);
}

#[tokio::test]
async fn undeclared_servers_are_other_and_the_host_header_is_read() {
    let registry = Registry::new();
    let metrics = HttpClientMetrics::builder()
        .registry(&registry)
        .server_addresses(["API.example.com:443", "db.internal:5432"])
        .build()
        .unwrap();
    let answer = tower::service_fn(|_req: http::Request<String>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
    });
    let mut client = ServiceBuilder::new()
        .layer(ClientMetricsLayer::new(&metrics))
        .service(answer);
    for req in [
        http::Request::get("https://api.EXAMPLE.com/v1").body(String::new()),
        http::Request::post("http://db.internal:5432/q").body(String::new()),
        http::Request::get("http://elsewhere.example:80/").body(String::new()),
        // No host in the URI: the Host header's.
        http::Request::get("/relative")
            .header("host", "db.internal:5432")
            .body(String::new()),
        // Neither: other.
        http::Request::get("/relative").body(String::new()),
    ] {
        let res = client
            .ready()
            .await
            .unwrap()
            .call(req.unwrap())
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }
    let m = scrape(&registry);
    let count = |method: &str, server: &str| {
        m.value(
            REQUESTS,
            &[
                ("method", method),
                ("server_address", server),
                ("status", "200"),
            ],
        )
    };
    assert_eq!(count("GET", "api.example.com:443"), 1.0);
    assert_eq!(count("POST", "db.internal:5432"), 1.0);
    assert_eq!(count("GET", "db.internal:5432"), 1.0);
    assert_eq!(count("GET", "other"), 2.0);
    assert_eq!(m.distinct(REQUESTS, "server_address").len(), 3);
}

#[test]
fn server_addresses_are_checked() {
    for (addresses, reason) in [
        (vec!["no-port"], "a server address is `host:port`"),
        (vec![":80"], "the host is empty"),
        (
            vec!["a b:80"],
            "a host has no spaces, control characters, `/` or `\"`",
        ),
        (
            vec!["host:99999"],
            "the port is not a number from 0 to 65535",
        ),
        (vec!["A:1", "a:1"], "an address may be declared only once"),
    ] {
        let err = HttpClientMetrics::builder()
            .registry(&Registry::new())
            .server_addresses(addresses.clone())
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, BuildError::InvalidServerAddress { reason: r, .. } if *r == reason),
            "{addresses:?}: {err}"
        );
    }
    let err = HttpClientMetrics::builder()
        .registry(&Registry::new())
        .max_series(1)
        .server_addresses(["a:1", "b:2"])
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, BuildError::InvalidServerAddress { address, .. } if address == "b:2"),
        "{err}"
    );
}

#[test]
fn a_server_set_and_a_client_set_share_a_registry() {
    let registry = Registry::new();
    let server = HttpMetrics::builder().registry(&registry).build().unwrap();
    let client = HttpClientMetrics::builder()
        .registry(&registry)
        .build()
        .unwrap();
    drop(
        server
            .route(Some("/a"))
            .start(promhttp::HttpMethod::Get)
            .unwrap()
            .with_status(200),
    );
    drop(
        client
            .start(promhttp::HttpMethod::Get, "up.example", 80)
            .unwrap()
            .with_status(200),
    );
    let m = scrape(&registry);
    assert_eq!(m.sum("http_server_requests_total"), 1.0);
    assert_eq!(m.sum(REQUESTS), 1.0);
    assert!(m.family("promhttp_client_series_overflow").is_some());
    assert!(m.family("promhttp_series_overflow").is_some());
    // A second client set in the same registry clashes, as a second server
    // set does.
    assert!(matches!(
        HttpClientMetrics::builder().registry(&registry).build(),
        Err(BuildError::Registry(_))
    ));
}
