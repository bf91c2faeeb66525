//! The axum / tower adapter, end to end through a real `Router`, checked in the
//! exposition as the reference OpenMetrics parser reads it.

mod common;
mod proto;

use std::convert::Infallible;
use std::future::{pending, poll_fn, Future, IntoFuture};
use std::task::Poll;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{Method, Request, Response, StatusCode};
use axum::routing::{any, get, post};
use axum::Router;
use common::{parse_openmetrics, traceparent, Exposition};
use http_body_util::BodyExt;
use promhttp::axum::{metrics_handler, metrics_handler_with, MetricsLayer};
use promhttp::{Format, HttpMetrics, Registry};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;

const REQUESTS: &str = "http_server_requests_total";
const IN_FLIGHT: &str = "http_server_requests_in_flight";
const COUNT: &str = "http_server_request_duration_seconds_count";
const SUM: &str = "http_server_request_duration_seconds_sum";

async fn stream_body() -> Body {
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n"))),
            i + 1,
        ))
    });
    Body::from_stream(chunks)
}

async fn panics() -> &'static str {
    panic!("handler panicked on purpose")
}

fn routes() -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { id }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap() }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/any", any(|| async { "any" }))
        .route("/stream", get(stream_body))
        .route("/pending", get(pending::<&'static str>))
        .route("/panic", get(panics))
        .nest(
            "/api",
            Router::new().route("/items/{id}", get(|| async { "item" })),
        )
        .nest_service(
            "/static",
            service_fn(|_req: Request<Body>| async {
                Ok::<_, Infallible>(Response::new(Body::from("file")))
            }),
        )
}

struct Fixture {
    registry: Registry,
    metrics: HttpMetrics,
    app: Router,
}

fn fixture() -> Fixture {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let app = routes().layer(MetricsLayer::new(&metrics));
    Fixture {
        registry,
        metrics,
        app,
    }
}

impl Fixture {
    fn scrape(&self) -> Exposition {
        parse_openmetrics(&self.registry.encode(Format::OpenMetrics).unwrap())
    }

    async fn send(&self, method: &str, uri: &str) -> (StatusCode, Bytes) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes())
    }
}

fn get_req(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).unwrap()
}

fn labels<'a>(method: &'a str, route: &'a str, status: &'a str) -> [(&'a str, &'a str); 3] {
    [("method", method), ("route", route), ("status", status)]
}

#[tokio::test]
async fn route_label_is_the_matched_template() {
    let f = fixture();
    assert_eq!(f.send("GET", "/users/1").await.1, "1");
    f.send("GET", "/users/2?x=1").await;
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 2.0);
    assert!(m
        .label_values()
        .all(|v| !v.contains("/users/1") && !v.contains("/users/2")));
    m.assert_books_balanced();
}

#[tokio::test]
async fn nested_router_route_includes_the_prefix() {
    let f = fixture();
    f.send("GET", "/api/items/7").await;
    let m = f.scrape();
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/api/items/{id}", "200")),
        1.0
    );
}

#[tokio::test]
async fn unmatched_path_uses_one_label() {
    let f = fixture();
    for uri in [
        "/nope/1",
        "/nope/2?q=3",
        "/users",
        "/users/1/extra",
        "/%ff%00",
    ] {
        assert_eq!(f.send("GET", uri).await.0, StatusCode::NOT_FOUND, "{uri}");
    }
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "404")), 5.0);
    assert_eq!(m.samples(REQUESTS).count(), 1);
    assert!(m
        .label_values()
        .all(|v| !v.contains("nope") && !v.contains("extra")));
    m.assert_books_balanced();
}

#[tokio::test]
async fn percent_encoded_path_gets_the_route_that_answered_it() {
    let f = fixture();
    // axum matches the path as sent and decodes only the captured parameters: an
    // encoded parameter is served by its route and labelled with it ...
    assert_eq!(
        f.send("GET", "/users/%31").await,
        (StatusCode::OK, Bytes::from("1"))
    );
    assert_eq!(f.send("GET", "/api/items/%32").await.0, StatusCode::OK);
    // ... and an encoded letter of a template's literal part matches no route:
    // the fallback answers 404, under `unmatched`, whatever route it spells.
    for uri in [
        "/%75sers/1",
        "/api/%69tems/2",
        "/%61pi/items/2",
        "/%2Fusers/1",
    ] {
        assert_eq!(f.send("GET", uri).await.0, StatusCode::NOT_FOUND, "{uri}");
    }
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 1.0);
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/api/items/{id}", "200")),
        1.0
    );
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "404")), 4.0);
    assert_eq!(m.samples(REQUESTS).count(), 3);
    assert!(m.label_values().all(|v| !v.contains('%')));
    m.assert_books_balanced();
}

