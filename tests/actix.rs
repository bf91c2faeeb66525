//! The actix-web middleware, end to end through a real `App`, checked in the
//! exposition as the reference OpenMetrics parser reads it.

mod common;

use std::future::{pending, poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use common::{parse_openmetrics, traceparent, Exposition};
use futures_util::FutureExt;
use promhttp::actix::{metrics_handler, metrics_handler_with, Metrics};
use promhttp::{Format, HttpMetrics, Registry};

const REQUESTS: &str = "http_server_requests_total";
const IN_FLIGHT: &str = "http_server_requests_in_flight";
const COUNT: &str = "http_server_request_duration_seconds_count";
const SUM: &str = "http_server_request_duration_seconds_sum";

async fn stream() -> HttpResponse {
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, actix_web::Error>(Bytes::from(format!("chunk {i}\n"))),
            i + 1,
        ))
    });
    HttpResponse::Ok().streaming(chunks)
}

async fn status(code: web::Path<u16>) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(*code).unwrap()).finish()
}

async fn panics() -> &'static str {
    panic!("handler panicked on purpose")
}

async fn fails() -> Result<&'static str, actix_web::Error> {
    Err(actix_web::error::ErrorBadGateway("upstream down"))
}

/// The routes under test, as a function so each test builds its own `App`.
fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/users/{id}",
        web::get().to(|id: web::Path<String>| async move { id.into_inner() }),
    )
    .route("/status/{code}", web::get().to(status))
    .route("/echo", web::post().to(|body: Bytes| async move { body }))
    .route("/any", web::route().to(|| async { "any" }))
    .route("/stream", web::get().to(stream))
    .route("/pending", web::get().to(pending::<&'static str>))
    .route("/panic", web::get().to(panics))
    .route("/fail", web::get().to(fails))
    .service(web::scope("/api").route("/items/{id}", web::get().to(|| async { "item" })));
}

fn new_metrics() -> (Registry, HttpMetrics) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    (registry, metrics)
}

fn scrape(registry: &Registry) -> Exposition {
    parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap())
}

fn labels<'a>(method: &'a str, route: &'a str, status: &'a str) -> [(&'a str, &'a str); 3] {
    [("method", method), ("route", route), ("status", status)]
}

async fn body_bytes<B: MessageBody>(res: ServiceResponse<B>) -> Bytes {
    actix_web::body::to_bytes(res.into_body())
        .await
        .unwrap_or_else(|_| panic!("body failed"))
}

/// Sends `method uri` through `app` and reads the whole body.
macro_rules! send {
    ($app:expr, $method:expr, $uri:expr) => {{
        let req = TestRequest::default()
            .method(Method::from_bytes($method.as_bytes()).unwrap())
            .uri($uri)
            .to_request();
        let res = test::call_service(&$app, req).await;
        let status = res.status();
        (status, body_bytes(res).await)
    }};
}

#[actix_web::test]
async fn route_label_is_the_match_pattern() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    assert_eq!(send!(app, "GET", "/users/1").1, "1");
    send!(app, "GET", "/users/2?x=1");
    let m = scrape(&registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 2.0);
    assert!(m
        .label_values()
        .all(|v| !v.contains("/users/1") && !v.contains("/users/2")));
    m.assert_books_balanced();
}

#[actix_web::test]
async fn scoped_route_includes_the_scope_prefix() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    send!(app, "GET", "/api/items/7");
    let m = scrape(&registry);
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/api/items/{id}", "200")),
        1.0
    );
}

#[actix_web::test]
async fn unmatched_path_uses_one_label() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    for uri in [
        "/nope/1",
        "/nope/2?q=3",
        "/users",
        "/users/1/extra",
        "/api/nothing",
    ] {
        assert_eq!(send!(app, "GET", uri).0, StatusCode::NOT_FOUND, "{uri}");
    }
    let m = scrape(&registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "404")), 5.0);
    assert_eq!(m.samples(REQUESTS).count(), 1);
    assert!(m
        .label_values()
        .all(|v| !v.contains("nope") && !v.contains("extra")));
    m.assert_books_balanced();
}

#[actix_web::test]
async fn standard_methods_are_kept_and_others_become_other() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let standard = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    for method in standard {
        send!(app, method, "/any");
    }
    let long = "X".repeat(2000);
    for method in ["BREW", "get", "PROPFIND", long.as_str()] {
        send!(app, method, "/any");
    }
    let m = scrape(&registry);
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

