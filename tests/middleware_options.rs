//! The middleware's options (issue 15), each in both adapters, with values
//! read back through `common::parse_text` (our parser, cross-checked by
//! Python's `prometheus_client` where it is installed).

mod common;

use actix_web::{test as actix_test, web, App, HttpResponse};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt as _;
use promhttp::{Format, HttpMetrics, HttpMetricsBuilder, Registry};
use tower::ServiceExt as _;

/// The requests each test sends: (path, status the app answers).
const REQUESTS: [(&str, u16); 9] = [
    ("/ok", 200),
    ("/ok", 200),
    ("/empty", 204),
    ("/gone", 404),
    ("/busy", 503),
    ("/busy", 503),
    // Matched by no route: the app's 404.
    ("/assets/app.js", 404),
    ("/assets/site.css", 404),
    ("/wp-login.php", 404),
];

fn axum_app(metrics: &HttpMetrics) -> Router {
    let status = |code: u16| move || async move { StatusCode::from_u16(code).unwrap() };
    Router::new()
        .route("/ok", get(status(200)))
        .route("/empty", get(status(204)))
        .route("/gone", get(status(404)))
        .route("/busy", get(status(503)))
        .layer(promhttp::axum::MetricsLayer::new(metrics))
}

async fn axum_send(app: &Router, path: &str) -> u16 {
    let res = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    res.into_body().collect().await.unwrap();
    status
}

/// Sends [`REQUESTS`] through an axum app and through an actix-web app, each
/// recording into a set of its own built by `builder`; the two registries.
async fn both(builder: impl Fn(Registry) -> HttpMetricsBuilder) -> [(&'static str, Registry); 2] {
    let axum_registry = Registry::new();
    let metrics = builder(axum_registry.clone()).build().unwrap();
    let app = axum_app(&metrics);
    for (path, status) in REQUESTS {
        assert_eq!(axum_send(&app, path).await, status, "axum {path}");
    }

    let actix_registry = Registry::new();
    let metrics = builder(actix_registry.clone()).build().unwrap();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let status = |code: u16| {
                move || async move {
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                        .finish()
                }
            };
            let app = actix_test::init_service(
                App::new()
                    .wrap(promhttp::actix::Metrics::new(&metrics))
                    .route("/ok", web::get().to(status(200)))
                    .route("/empty", web::get().to(status(204)))
                    .route("/gone", web::get().to(status(404)))
                    .route("/busy", web::get().to(status(503))),
            )
            .await;
            for (path, status) in REQUESTS {
                let req = actix_test::TestRequest::get().uri(path).to_request();
                let res = actix_test::call_service(&app, req).await;
                assert_eq!(res.status().as_u16(), status, "actix {path}");
                common::drain_actix_body(res.into_body());
            }
        })
        .await;
    [("axum", axum_registry), ("actix", actix_registry)]
}

fn scrape(registry: &Registry) -> common::Exposition {
    common::parse_text(&registry.encode(Format::Text).unwrap())
}

#[tokio::test]
async fn status_classes_label_the_class_in_both_adapters() {
    for (adapter, registry) in
        both(|r| HttpMetrics::builder().registry(&r).status_classes(true)).await
    {
        let m = scrape(&registry);
        let count = |route: &str, status: &str| {
            m.value(
                "http_server_requests_total",
                &[("method", "GET"), ("route", route), ("status", status)],
            )
        };
        assert_eq!(count("/ok", "2xx"), 2.0, "{adapter}");
        assert_eq!(count("/empty", "2xx"), 1.0, "{adapter}");
        assert_eq!(count("/gone", "4xx"), 1.0, "{adapter}");
        assert_eq!(count("/busy", "5xx"), 2.0, "{adapter}");
        // No series keeps a code.
        let statuses: std::collections::BTreeSet<&str> = m
            .samples("http_server_requests_total")
            .map(|s| s.labels["status"].as_str())
            .collect();
        assert_eq!(
            statuses.into_iter().collect::<Vec<_>>(),
            ["2xx", "4xx", "5xx"],
            "{adapter}"
        );
        // The histogram counts the same requests under the same labels.
        assert_eq!(
            m.value(
                "http_server_request_duration_seconds_count",
                &[("method", "GET"), ("route", "/busy"), ("status", "5xx")]
            ),
            2.0,
            "{adapter}"
        );
    }
    // Off (the default), the codes.
    for (adapter, registry) in both(|r| HttpMetrics::builder().registry(&r)).await {
        let m = scrape(&registry);
        assert_eq!(
            m.value(
                "http_server_requests_total",
                &[("method", "GET"), ("route", "/empty"), ("status", "204")]
            ),
            1.0,
            "{adapter}"
        );
    }
}