#[tokio::test]
async fn nest_service_is_recorded_as_unmatched() {
    let f = fixture();
    assert_eq!(f.send("GET", "/static/app.css").await.1, "file");
    f.send("GET", "/static/img/logo.png").await;
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "200")), 2.0);
    assert!(m.label_values().all(|v| !v.contains("static")));
    m.assert_books_balanced();
}

#[tokio::test]
async fn standard_methods_are_kept_and_others_become_other() {
    let f = fixture();
    let standard = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    for method in standard {
        f.send(method, "/any").await;
    }
    let long = "X".repeat(2000);
    for method in ["BREW", "get", "PROPFIND", long.as_str()] {
        f.send(method, "/any").await;
    }
    let m = f.scrape();
    for method in standard {
        assert_eq!(
            m.value(REQUESTS, &labels(method, "/any", "200")),
            1.0,
            "{method}"
        );
    }
    assert_eq!(m.value(REQUESTS, &labels("_OTHER", "/any", "200")), 4.0);
    assert_eq!(m.samples(REQUESTS).count(), 10);
    m.assert_books_balanced();
}

#[tokio::test]
async fn status_label_is_the_numeric_code() {
    let f = fixture();
    for code in ["201", "418", "503", "503"] {
        f.send("GET", &format!("/status/{code}")).await;
    }
    f.send("POST", "/users/1").await; // 405 from the method router
    let m = f.scrape();
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/status/{code}", "201")),
        1.0
    );
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/status/{code}", "418")),
        1.0
    );
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/status/{code}", "503")),
        2.0
    );
    assert_eq!(
        m.value(REQUESTS, &labels("POST", "/users/{id}", "405")),
        1.0
    );
    m.assert_books_balanced();
}

#[tokio::test]
async fn in_flight_counts_a_request_until_its_client_disconnects_and_then_499() {
    let f = fixture();
    let mut app = f.app.clone();
    let mut fut = Box::pin(
        ServiceExt::<Request<Body>>::ready(&mut app)
            .await
            .unwrap()
            .call(get_req("/pending")),
    );
    poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    let m = f.scrape();
    assert_eq!(
        m.value(IN_FLIGHT, &[("method", "GET"), ("route", "/pending")]),
        1.0
    );
    assert!(m.get(REQUESTS, &labels("GET", "/pending", "499")).is_none());
    drop(fut); // the client went away
    let m = f.scrape();
    assert_eq!(
        m.value(IN_FLIGHT, &[("method", "GET"), ("route", "/pending")]),
        0.0
    );
    assert_eq!(m.value(REQUESTS, &labels("GET", "/pending", "499")), 1.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn future_dropped_before_its_first_poll_is_counted_once() {
    let f = fixture();
    // Called directly, the layer has seen the request: it is counted as 499.
    let mut svc = ServiceBuilder::new()
        .layer(MetricsLayer::new(&f.metrics))
        .service(service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }));
    let fut = ServiceExt::<Request<Body>>::ready(&mut svc)
        .await
        .unwrap()
        .call(get_req("/x"));
    assert_eq!(
        f.scrape()
            .value(IN_FLIGHT, &[("method", "GET"), ("route", "unmatched")]),
        1.0
    );
    drop(fut);
    // Through axum's router, a route is only called on the first poll: a future
    // dropped before it never reached the layer and is not a request to count.
    let mut app = f.app.clone();
    let fut = ServiceExt::<Request<Body>>::ready(&mut app)
        .await
        .unwrap()
        .call(get_req("/users/1"));
    drop(fut);
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "499")), 1.0);
    assert_eq!(m.sum(REQUESTS), 1.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn streamed_body_is_timed_until_its_end() {
    let f = fixture();
    let sent = std::time::Instant::now();
    let res = f.app.clone().oneshot(get_req("/stream")).await.unwrap();
    // The head is out but the body is not: still in flight, not yet counted.
    let m = f.scrape();
    assert_eq!(
        m.value(IN_FLIGHT, &[("method", "GET"), ("route", "/stream")]),
        1.0
    );
    assert!(m.get(REQUESTS, &labels("GET", "/stream", "200")).is_none());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 10);
    let m = f.scrape();
    let l = labels("GET", "/stream", "200");
    assert_eq!(m.value(COUNT, &l), 1.0);
    let seconds = m.value(SUM, &l);
    // Ten chunks each behind a 100 ms timer, which never fires early: at least
    // 1 s; and no longer than this test saw. (5% either way for the middleware's
    // clock, a calibrated cycle counter, against `Instant`.)
    let seen = sent.elapsed().as_secs_f64();
    assert!(
        seconds >= 0.95 && seconds <= seen * 1.05,
        "a stream of ten 100 ms chunks read in {seen} s recorded {seconds} s"
    );
    assert_eq!(
        m.value(
            "http_server_request_duration_seconds_bucket",
            &[l[0], l[1], l[2], ("le", "0.75")]
        ),
        0.0
    );
    m.assert_books_balanced();
}

