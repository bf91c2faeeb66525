//! The `/metrics` handler made from a layer serves the registry that layer's
//! metric set records into, in both adapters; and actix-web users get a
//! metrics-only server of their own (`promhttp::actix::serve`).

mod common;

use actix_web::{test as actix_test, web, App};
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt as _;
use promhttp::{HttpMetrics, Registry};
use tower::ServiceExt as _;

/// A private set and the value of its `requests_total` for `GET /users/{id}`
/// 200, read from what `scrape` returned.
fn users_count(text: &str) -> f64 {
    common::parse_text(text).value(
        "http_server_requests_total",
        &[
            ("method", "GET"),
            ("route", "/users/{id}"),
            ("status", "200"),
        ],
    )
}

#[tokio::test]
async fn axum_layer_handler_serves_the_sets_registry() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let layer = promhttp::axum::MetricsLayer::new(&metrics);
    let app: Router = Router::new()
        .route("/users/{id}", get(|| async { "u" }))
        .layer(layer.clone())
        .route("/metrics", get(layer.handler()));
    for _ in 0..3 {
        let res = app
            .clone()
            .oneshot(Request::get("/users/7").body(Body::empty()).unwrap())
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }
    let res = app
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(users_count(&text), 3.0, "{text}");
}

#[actix_web::test]
async fn actix_middleware_handler_serves_the_sets_registry() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .ignore_route("/metrics")
        .build()
        .unwrap();
    let middleware = promhttp::actix::Metrics::new(&metrics);
    let app = actix_test::init_service(
        App::new()
            .route("/users/{id}", web::get().to(|| async { "u" }))
            .route("/metrics", web::route().to(middleware.handler()))
            .wrap(middleware),
    )
    .await;
    for _ in 0..2 {
        let req = actix_test::TestRequest::get().uri("/users/9").to_request();
        let body = actix_test::call_and_read_body(&app, req).await;
        assert_eq!(&body[..], b"u");
    }
    let req = actix_test::TestRequest::get().uri("/metrics").to_request();
    let body = actix_test::call_and_read_body(&app, req).await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(users_count(&text), 2.0, "{text}");
    // `HEAD` through the same handler: the headers, no body.
    let req = actix_test::TestRequest::default()
        .method(actix_web::http::Method::HEAD)
        .uri("/metrics")
        .to_request();
    let res = actix_test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn actix_serve_runs_a_metrics_only_server() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let mut guard = metrics
        .route(Some("/users/{id}"))
        .start(promhttp::HttpMethod::Get)
        .unwrap();
    guard.set_status(200);
    drop(guard);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = actix_web::rt::spawn(promhttp::actix::serve_on(listener, &registry));
    let (page, other, head) = actix_web::rt::task::spawn_blocking(move || {
        (
            common::http(addr, "GET", "/metrics", &[], b"").unwrap(),
            common::http(addr, "GET", "/", &[], b"").unwrap(),
            common::http(addr, "HEAD", "/metrics", &[], b"").unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(users_count(&String::from_utf8(page.body).unwrap()), 1.0);
    assert_eq!(other.status, 404);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    server.abort();

    // `serve` binds the address itself and names it when it cannot.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = promhttp::actix::serve(addr, &registry).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