#[actix_web::test]
async fn status_label_is_the_numeric_code() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    for code in ["201", "418", "503", "503"] {
        send!(app, "GET", &format!("/status/{code}"));
    }
    // `App::route` puts the route's method guard on the resource, so actix-web
    // answers a method the resource does not accept from its default service
    // (404): no resource matched, and the request is unmatched.
    send!(app, "POST", "/users/1");
    send!(app, "GET", "/fail"); // handler error
    let m = scrape(&registry);
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
    assert_eq!(m.value(REQUESTS, &labels("POST", "unmatched", "404")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("GET", "/fail", "502")), 1.0);
    m.assert_books_balanced();
}

#[actix_web::test]
async fn in_flight_counts_a_request_until_its_client_disconnects_and_then_499() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let mut fut = Box::pin(app.call(TestRequest::get().uri("/pending").to_request()));
    poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    let m = scrape(&registry);
    // actix-web routes inside the middleware: in flight by method alone.
    assert_eq!(m.value(IN_FLIGHT, &[("method", "GET")]), 1.0);
    assert_eq!(m.samples(IN_FLIGHT).count(), 1);
    assert_eq!(m.sum(REQUESTS), 0.0);
    drop(fut); // the client went away
    let m = scrape(&registry);
    // The route is read from the response, and there was none.
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "499")), 1.0);
    m.assert_books_balanced();
}

#[actix_web::test]
async fn future_dropped_before_its_first_poll_is_counted_once() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let fut = app.call(TestRequest::get().uri("/users/1").to_request());
    drop(fut);
    let m = scrape(&registry);
    // No response, so no route read from it.
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "499")), 1.0);
    assert_eq!(m.sum(REQUESTS), 1.0);
    m.assert_books_balanced();
}

#[actix_web::test]
async fn streamed_body_is_timed_until_its_end() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let sent = std::time::Instant::now();
    let res = test::call_service(&app, TestRequest::get().uri("/stream").to_request()).await;
    let m = scrape(&registry);
    assert_eq!(m.value(IN_FLIGHT, &[("method", "GET")]), 1.0);
    assert!(m.get(REQUESTS, &labels("GET", "/stream", "200")).is_none());
    let body = body_bytes(res).await;
    assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 10);
    let m = scrape(&registry);
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
    m.assert_books_balanced();
}

async fn next_chunk<B: MessageBody + Unpin>(body: &mut B) -> Option<Bytes> {
    poll_fn(|cx| Pin::new(&mut *body).poll_next(cx))
        .await
        .map(|c| c.unwrap_or_else(|_| panic!("body error")))
}

#[actix_web::test]
async fn body_dropped_mid_stream_closes_the_books_with_its_status() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let res = test::call_service(&app, TestRequest::get().uri("/stream").to_request()).await;
    let mut body = res.into_body();
    assert_eq!(next_chunk(&mut body).await.unwrap(), "chunk 0\n");
    assert_eq!(scrape(&registry).sum(REQUESTS), 0.0);
    drop(body);
    let m = scrape(&registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "/stream", "200")), 1.0);
    m.assert_books_balanced();
}

#[actix_web::test]
async fn empty_body_ends_with_the_response_head() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let no_content =
        test::call_service(&app, TestRequest::get().uri("/status/204").to_request()).await;
    let ok_empty =
        test::call_service(&app, TestRequest::get().uri("/status/200").to_request()).await;
    // Both bodies are alive and were never polled.
    let m = scrape(&registry);
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/status/{code}", "204")),
        1.0
    );
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/status/{code}", "200")),
        1.0
    );
    m.assert_books_balanced();
    drop((no_content, ok_empty));
    assert_eq!(scrape(&registry).sum(REQUESTS), 2.0);
}

#[actix_web::test]
async fn body_of_exact_length_ends_after_its_last_chunk() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let res = test::call_service(&app, TestRequest::get().uri("/users/abc").to_request()).await;
    let mut body = res.into_body();
    assert_eq!(next_chunk(&mut body).await.unwrap(), "abc");
    // Nobody polls the body again, and it is not dropped.
    let m = scrape(&registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 1.0);
    m.assert_books_balanced();
    drop(body);
    assert_eq!(scrape(&registry).sum(REQUESTS), 1.0);
}

#[actix_web::test]
async fn handler_panic_is_counted_as_500() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let caught = AssertUnwindSafe(app.call(TestRequest::get().uri("/panic").to_request()))
        .catch_unwind()
        .await;
    assert!(caught.is_err());
    let m = scrape(&registry);
    // The panic left no response to read the route from.
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "500")), 1.0);
    m.assert_books_balanced();
}