#[tokio::test]
async fn body_dropped_mid_stream_closes_the_books_with_its_status() {
    let f = fixture();
    let res = f.app.clone().oneshot(get_req("/stream")).await.unwrap();
    let mut body = res.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "chunk 0\n");
    drop(body);
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/stream", "200")), 1.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn empty_body_ends_with_the_response_head() {
    let f = fixture();
    let no_content = f.app.clone().oneshot(get_req("/status/204")).await.unwrap();
    let head = Request::head("/users/1").body(Body::empty()).unwrap();
    let head = f.app.clone().oneshot(head).await.unwrap();
    // Both bodies are still alive and were never polled.
    let m = f.scrape();
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/status/{code}", "204")),
        1.0
    );
    assert_eq!(
        m.value(REQUESTS, &labels("HEAD", "/users/{id}", "200")),
        1.0
    );
    m.assert_books_balanced();
    drop((no_content, head));
    assert_eq!(f.scrape().sum(REQUESTS), 2.0);
}

#[tokio::test]
async fn body_of_exact_length_ends_after_its_last_frame() {
    let f = fixture();
    let res = f.app.clone().oneshot(get_req("/users/abc")).await.unwrap();
    let mut body = res.into_body();
    assert_eq!(
        body.frame().await.unwrap().unwrap().into_data().unwrap(),
        "abc"
    );
    // Nobody polls the body again, and it is not dropped.
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 1.0);
    m.assert_books_balanced();
    drop(body);
    assert_eq!(f.scrape().sum(REQUESTS), 1.0);
}

