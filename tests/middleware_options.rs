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
        assert_eq!(
            m.distinct("http_server_requests_total", "status"),
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
        assert_eq!(
            m.distinct("http_server_requests_total", "route"),
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

/// A request of the label tests: path, `x-tier`, `x-forwarded-proto`, HTTP
/// version.
type Sent = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    axum::http::Version,
);

const LABELLED: [Sent; 6] = [
    (
        "/ok",
        Some("paid"),
        Some("https"),
        axum::http::Version::HTTP_11,
    ),
    ("/ok", Some("gold"), None, axum::http::Version::HTTP_11),
    (
        "/ok",
        Some("free"),
        Some("HTTPS"),
        axum::http::Version::HTTP_11,
    ),
    ("/ok", None, None, axum::http::Version::HTTP_11),
    (
        "/ok",
        Some("paid"),
        Some("gopher"),
        axum::http::Version::HTTP_10,
    ),
    (
        "/gone",
        Some("paid"),
        Some("https"),
        axum::http::Version::HTTP_11,
    ),
];

/// Sends [`LABELLED`] through both adapters, with the `tier` label read from
/// `x-tier` and the built-ins declared; the two registries.
async fn labelled(trust_forwarded_proto: bool) -> [(&'static str, Registry); 2] {
    let builder = |r: &Registry| {
        HttpMetrics::builder()
            .registry(r)
            .label("tier", ["free", "paid"])
            .url_scheme_label(trust_forwarded_proto)
            .protocol_version_label()
            .build()
            .unwrap()
    };
    let axum_registry = Registry::new();
    let metrics = builder(&axum_registry);
    let status = |code: u16| move || async move { StatusCode::from_u16(code).unwrap() };
    let app: Router = Router::new()
        .route("/ok", get(status(200)))
        .route("/gone", get(status(404)))
        .layer(common::axum_layer_with_tier(&metrics));
    for (path, tier, proto, version) in LABELLED {
        let mut req = Request::get(path).version(version);
        if let Some(tier) = tier {
            req = req.header("x-tier", tier);
        }
        if let Some(proto) = proto {
            req = req.header("x-forwarded-proto", proto);
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }

    let actix_registry = Registry::new();
    let metrics = builder(&actix_registry);
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let app = actix_test::init_service(
                App::new()
                    .wrap(common::actix_middleware_with_tier(&metrics))
                    .route(
                        "/ok",
                        web::get().to(|| async { HttpResponse::Ok().finish() }),
                    )
                    .route(
                        "/gone",
                        web::get().to(|| async { HttpResponse::NotFound().finish() }),
                    ),
            )
            .await;
            for (path, tier, proto, version) in LABELLED {
                let version = if version == axum::http::Version::HTTP_10 {
                    actix_web::http::Version::HTTP_10
                } else {
                    actix_web::http::Version::HTTP_11
                };
                let mut req = actix_test::TestRequest::get().uri(path).version(version);
                if let Some(tier) = tier {
                    req = req.insert_header(("x-tier", tier));
                }
                if let Some(proto) = proto {
                    req = req.insert_header(("x-forwarded-proto", proto));
                }
                let res = actix_test::call_service(&app, req.to_request()).await;
                common::drain_actix_body(res.into_body());
            }
        })
        .await;
    [("axum", axum_registry), ("actix", actix_registry)]
}

#[tokio::test]
async fn request_labels_take_declared_values_or_other_in_both_adapters() {
    for (adapter, registry) in labelled(true).await {
        let m = scrape(&registry);
        let count = |tier: &str, scheme: &str, version: &str| {
            m.get(
                "http_server_requests_total",
                &[
                    ("method", "GET"),
                    ("route", "/ok"),
                    ("status", "200"),
                    ("tier", tier),
                    ("url_scheme", scheme),
                    ("protocol_version", version),
                ],
            )
            .unwrap_or(0.0)
        };
        assert_eq!(count("paid", "https", "1.1"), 1.0, "{adapter}");
        assert_eq!(
            count("other", "http", "1.1"),
            2.0,
            "{adapter}: gold and none"
        );
        assert_eq!(count("free", "https", "1.1"), 1.0, "{adapter}: HTTPS");
        assert_eq!(count("paid", "other", "1.0"), 1.0, "{adapter}: gopher");
        assert_eq!(
            m.value(
                "http_server_request_duration_seconds_count",
                &[
                    ("method", "GET"),
                    ("route", "/gone"),
                    ("status", "404"),
                    ("tier", "paid"),
                    ("url_scheme", "https"),
                    ("protocol_version", "1.1"),
                ]
            ),
            1.0,
            "{adapter}"
        );
        assert_eq!(m.sum("http_server_requests_total"), 6.0, "{adapter}");
        // Not on the in-flight gauge.
        assert!(
            m.samples("http_server_requests_in_flight")
                .all(|s| !s.labels.contains_key("tier")),
            "{adapter}"
        );
    }
    // Untrusted, `X-Forwarded-Proto` is not believed.
    for (adapter, registry) in labelled(false).await {
        let m = scrape(&registry);
        assert_eq!(
            m.distinct("http_server_requests_total", "url_scheme"),
            ["http"],
            "{adapter}"
        );
    }
}

#[test]
fn unusable_request_labels_are_refused_with_the_rule() {
    let build = |b: HttpMetricsBuilder| {
        b.registry(&Registry::new())
            .build()
            .map(|_| ())
            .map_err(|err| err.to_string())
    };
    let cases: [(HttpMetricsBuilder, &str); 7] = [
        (
            HttpMetrics::builder().label("1x", ["a"]),
            "invalid request label \"1x\"",
        ),
        (
            HttpMetrics::builder().label("route", ["a"]),
            "taken by promhttp",
        ),
        (
            HttpMetrics::builder()
                .const_label("tier", "x")
                .label("tier", ["a"]),
            "taken by promhttp, a constant label",
        ),
        (
            HttpMetrics::builder()
                .label("tier", ["a"])
                .label("tier", ["b"]),
            "another request label",
        ),
        (
            HttpMetrics::builder().label("tier", Vec::<String>::new()),
            "at least one value",
        ),
        (
            HttpMetrics::builder().label("tier", ["a", "other"]),
            "neither empty nor `other`",
        ),
        (
            HttpMetrics::builder()
                .label("a", ["1", "2", "3", "4", "5", "6", "7"])
                .label("b", ["1", "2", "3", "4", "5", "6", "7", "8"]),
            "more than 64 combinations",
        ),
    ];
    for (builder, expected) in cases {
        let err = build(builder).unwrap_err();
        assert!(err.contains(expected), "{err}");
    }
    // 8 x 8 is exactly 64.
    assert_eq!(
        build(
            HttpMetrics::builder()
                .label("a", ["1", "2", "3", "4", "5", "6", "7"])
                .label("b", ["1", "2", "3", "4", "5", "6", "7"])
        ),
        Ok(())
    );
}

#[test]
fn initial_series_cover_every_combination_of_the_request_labels() {
    let registry = Registry::new();
    let _metrics = HttpMetrics::builder()
        .registry(&registry)
        .label("tier", ["free", "paid"])
        .initial_series([(promhttp::HttpMethod::Get, "/a")], [200])
        .build()
        .unwrap();
    let m = scrape(&registry);
    let tiers: Vec<&str> = m
        .samples("http_server_requests_total")
        .map(|s| s.labels["tier"].as_str())
        .collect();
    assert_eq!(tiers.len(), 3);
    for tier in ["free", "paid", "other"] {
        assert!(tiers.contains(&tier), "{tiers:?}");
    }
}

/// OpenTelemetry's HTTP server metrics (semantic conventions, "HTTP metrics")
/// as their Prometheus names: name, type, unit, and the label names every
/// series carries. `error_type` is conditionally required (a request that
/// ended in an error: here a 5xx), checked apart.
const OTEL_TABLE: [(&str, &str, &str, &[&str]); 4] = [
    (
        "http_server_request_duration_seconds",
        "histogram",
        "seconds",
        &[
            "http_request_method",
            "http_response_status_code",
            "http_route",
            "url_scheme",
        ],
    ),
    // `http.server.request.body.size` and `http.server.response.body.size`,
    // unit `By`: with body sizes on.
    (
        "http_server_request_body_size_bytes",
        "histogram",
        "bytes",
        &[
            "http_request_method",
            "http_response_status_code",
            "http_route",
            "url_scheme",
        ],
    ),
    (
        "http_server_response_body_size_bytes",
        "histogram",
        "bytes",
        &[
            "http_request_method",
            "http_response_status_code",
            "http_route",
            "url_scheme",
        ],
    ),
    (
        "http_server_active_requests",
        "gauge",
        "",
        &["http_request_method"],
    ),
];

#[tokio::test]
async fn the_opentelemetry_profile_serves_the_conventions_names_in_both_adapters() {
    for (adapter, registry) in both(|r| {
        HttpMetrics::builder()
            .registry(&r)
            .naming(promhttp::Naming::OpenTelemetry)
            .body_sizes(true)
    })
    .await
    {
        let text = registry.encode(Format::OpenMetrics).unwrap();
        let m = common::parse_openmetrics(&text);
        let families: Vec<&str> = m.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            families,
            [
                "http_server_active_requests",
                "http_server_request_duration_seconds",
                "http_server_request_body_size_bytes",
                "http_server_response_body_size_bytes",
                "promhttp_series_overflow"
            ],
            "{adapter}: no requests_total"
        );
        for (name, kind, unit, labels) in OTEL_TABLE {
            let family = m.families.iter().find(|f| f.name == name).unwrap();
            assert_eq!(family.kind, kind, "{adapter} {name}");
            assert_eq!(family.unit, unit, "{adapter} {name}");
            assert!(!family.samples.is_empty(), "{adapter} {name}");
            for sample in &family.samples {
                let mut got: Vec<&str> = sample
                    .labels
                    .keys()
                    .map(String::as_str)
                    .filter(|k| *k != "le" && *k != "error_type")
                    .collect();
                got.sort_unstable();
                assert_eq!(got, labels, "{adapter} {}", sample.name);
                // `error_type` exactly on the series of a 5xx.
                let status = sample.labels.get("http_response_status_code");
                assert_eq!(
                    sample.labels.get("error_type"),
                    status.filter(|s| s.starts_with('5')),
                    "{adapter} {}",
                    sample.name
                );
            }
        }
        let count = |route: &str, status: &str| {
            m.value(
                "http_server_request_duration_seconds_count",
                &[
                    ("http_request_method", "GET"),
                    ("http_route", route),
                    ("http_response_status_code", status),
                    ("url_scheme", "http"),
                ],
            )
        };
        assert_eq!(count("/ok", "200"), 2.0, "{adapter}");
        assert_eq!(count("unmatched", "404"), 3.0, "{adapter}");
        assert_eq!(
            m.value(
                "http_server_request_duration_seconds_count",
                &[
                    ("http_request_method", "GET"),
                    ("http_route", "/busy"),
                    ("http_response_status_code", "503"),
                    ("url_scheme", "http"),
                    ("error_type", "503"),
                ],
            ),
            2.0,
            "{adapter}"
        );
        assert_eq!(
            m.value(
                "http_server_active_requests",
                &[("http_request_method", "GET")]
            ),
            0.0,
            "{adapter}"
        );
        // The conventions' advisory buckets.
        let bounds: Vec<&str> = m
            .samples("http_server_request_duration_seconds_bucket")
            .filter(|s| s.labels["http_route"] == "/ok")
            .map(|s| s.labels["le"].as_str())
            .collect();
        assert_eq!(
            bounds,
            [
                "0.0", "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75",
                "1.0", "2.5", "5.0", "7.5", "10.0", "+Inf"
            ],
            "{adapter}"
        );
    }
}