#[actix_web::test]
async fn every_request_is_counted_once_under_concurrency() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let requests = (0..400u32).map(|i| {
        let uri = match i % 4 {
            0 => format!("/users/{i}"),
            1 => format!("/status/{}", 200 + i % 3),
            2 => format!("/missing/{i}"),
            _ => "/api/items/1".to_owned(),
        };
        let req = TestRequest::get().uri(&uri).to_request();
        let app = &app;
        async move { body_bytes(test::call_service(app, req).await).await }
    });
    futures_util::future::join_all(requests).await;
    let m = scrape(&registry);
    assert_eq!(m.sum(REQUESTS), 400.0);
    assert_eq!(m.sum(COUNT), 400.0);
    m.assert_books_balanced();
}

/// The test routes and `/metrics`, whose scrapes are left unrecorded.
fn app_serving_its_metrics_unrecorded(
    registry: &Registry,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = HttpMetrics::builder()
        .registry(registry)
        .ignore_route("/metrics")
        .build()
        .unwrap();
    App::new()
        .wrap(Metrics::new(&metrics))
        .configure(configure)
        .route(
            "/metrics",
            web::get().to(metrics_handler_with(registry.clone())),
        )
}

#[actix_web::test]
async fn ignored_route_is_not_recorded() {
    let registry = Registry::new();
    let app = test::init_service(app_serving_its_metrics_unrecorded(&registry)).await;
    send!(app, "GET", "/metrics");
    send!(app, "GET", "/users/1");
    let m = scrape(&registry);
    assert_eq!(m.sum(REQUESTS), 1.0);
    assert!(m.label_values().all(|v| v != "/metrics"));
    m.assert_books_balanced();
}

#[actix_web::test]
async fn ignored_route_without_parameters_is_never_in_flight() {
    let registry = Registry::new();
    let app = test::init_service(app_serving_its_metrics_unrecorded(&registry)).await;
    send!(app, "GET", "/users/1");
    // The scrape is served while the middleware runs: told apart by its path
    // before routing, it raised no gauge.
    let (_, _, _, body) = scrape_via(&app, Method::GET, Some(common::PROMETHEUS_ACCEPT)).await;
    let m = parse_openmetrics(&body);
    assert_eq!(m.value(IN_FLIGHT, &[("method", "GET")]), 0.0);
    assert_eq!(m.sum(REQUESTS), 1.0);
    assert!(m.label_values().all(|v| v != "/metrics"));
}

#[actix_web::test]
async fn ignored_route_with_parameters_is_in_flight_while_served_and_never_counted() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .ignore_route("/quiet/{id}")
        .build()
        .unwrap();
    let app = test::init_service(
        App::new()
            .wrap(Metrics::new(&metrics))
            .route("/quiet/{id}", web::get().to(stream)),
    )
    .await;
    let res = test::call_service(&app, TestRequest::get().uri("/quiet/7").to_request()).await;
    // Which route a path with a parameter belongs to is only known after
    // routing: the request shows in flight until its body ends...
    assert_eq!(
        scrape(&registry).value(IN_FLIGHT, &[("method", "GET")]),
        1.0
    );
    assert_eq!(
        body_bytes(res)
            .await
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        10
    );
    // ...and is never counted.
    let m = scrape(&registry);
    assert_eq!(m.value(IN_FLIGHT, &[("method", "GET")]), 0.0);
    assert_eq!(m.samples(REQUESTS).count(), 0);
    assert_eq!(m.samples(COUNT).count(), 0);
}

#[actix_web::test]
async fn percent_encoded_path_gets_the_route_that_served_it() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    // actix-web decodes `%75` (`u`) before routing, so `/users/{id}` answers.
    let (status, body) = send!(app, "GET", "/%75sers/1");
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"1"[..]));
    let (status, _) = send!(app, "GET", "/api/%69tems/2");
    assert_eq!(status, StatusCode::OK);
    let m = scrape(&registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 1.0);
    assert_eq!(
        m.value(REQUESTS, &labels("GET", "/api/items/{id}", "200")),
        1.0
    );
    assert_eq!(m.sum(REQUESTS), 2.0);
}