#[tokio::test]
async fn handler_panic_without_catch_panic_is_counted_as_500() {
    let f = fixture();
    let app = f.app.clone();
    let joined = tokio::spawn(async move { app.oneshot(get_req("/panic")).await }).await;
    assert!(joined.unwrap_err().is_panic());
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/panic", "500")), 1.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn handler_panic_caught_outside_the_layer_is_counted_as_500() {
    let f = fixture();
    let app = routes()
        .layer(MetricsLayer::new(&f.metrics))
        .layer(CatchPanicLayer::new());
    let res = app.oneshot(get_req("/panic")).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/panic", "500")), 1.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn handler_panic_caught_inside_the_layer_is_counted_as_500() {
    let f = fixture();
    let app = routes()
        .layer(CatchPanicLayer::new())
        .layer(MetricsLayer::new(&f.metrics));
    let res = app.oneshot(get_req("/panic")).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    drop(res);
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/panic", "500")), 1.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn service_error_is_counted_as_500_on_any_tower_service() {
    let f = fixture();
    let svc = ServiceBuilder::new()
        .layer(MetricsLayer::new(&f.metrics))
        .service(service_fn(|req: Request<Body>| async move {
            if req.uri().path() == "/fail" {
                Err("backend down")
            } else {
                Ok(Response::new(Body::from("ok")))
            }
        }));
    assert!(svc.clone().oneshot(get_req("/fail")).await.is_err());
    let ok = svc.oneshot(get_req("/fine")).await.unwrap();
    ok.into_body().collect().await.unwrap();
    let m = f.scrape();
    // Without axum's router there is no route template: one constant label.
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "500")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "200")), 1.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn every_request_is_counted_once_under_concurrency() {
    let f = fixture();
    let mut tasks = Vec::new();
    for i in 0..400u32 {
        let app = f.app.clone();
        tasks.push(tokio::spawn(async move {
            let uri = match i % 5 {
                0 => format!("/users/{i}"),
                1 => format!("/status/{}", 200 + i % 3),
                2 => format!("/missing/{i}"),
                3 => "/api/items/1".to_owned(),
                _ => "/static/x".to_owned(),
            };
            let res = app.oneshot(get_req(&uri)).await.unwrap();
            res.into_body().collect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = f.scrape();
    assert_eq!(m.sum(REQUESTS), 400.0);
    assert_eq!(m.sum(COUNT), 400.0);
    m.assert_books_balanced();
}

#[tokio::test]
async fn ignored_route_is_not_recorded() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .ignore_route("/users/{id}")
        .build()
        .unwrap();
    let app = routes().layer(MetricsLayer::new(&metrics));
    app.clone().oneshot(get_req("/users/1")).await.unwrap();
    app.oneshot(get_req("/api/items/1")).await.unwrap();
    let m = parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    assert_eq!(m.sum(REQUESTS), 1.0);
    assert!(m.label_values().all(|v| v != "/users/{id}"));
    m.assert_books_balanced();
}

#[tokio::test]
async fn prefix_and_const_labels_reach_every_series() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .prefix("shop")
        .const_label("service", "checkout")
        .buckets([0.5, 1.0])
        .build()
        .unwrap();
    routes()
        .layer(MetricsLayer::new(&metrics))
        .oneshot(get_req("/users/1"))
        .await
        .unwrap();
    let m = parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let l = [
        ("method", "GET"),
        ("route", "/users/{id}"),
        ("status", "200"),
        ("service", "checkout"),
    ];
    assert_eq!(m.value("shop_http_server_requests_total", &l), 1.0);
    let buckets: Vec<_> = m
        .samples("shop_http_server_request_duration_seconds_bucket")
        .map(|s| s.labels["le"].clone())
        .collect();
    assert_eq!(buckets, ["0.5", "1.0", "+Inf"]);
}

fn metrics_app(registry: &Registry) -> Router {
    Router::new().route("/metrics", any(metrics_handler_with(registry.clone())))
}

async fn scrape_with(app: &Router, method: Method, accept: Option<&str>) -> Response<Bytes> {
    let mut req = Request::builder().method(method).uri("/metrics");
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn metrics_route_negotiates_the_format_and_both_parse() {
    let f = fixture();
    f.send("GET", "/users/1").await;
    f.send("GET", "/nowhere").await;
    let app = metrics_app(&f.registry);

    let om = scrape_with(&app, Method::GET, Some(common::PROMETHEUS_ACCEPT)).await;
    assert_eq!(om.status(), StatusCode::OK);
    assert_eq!(
        om.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let parsed = parse_openmetrics(std::str::from_utf8(om.body()).unwrap());
    assert_eq!(
        parsed.value(REQUESTS, &labels("GET", "/users/{id}", "200")),
        1.0
    );

    let v0 = scrape_with(
        &app,
        Method::GET,
        Some("application/openmetrics-text; version=0.0.1"),
    )
    .await;
    assert_eq!(
        v0.headers()["content-type"],
        "application/openmetrics-text; version=0.0.1; charset=utf-8"
    );
    parse_openmetrics(std::str::from_utf8(v0.body()).unwrap());

    for accept in [None, Some("text/plain"), Some("*/*")] {
        let text = scrape_with(&app, Method::GET, accept).await;
        assert_eq!(
            text.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = std::str::from_utf8(text.body()).unwrap();
        let parsed = common::parse_text(text);
        assert_eq!(
            parsed.value(REQUESTS, &labels("GET", "unmatched", "404")),
            1.0
        );
        if let Some((ok, report)) = common::promtool_check_metrics(text) {
            assert!(ok, "promtool check metrics complained:\n{report}\n{text}");
        }
    }
}

#[tokio::test]
async fn metrics_route_answers_head_wrong_methods_and_unacceptable_types() {
    let registry = Registry::new();
    let app = metrics_app(&registry);
    let head = scrape_with(&app, Method::HEAD, None).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(head.body().is_empty());
    let post = scrape_with(&app, Method::POST, None).await;
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    let json = scrape_with(&app, Method::GET, Some("application/json")).await;
    assert_eq!(json.status(), StatusCode::NOT_ACCEPTABLE);
    assert!(std::str::from_utf8(json.body())
        .unwrap()
        .contains("application/openmetrics-text"));
}

#[tokio::test]
async fn default_metric_set_is_served_by_metrics_handler() {
    // The one test that touches the process registry.
    let metrics = HttpMetrics::default();
    assert!(metrics.registry().same_as(promhttp::default_registry()));
    let app = Router::new()
        .route("/default-set-probe", get(|| async { "ok" }))
        .layer(MetricsLayer::new(&metrics))
        .route("/metrics", get(metrics_handler));
    app.clone()
        .oneshot(get_req("/default-set-probe"))
        .await
        .unwrap();
    let res = scrape_with(&app, Method::GET, None).await;
    let text = std::str::from_utf8(res.body()).unwrap();
    assert!(text
        .lines()
        .any(|l| l == "http_server_requests_total{method=\"GET\",route=\"/default-set-probe\",status=\"200\"} 1"),
        "{text}");
    // Building it again returns the same set rather than failing or panicking.
    let again = HttpMetrics::default();
    assert!(again.registry().same_as(metrics.registry()));
}

#[tokio::test]
async fn streamed_response_through_a_real_server_is_counted_after_the_client_read_it() {
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, f.app.clone()).into_future());
    let res = tokio::task::spawn_blocking(move || common::http(addr, "GET", "/users/9", &[], b""))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((res.status, res.text()), (200, "9".to_owned()));
    // hyper has written the whole body; the books close without another poll.
    let l = labels("GET", "/users/{id}", "200");
    let m = common::eventually(|| f.scrape(), |m| m.get(REQUESTS, &l).is_some()).await;
    assert_eq!(m.value(REQUESTS, &l), 1.0);
    m.assert_books_balanced();
    server.abort();
}

#[tokio::test]
async fn client_that_disconnects_from_a_real_server_is_counted_as_499() {
    let f = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, f.app.clone()).into_future());
    let registry = f.registry.clone();
    let in_flight = move || {
        parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap()).sum(IN_FLIGHT) == 1.0
    };
    tokio::task::spawn_blocking(move || common::send_and_disconnect(addr, "/pending", in_flight))
        .await
        .unwrap();
    let l = labels("GET", "/pending", "499");
    let m = common::eventually(|| f.scrape(), |m| m.get(REQUESTS, &l).is_some()).await;
    assert_eq!(m.value(REQUESTS, &l), 1.0);
    m.assert_books_balanced();
    server.abort();
}

