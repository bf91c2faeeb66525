//! The toolkit's fetch: against a local axum upstream, every outcome a
//! poller meets, each an error value naming the URL and its cause, and every
//! call recorded in the client metrics (read back by the parsers).

mod common;

use std::error::Error;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use common::parse_openmetrics;
use promhttp::fetch::{Fetch, FetchErrorKind};
use promhttp::{Format, HttpClientMetrics, Registry};

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Status {
    current_requests: u64,
    auth: Option<String>,
}

async fn upstream() -> SocketAddr {
    let app = Router::new()
        .route(
            "/json",
            get(|headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (
                    [("content-type", "application/json")],
                    serde_json::json!({ "current_requests": 5, "auth": auth }).to_string(),
                )
            }),
        )
        .route("/big", get(|| async { "x".repeat(2_000) }))
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
        )
        .route("/bad", get(|| async { "{\"current_requests\": " }))
        .route("/hang", get(std::future::pending::<()>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    addr
}

/// The error and every cause below it, as a poller's log shows them.
fn chain(err: &dyn Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

#[tokio::test]
async fn a_poller_fetch_meets_every_outcome_with_a_clear_error_and_metrics() {
    let addr = upstream().await;
    let registry = Registry::new();
    let calls = HttpClientMetrics::builder()
        .registry(&registry)
        .build()
        .unwrap();
    let fetch = Fetch::new()
        .timeout(Duration::from_millis(300))
        .max_body(1_000)
        .header("authorization", "Bearer s3cret")
        .unwrap()
        .metrics(&calls);
    // A host name, resolved; the header sent.
    let port = addr.port();
    let status: Status = fetch
        .get_json(&format!("http://localhost:{port}/json"))
        .await
        .unwrap();
    assert_eq!(
        status,
        Status {
            current_requests: 5,
            auth: Some("Bearer s3cret".to_owned())
        }
    );

    let url = |path: &str| format!("http://{addr}{path}");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let refused = format!("http://{closed}/json");
    for (target, kind, words) in [
        (
            url("/fail"),
            FetchErrorKind::Status(500),
            "answered HTTP 500",
        ),
        (
            url("/bad"),
            FetchErrorKind::Json,
            "sent JSON of the wrong shape: EOF while parsing",
        ),
        (
            url("/big"),
            FetchErrorKind::BodyTooLarge,
            "sent a body larger than 1000 bytes",
        ),
        // The handler never answers: the timeout fires whatever the machine.
        (
            url("/hang"),
            FetchErrorKind::Timeout,
            "no complete answer within 300ms",
        ),
        (
            refused.clone(),
            FetchErrorKind::Connect,
            "cannot connect to 127.0.0.1",
        ),
        (
            "https://example.com/".to_owned(),
            FetchErrorKind::UnsupportedScheme,
            "https is not supported yet",
        ),
        (
            "http://".to_owned(),
            FetchErrorKind::InvalidUrl,
            "invalid URL",
        ),
    ] {
        let err = fetch.get_json::<Status>(&target).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{target}: {}", chain(&err));
        assert_eq!(err.url(), target);
        let text = chain(&err);
        assert!(
            text.starts_with(&format!("GET {target}: ")) && text.contains(words),
            "{target}: {text}"
        );
    }
    // The refusal's cause is the system's own words.
    let err = fetch.get(&refused, "*/*").await.unwrap_err();
    assert!(
        chain(&err).to_lowercase().contains("connection refused"),
        "{}",
        chain(&err)
    );

    // A bad header is refused without its value.
    let err = Fetch::new().header("x-key", "line\nbreak").unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::InvalidHeader);
    assert!(!err.to_string().contains("break"), "{err}");
    assert!(Fetch::new().header("bad header", "v").is_err());

    let m = parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let count = |server: &str, status: &str| {
        m.value(
            "http_client_requests_total",
            &[
                ("method", "GET"),
                ("server_address", server),
                ("status", status),
            ],
        )
    };
    let here = addr.to_string();
    assert_eq!(count(&format!("localhost:{port}"), "200"), 1.0);
    assert_eq!(count(&here, "500"), 1.0);
    // /bad and /big answered 200 before their bodies failed the fetch.
    assert_eq!(count(&here, "200"), 2.0);
    assert_eq!(count(&here, "error"), 1.0, "the timeout");
    assert_eq!(count(&closed.to_string(), "error"), 2.0, "refused twice");
    // The URLs refused before any request were not calls.
    assert_eq!(m.sum("http_client_requests_total"), 7.0);
    for s in m.samples("http_client_requests_in_flight") {
        assert_eq!(s.value, 0.0, "{:?}", s.labels);
    }
}