#[test]
fn a_status_no_response_can_carry_is_invalid_never_overflow() {
    // Through the core API a status can be anything; 0 was shown as the
    // overflow series' `status="overflow"`.
    for classes in [false, true] {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder()
            .registry(&registry)
            .status_classes(classes)
            .build()
            .unwrap();
        for status in [0, 42, 1000, u16::MAX] {
            let mut guard = metrics
                .route(Some("/x"))
                .start(promhttp::HttpMethod::Get)
                .unwrap();
            guard.set_status(status);
        }
        let m = scrape(&registry);
        assert_eq!(
            m.value(
                "http_server_requests_total",
                &[("method", "GET"), ("route", "/x"), ("status", "invalid")]
            ),
            4.0
        );
        assert_eq!(m.samples("http_server_requests_total").count(), 1);
    }
}

#[tokio::test]
async fn excluded_requests_are_left_out_in_both_adapters() {
    let builder = |r: Registry| {
        HttpMetrics::builder()
            .registry(&r)
            // Scanners' misses: unmatched 404s.
            .exclude(|ended| ended.status == 404 && ended.route == promhttp::UNMATCHED_ROUTE)
    };
    for (adapter, registry) in both(builder).await {
        let m = scrape(&registry);
        let routes: std::collections::BTreeSet<&str> = m
            .samples("http_server_requests_total")
            .map(|s| s.labels["route"].as_str())
            .collect();
        assert_eq!(
            routes.into_iter().collect::<Vec<_>>(),
            ["/busy", "/empty", "/gone", "/ok"],
            "{adapter}: no unmatched series"
        );
        assert!(
            m.samples("http_server_request_duration_seconds_count")
                .all(|s| s.labels["route"] != "unmatched"),
            "{adapter}"
        );
        // A 404 of a matched route is not what was excluded.
        assert_eq!(
            m.value(
                "http_server_requests_total",
                &[("method", "GET"), ("route", "/gone"), ("status", "404")]
            ),
            1.0,
            "{adapter}"
        );
        // The excluded requests were in flight while they ran, and are no more.
        assert!(m.samples("http_server_requests_in_flight").count() > 0);
        for sample in m.samples("http_server_requests_in_flight") {
            assert_eq!(sample.value, 0.0, "{adapter}: {:?}", sample.labels);
        }
    }
}

#[tokio::test]
async fn unmatched_requests_are_grouped_by_declared_groups_in_both_adapters() {
    let builder = |r: Registry| {
        HttpMetrics::builder()
            .registry(&r)
            .group_unmatched(["static"], |_, path| {
                if path.starts_with("/assets/") {
                    Some("static")
                } else if path.ends_with(".php") {
                    // Not declared: stays `unmatched`, whatever the function says.
                    Some("php")
                } else {
                    None
                }
            })
    };
    for (adapter, registry) in both(builder).await {
        let m = scrape(&registry);
        let count = |route: &str| {
            m.value(
                "http_server_requests_total",
                &[("method", "GET"), ("route", route), ("status", "404")],
            )
        };
        assert_eq!(count("static"), 2.0, "{adapter}");
        assert_eq!(count("unmatched"), 1.0, "{adapter}");
        assert!(
            m.samples("http_server_requests_total")
                .all(|s| s.labels["route"] != "php"),
            "{adapter}"
        );
        // Matched requests keep their templates.
        assert_eq!(count("/gone"), 1.0, "{adapter}");
    }
}