/// An upload handler that keeps what arrived: when the body could not be read
/// whole it does more work (here, it yields to the runtime once) and answers
/// `202`; `201` when it could.
async fn keep_partial_upload(body: Body) -> StatusCode {
    match body.collect().await {
        Ok(_) => StatusCode::CREATED,
        Err(_) => {
            tokio::task::yield_now().await;
            StatusCode::ACCEPTED
        }
    }
}

#[tokio::test]
async fn upload_cut_mid_body_is_counted_with_the_status_the_handler_answered() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/upload", post(keep_partial_upload))
        .layer(MetricsLayer::new(&metrics));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app).into_future());
    tokio::task::spawn_blocking(move || {
        common::send_cut_upload(addr, "/echo");
        common::send_cut_upload(addr, "/upload");
    })
    .await
    .unwrap();
    // hyper runs the handlers to their answer although no client is left to
    // read it: the `Bytes` extractor's 400, the partial upload's 202. Neither is
    // a 499, which means the request was dropped before its handler answered.
    let scrape = || parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let m = common::eventually(scrape, |m| m.sum(REQUESTS) == 2.0).await;
    assert_eq!(m.value(REQUESTS, &labels("POST", "/echo", "400")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("POST", "/upload", "202")), 1.0);
    assert_eq!(m.sum(REQUESTS), 2.0);
    m.assert_books_balanced();
    server.abort();
}