#[actix_web::test]
async fn path_of_a_scope_with_nothing_at_its_root_is_unmatched() {
    let (registry, metrics) = new_metrics();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    // Routing consumes all of `/api` (the scope) and matches no resource in it:
    // the one case where the route is looked for again, and not found.
    for path in ["/api", "/api/", "/api/nothing/here"] {
        assert_eq!(send!(app, "GET", path).0, StatusCode::NOT_FOUND, "{path}");
    }
    let m = scrape(&registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "404")), 3.0);
    m.assert_books_balanced();
}

async fn scrape_via<S, B>(
    app: &S,
    method: Method,
    accept: Option<&str>,
) -> (StatusCode, Option<String>, Option<String>, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = TestRequest::default().method(method).uri("/metrics");
    if let Some(accept) = accept {
        req = req.insert_header(("accept", accept));
    }
    let res = test::call_service(app, req.to_request()).await;
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, content_type, allow) = (res.status(), header("content-type"), header("allow"));
    let body = String::from_utf8(body_bytes(res).await.to_vec()).unwrap();
    (status, content_type, allow, body)
}

#[actix_web::test]
async fn metrics_route_negotiates_the_format_and_both_parse() {
    let (registry, metrics) = new_metrics();
    let app = test::init_service(
        App::new()
            .wrap(Metrics::new(&metrics))
            .configure(configure)
            .route(
                "/metrics",
                web::get().to(metrics_handler_with(registry.clone())),
            ),
    )
    .await;
    send!(app, "GET", "/users/1");
    send!(app, "GET", "/nowhere");

    let (status, content_type, _, body) =
        scrape_via(&app, Method::GET, Some(common::PROMETHEUS_ACCEPT)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        content_type.unwrap(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let parsed = parse_openmetrics(&body);
    assert_eq!(
        parsed.value(REQUESTS, &labels("GET", "/users/{id}", "200")),
        1.0
    );
    // The scrape in progress is in flight, by method alone.
    assert_eq!(parsed.value(IN_FLIGHT, &[("method", "GET")]), 1.0);

    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let (_, content_type, _, text) = scrape_via(&app, Method::GET, accept).await;
        assert_eq!(
            content_type.unwrap(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let parsed = common::parse_text(&text);
        assert_eq!(
            parsed.value(REQUESTS, &labels("GET", "unmatched", "404")),
            1.0
        );
        if let Some((ok, report)) = common::promtool_check_metrics(&text) {
            assert!(ok, "promtool check metrics complained:\n{report}\n{text}");
        }
    }
}

#[actix_web::test]
async fn metrics_route_answers_head_wrong_methods_and_unacceptable_types() {
    let registry = Registry::new();
    // Mounted for every method, the handler itself answers.
    let app = test::init_service(App::new().route(
        "/metrics",
        web::route().to(metrics_handler_with(registry.clone())),
    ))
    .await;
    let (status, content_type, _, body) = scrape_via(&app, Method::HEAD, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        content_type.unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(body.is_empty());
    let (status, _, allow, _) = scrape_via(&app, Method::POST, None).await;
    assert_eq!(
        (status, allow.as_deref()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD"))
    );
    let (status, _, _, body) = scrape_via(&app, Method::GET, Some("application/json")).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(body.contains("application/openmetrics-text"));

    // Mounted with `web::get()` as the README shows, actix-web answers other
    // methods itself (404) without reaching the handler.
    let app =
        test::init_service(App::new().route("/metrics", web::get().to(metrics_handler))).await;
    let (status, _, _, _) = scrape_via(&app, Method::HEAD, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn response_through_a_real_server_is_counted_after_the_client_read_it() {
    let (registry, metrics) = new_metrics();
    let (addr, handle) = start_actix!(HttpServer::new(move || App::new()
        .wrap(Metrics::new(&metrics))
        .configure(configure)));
    let res = actix_web::rt::task::spawn_blocking(move || {
        (
            common::http(addr, "GET", "/users/9", &[], b"").unwrap(),
            common::http(addr, "POST", "/echo", &[], b"hello").unwrap(),
            common::http(addr, "GET", "/stream", &[], b"").unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!((res.0.status, res.0.text()), (200, "9".to_owned()));
    assert_eq!(res.1.text(), "hello");
    assert_eq!(res.2.text().lines().count(), 10);
    let m = common::eventually(|| scrape(&registry), |m| m.sum(REQUESTS) == 3.0).await;
    assert_eq!(m.value(REQUESTS, &labels("GET", "/users/{id}", "200")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("POST", "/echo", "200")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("GET", "/stream", "200")), 1.0);
    m.assert_books_balanced();
    handle.stop(false).await;
}

#[actix_web::test]
async fn client_that_disconnects_from_a_real_server_is_counted_as_499() {
    let (registry, metrics) = new_metrics();
    // actix-web allows half-closed connections by default: a client's EOF is not
    // taken as the client being gone, and the handler runs on. With half-closures
    // refused, the server drops the request on EOF, as hyper does.
    let (addr, handle) = start_actix!(HttpServer::new(move || App::new()
        .wrap(Metrics::new(&metrics))
        .configure(configure))
    .h1_allow_half_closed(false));
    let books = registry.clone();
    let in_flight = move || scrape(&books).sum(IN_FLIGHT) == 1.0;
    actix_web::rt::task::spawn_blocking(move || {
        common::send_and_disconnect(addr, "/pending", in_flight)
    })
    .await
    .unwrap();
    let l = labels("GET", "unmatched", "499");
    let m = common::eventually(|| scrape(&registry), |m| m.get(REQUESTS, &l).is_some()).await;
    assert_eq!(m.value(REQUESTS, &l), 1.0);
    m.assert_books_balanced();
    handle.stop(false).await;
}

/// A catch-panic middleware of the kind actix-web apps write with `wrap_fn`:
/// a panicking handler becomes an error, which actix-web answers with 500.
macro_rules! catch_panic {
    () => {
        |req: actix_web::dev::ServiceRequest, srv: &_| {
            let fut = actix_web::dev::Service::call(srv, req);
            async move {
                match AssertUnwindSafe(fut).catch_unwind().await {
                    Ok(result) => result,
                    Err(_) => Err(actix_web::error::ErrorInternalServerError(
                        "handler panicked",
                    )),
                }
            }
        }
    };
}

/// Sends `GET /panic` to `app`, whose catch-panic middleware turns the panic into an
/// error: actix-web answers 500, and the metrics count one 500. Neither a panic
/// nor an error brings a response (with its request) back to the middleware, so
/// the route is not known: `unmatched`.
async fn assert_panic_answered_and_counted_as_500<S, B>(app: &S, registry: &Registry)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
{
    let err = app
        .call(TestRequest::get().uri("/panic").to_request())
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.as_response_error().status_code(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let m = scrape(registry);
    assert_eq!(m.value(REQUESTS, &labels("GET", "unmatched", "500")), 1.0);
    m.assert_books_balanced();
}

#[actix_web::test]
async fn handler_panic_caught_outside_the_middleware_is_counted_as_500() {
    let (registry, metrics) = new_metrics();
    let app = test::init_service(
        App::new()
            .wrap(Metrics::new(&metrics))
            .wrap_fn(catch_panic!())
            .configure(configure),
    )
    .await;
    assert_panic_answered_and_counted_as_500(&app, &registry).await;
}

#[actix_web::test]
async fn handler_panic_caught_inside_the_middleware_is_counted_as_500() {
    let (registry, metrics) = new_metrics();
    let app = test::init_service(
        App::new()
            .wrap_fn(catch_panic!())
            .wrap(Metrics::new(&metrics))
            .configure(configure),
    )
    .await;
    assert_panic_answered_and_counted_as_500(&app, &registry).await;
}

/// An upload handler that keeps what arrived: when the body could not be read
/// whole it does more work (here, it yields to the runtime once) and answers
/// `202`; `201` when it could.
async fn keep_partial_upload(body: web::Payload) -> HttpResponse {
    match body.to_bytes().await {
        Ok(_) => HttpResponse::Created().finish(),
        Err(_) => {
            actix_web::rt::task::yield_now().await;
            HttpResponse::Accepted().finish()
        }
    }
}

/// An upload handler that, once the body fails, waits for ever: it ends only
/// when the server drops it.
async fn wait_after_a_cut_upload(body: web::Payload) -> HttpResponse {
    let _ = body.to_bytes().await;
    pending::<HttpResponse>().await
}

fn upload_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/echo", web::post().to(|body: Bytes| async move { body }))
        .route("/upload", web::post().to(keep_partial_upload))
        .route("/wait", web::post().to(wait_after_a_cut_upload));
}

#[actix_web::test]
async fn upload_cut_mid_body_is_counted_with_the_status_the_handler_answered() {
    let (registry, metrics) = new_metrics();
    let (addr, handle) = start_actix!(HttpServer::new(move || App::new()
        .wrap(Metrics::new(&metrics))
        .configure(upload_routes)));
    actix_web::rt::task::spawn_blocking(move || {
        common::send_cut_upload(addr, "/echo");
        common::send_cut_upload(addr, "/upload");
    })
    .await
    .unwrap();
    // With half-closed connections allowed (actix-web's default) the handlers
    // run to their answer although no client is left to read it: the `Bytes`
    // extractor's 400, the partial upload's 202.
    let m = common::eventually(|| scrape(&registry), |m| m.sum(REQUESTS) == 2.0).await;
    assert_eq!(m.value(REQUESTS, &labels("POST", "/echo", "400")), 1.0);
    assert_eq!(m.value(REQUESTS, &labels("POST", "/upload", "202")), 1.0);
    assert_eq!(m.sum(REQUESTS), 2.0);
    m.assert_books_balanced();
    handle.stop(false).await;
}

#[actix_web::test]
async fn upload_cut_mid_body_without_half_closed_connections_drops_a_working_handler_as_499() {
    let (registry, metrics) = new_metrics();
    let (addr, handle) = start_actix!(HttpServer::new(move || App::new()
        .wrap(Metrics::new(&metrics))
        .configure(upload_routes))
    .h1_allow_half_closed(false));
    actix_web::rt::task::spawn_blocking(move || common::send_cut_upload(addr, "/wait"))
        .await
        .unwrap();
    // A handler still working when actix-web sees the client gone is dropped:
    // no response, so 499 under `unmatched`.
    let l = labels("POST", "unmatched", "499");
    let m = common::eventually(|| scrape(&registry), |m| m.get(REQUESTS, &l).is_some()).await;
    assert_eq!(m.value(REQUESTS, &l), 1.0);
    assert_eq!(m.sum(REQUESTS), 1.0);
    m.assert_books_balanced();
    handle.stop(false).await;
}

#[actix_web::test]
async fn exemplars_come_from_sampled_traceparent_headers() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .buckets([3600.0])
        .exemplars(true)
        .build()
        .unwrap();
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    for (uri, header) in [
        ("/users/1", Some(traceparent(0xa1, true))),
        ("/users/2", Some(traceparent(0xb2, false))),
        ("/users/3", Some("00-zz-what".to_owned())),
        ("/users/4", None),
        ("/status/404", Some(traceparent(0xc3, false))),
        ("/status/500", Some(traceparent(0xd4, true))),
        ("/nowhere", Some(traceparent(0xe5, true))),
    ] {
        let mut req = TestRequest::get().uri(uri);
        if let Some(value) = header {
            req = req.insert_header(("traceparent", value));
        }
        let res = test::call_service(&app, req.to_request()).await;
        body_bytes(res).await;
    }
    let m = scrape(&registry);
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
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "unmatched", "404")),
        Some("e5".repeat(16))
    );
    m.assert_books_balanced();
}

#[actix_web::test]
async fn a_trace_can_come_from_elsewhere() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exemplars(true)
        .build()
        .unwrap();
    let middleware = Metrics::new(&metrics).trace_with(|req| {
        let value = req.headers().get("x-trace")?.to_str().ok()?;
        let n = u8::from_str_radix(value, 16).ok()?;
        promhttp::TraceContext::new([n; 16], [n; 8])
    });
    let app = test::init_service(App::new().wrap(middleware).configure(configure)).await;
    let req = TestRequest::get()
        .uri("/users/1")
        .insert_header(("x-trace", "2a"))
        .insert_header(("traceparent", traceparent(0xa1, true)))
        .to_request();
    body_bytes(test::call_service(&app, req).await).await;
    let m = scrape(&registry);
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/users/{id}", "200")),
        Some("2a".repeat(16))
    );
}

/// With the `opentelemetry` feature, the current span's OpenTelemetry trace
/// comes first, whatever `traceparent` said.
#[cfg(feature = "opentelemetry")]
#[actix_web::test]
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
    let app =
        test::init_service(App::new().wrap(Metrics::new(&metrics)).configure(configure)).await;
    let span = tracing::info_span!("request");
    let expected = span.context().span().span_context().trace_id().to_string();
    let req = TestRequest::get()
        .uri("/users/1")
        .insert_header(("traceparent", traceparent(0xa1, true)))
        .to_request();
    let res = test::call_service(&app, req).instrument(span).await;
    body_bytes(res).await;
    let m = scrape(&registry);
    assert_eq!(
        common::exemplar_trace(&m, REQUESTS, &labels("GET", "/users/{id}", "200")),
        Some(expected)
    );
}