#[test]
fn unusable_groups_are_refused_with_the_rule() {
    let build = |groups: &[&str]| {
        HttpMetrics::builder()
            .registry(&Registry::new())
            .max_series(2)
            .group_unmatched(groups.to_vec(), |_, _| None)
            .build()
            .map(|_| ())
            .map_err(|err| err.to_string())
    };
    for (groups, expected) in [
        (
            &[""][..],
            "invalid unmatched group \"\": a group needs a name",
        ),
        (&["/assets"], "may not start with `/`"),
        (
            &["unmatched"],
            "`unmatched` and `overflow` are promhttp's own",
        ),
        (
            &["overflow"],
            "`unmatched` and `overflow` are promhttp's own",
        ),
        (&["a", "a"], "declared only once"),
        (
            &["a", "b", "c"],
            "more groups than the series limit allows routes",
        ),
    ] {
        let err = build(groups).unwrap_err();
        assert!(err.contains(expected), "{groups:?}: {err}");
    }
    assert_eq!(build(&["a", "b"]), Ok(()));
}

#[tokio::test]
async fn initial_series_are_zero_until_counted_in_both_adapters() {
    let builder = |r: Registry| {
        HttpMetrics::builder().registry(&r).initial_series(
            [
                (promhttp::HttpMethod::Get, "/ok"),
                (promhttp::HttpMethod::Post, "/ok"),
                (promhttp::HttpMethod::Get, "/never"),
            ],
            [200, 500],
        )
    };
    // Before any request: every series there, at zero.
    let registry = Registry::new();
    let _metrics = builder(registry.clone()).build().unwrap();
    let m = scrape(&registry);
    assert_eq!(m.samples("http_server_requests_total").count(), 6);
    assert!(m
        .samples("http_server_requests_total")
        .all(|s| s.value == 0.0));
    assert_eq!(
        m.value(
            "http_server_request_duration_seconds_bucket",
            &[
                ("method", "POST"),
                ("route", "/ok"),
                ("status", "500"),
                ("le", "+Inf")
            ]
        ),
        0.0
    );
    assert_eq!(m.samples("http_server_requests_in_flight").count(), 0);

    for (adapter, registry) in both(builder).await {
        let m = scrape(&registry);
        let count = |method: &str, route: &str, status: &str| {
            m.value(
                "http_server_requests_total",
                &[("method", method), ("route", route), ("status", status)],
            )
        };
        assert_eq!(count("GET", "/ok", "200"), 2.0, "{adapter}");
        assert_eq!(count("GET", "/ok", "500"), 0.0, "{adapter}");
        assert_eq!(count("POST", "/ok", "200"), 0.0, "{adapter}");
        assert_eq!(count("GET", "/never", "500"), 0.0, "{adapter}");
        assert_eq!(count("GET", "/busy", "503"), 2.0, "{adapter}");
    }
}

#[test]
fn initial_series_past_the_limit_are_an_error_and_classes_apply() {
    let err = HttpMetrics::builder()
        .registry(&Registry::new())
        .max_series(3)
        .initial_series([(promhttp::HttpMethod::Get, "/a")], [200, 201, 202, 203])
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "4 initial series asked for, more than the series limit of 3 allows \
         (raise max_series or initialise fewer)"
    );

    let registry = Registry::new();
    let _metrics = HttpMetrics::builder()
        .registry(&registry)
        .status_classes(true)
        .ignore_route("/health")
        .initial_series(
            [
                (promhttp::HttpMethod::Get, "/a"),
                (promhttp::HttpMethod::Get, "/health"),
            ],
            [200, 204, 503],
        )
        .build()
        .unwrap();
    let m = scrape(&registry);
    let statuses: Vec<(&str, &str)> = m
        .samples("http_server_requests_total")
        .map(|s| (s.labels["route"].as_str(), s.labels["status"].as_str()))
        .collect();
    assert_eq!(statuses, [("/a", "2xx"), ("/a", "5xx")]);
}