#[tokio::test]
async fn exemplars_come_from_sampled_traceparent_headers() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .buckets([3600.0])
        .exemplars(true)
        .build()
        .unwrap();
    let app = routes().layer(MetricsLayer::new(&metrics));
    let send = |uri: &'static str, traceparent: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::builder().uri(uri);
            if let Some(value) = traceparent {
                req = req.header("traceparent", value);
            }
            let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            res.into_body().collect().await.unwrap();
        }
    };
    send("/users/1", Some(traceparent(0xa1, true))).await;
    // Unsampled, malformed, or no trace at all: no exemplar, the request counted.
    send("/users/2", Some(traceparent(0xb2, false))).await;
    send("/users/3", Some("00-zz-what".to_owned())).await;
    send("/users/4", None).await;
    send("/status/404", Some(traceparent(0xc3, false))).await;
    send("/status/500", Some(traceparent(0xd4, true))).await;

    let m = f_scrape(&registry);
    let users = labels("GET", "/users/{id}", "200");
    assert_eq!(m.value(REQUESTS, &users), 4.0);
    let a1 = "a1".repeat(16);
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &users),
        Some(a1.clone())
    );
    let bucket = [users[0], users[1], users[2], ("le", "3600.0")];
    assert_eq!(
        common::exemplar_trace(&m, "http_server_request_duration_seconds_bucket", &bucket),
        Some(a1)
    );
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/status/{code}", "404")),
        None
    );
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/status/{code}", "500")),
        Some("d4".repeat(16))
    );
    m.assert_books_balanced();

    // Protobuf carries the same exemplars, on counters and buckets alike.
    let mut protobuf = Vec::new();
    registry.encode_to(Format::Protobuf, &mut protobuf).unwrap();
    type Found = (String, Vec<(String, String)>, promhttp::family::Exemplar);
    let exemplars = |families: &[promhttp::family::MetricFamily]| {
        let mut out: Vec<Found> = families
            .iter()
            .flat_map(|f| &f.samples)
            .filter_map(|s| Some((s.name.clone(), s.labels.clone(), s.exemplar.clone()?)))
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    };
    let from_protobuf = exemplars(&proto::as_families(&proto::decode(&protobuf)));
    let openmetrics =
        promhttp::parse::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap()).unwrap();
    let from_openmetrics = exemplars(&openmetrics);
    assert_eq!(from_protobuf.len(), 4, "{from_protobuf:#?}");
    assert_eq!(from_protobuf.len(), from_openmetrics.len());
    for (p, o) in from_protobuf.iter().zip(&from_openmetrics) {
        assert_eq!((&p.0, &p.1, &p.2.labels), (&o.0, &o.1, &o.2.labels));
        assert_eq!(p.2.value, o.2.value);
        // OpenMetrics writes the time in seconds, protobuf in seconds and nanos.
        let (a, b) = (p.2.timestamp.unwrap(), o.2.timestamp.unwrap());
        assert!((a - b).abs() < 1e-3, "{a} {b}");
    }
}

#[tokio::test]
async fn a_trace_can_come_from_elsewhere_and_needs_exemplars_on() {
    // The function replaces the header: here a trace an earlier layer left in
    // the extensions.
    #[derive(Clone)]
    struct FromUpstream(promhttp::TraceContext);
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exemplars(true)
        .build()
        .unwrap();
    let layer = MetricsLayer::new(&metrics)
        .trace_with(|_, extensions| extensions.get::<FromUpstream>().map(|t| t.0));
    let app = routes().layer(layer);
    let trace = promhttp::TraceContext::new([7; 16], [8; 8]).unwrap();
    let mut req = get_req("/users/1");
    req.extensions_mut().insert(FromUpstream(trace));
    req.headers_mut()
        .insert("traceparent", traceparent(0xa1, true).parse().unwrap());
    let res = app.clone().oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap();
    let m = f_scrape(&registry);
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/users/{id}", "200")),
        Some("07".repeat(16))
    );

    // Without exemplars, a sampled header leaves none.
    let f = fixture();
    let mut req = get_req("/users/1");
    req.headers_mut()
        .insert("traceparent", traceparent(0xa1, true).parse().unwrap());
    let res = f.app.clone().oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap();
    let m = f.scrape();
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 1.0);
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/users/{id}", "200")),
        None
    );
}

fn f_scrape(registry: &Registry) -> Exposition {
    parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap())
}

/// With the `opentelemetry` feature, the current span's OpenTelemetry trace
/// comes first: a service that traces gets its own server span in the exemplar,
/// whatever `traceparent` said.
#[cfg(feature = "opentelemetry")]
#[tokio::test]
async fn the_current_opentelemetry_span_gives_the_trace() {
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::layer::SubscriberExt;

    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exemplars(true)
        .build()
        .unwrap();
    let app = routes().layer(MetricsLayer::new(&metrics));
    let span = tracing::info_span!("request");
    let expected = span.context().span().span_context().trace_id().to_string();
    assert_eq!(expected.len(), 32);
    let mut req = get_req("/users/1");
    req.headers_mut()
        .insert("traceparent", traceparent(0xa1, true).parse().unwrap());
    let res = app.clone().oneshot(req).instrument(span).await.unwrap();
    res.into_body().collect().await.unwrap();
    // Outside any span, the header is read.
    let mut req = get_req("/status/404");
    req.headers_mut()
        .insert("traceparent", traceparent(0xa1, true).parse().unwrap());
    let res = app.oneshot(req).await.unwrap();
    res.into_body().collect().await.unwrap();

    let m = f_scrape(&registry);
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/users/{id}", "200")),
        Some(expected)
    );
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/status/{code}", "404")),
        Some("a1".repeat(16))
    );
}
