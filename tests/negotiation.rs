//! What a scraper gets for the `Accept` and `Accept-Encoding` headers it sends,
//! through both adapters: the exact `Content-Type`, and a body in the dialect it
//! names (read back by our parsers, or decoded as protobuf), gzipped when asked.
//! The `Accept` headers are those Prometheus 2.42 sends (captured from Debian's
//! build, with and without `--enable-feature=native-histograms`), those Prometheus
//! 3 builds from its default scrape protocols, and curl's.

mod proto;

use std::io::Read as _;

use actix_web::{test as actix_test, web, App};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt as _;
use promhttp::parse::{parse_openmetrics, parse_text};
use promhttp::{HttpMethod, HttpMetrics, MetricsEndpoint, Registry};
use tower::ServiceExt as _;

const PROMETHEUS_2: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const PROMETHEUS_2_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
const PROMETHEUS_3_CURRENT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
const PROMETHEUS_3_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
const CURL: &str = "*/*";

/// (Accept, the Content-Type answered.)
const CASES: &[(Option<&str>, &str)] = &[
    (Some(PROMETHEUS_2), "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    (
        Some(PROMETHEUS_2_NATIVE),
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
    ),
    (
        Some(PROMETHEUS_3),
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    ),
    (
        Some(PROMETHEUS_3_CURRENT),
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
    ),
    (
        Some(PROMETHEUS_3_NATIVE),
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
    ),
    (Some(CURL), "text/plain; version=0.0.4; charset=utf-8"),
    (None, "text/plain; version=0.0.4; charset=utf-8"),
    (
        Some("text/plain;version=1.0.0;escaping=underscores"),
        "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
    ),
    (
        Some("application/openmetrics-text;version=0.0.1;escaping=dots"),
        "application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=dots",
    ),
    (
        Some("text/plain;version=0.0.4;escaping=values"),
        "text/plain; version=0.0.4; charset=utf-8; escaping=values",
    ),
    // An escaping scheme nobody defined is ignored.
    (
        Some("text/plain;version=0.0.4;escaping=rot13"),
        "text/plain; version=0.0.4; charset=utf-8",
    ),
    // Protobuf only with its parameters, and never through a wildcard.
    (Some("application/vnd.google.protobuf"), ""),
    (Some("application/*"), "application/openmetrics-text; version=1.0.0; charset=utf-8"),
];

fn registry() -> Registry {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    for i in 0..40 {
        let route = format!("/route/{i}");
        let mut guard = metrics.route(Some(&route)).start(HttpMethod::Get).unwrap();
        guard.set_status(200);
    }
    registry
}

/// A scrape's answer: status, Content-Type, Content-Encoding, Vary and body.
struct Answer {
    status: u16,
    content_type: String,
    content_encoding: Option<String>,
    vary: Option<String>,
    body: Vec<u8>,
}

async fn via_axum(
    endpoint: &MetricsEndpoint,
    accept: Option<&str>,
    encoding: Option<&str>,
) -> Answer {
    via_axum_at(endpoint, "/metrics", accept, encoding).await
}

async fn via_axum_at(
    endpoint: &MetricsEndpoint,
    uri: &str,
    accept: Option<&str>,
    encoding: Option<&str>,
) -> Answer {
    let app: Router = Router::new().route(
        "/metrics",
        get(promhttp::axum::metrics_endpoint(endpoint.clone())),
    );
    let mut req = Request::get(uri);
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    if let Some(encoding) = encoding {
        req = req.header("accept-encoding", encoding);
    }
    let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let header = |name| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (content_type, content_encoding, vary) = (
        header("content-type"),
        header("content-encoding"),
        header("vary"),
    );
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        content_type: content_type.unwrap_or_default(),
        content_encoding,
        vary,
        body,
    }
}

async fn via_actix(
    endpoint: &MetricsEndpoint,
    accept: Option<&str>,
    encoding: Option<&str>,
) -> Answer {
    via_actix_at(endpoint, "/metrics", accept, encoding).await
}

async fn via_actix_at(
    endpoint: &MetricsEndpoint,
    uri: &str,
    accept: Option<&str>,
    encoding: Option<&str>,
) -> Answer {
    let app = actix_test::init_service(App::new().route(
        "/metrics",
        web::get().to(promhttp::actix::metrics_endpoint(endpoint.clone())),
    ))
    .await;
    let mut req = actix_test::TestRequest::get().uri(uri);
    if let Some(accept) = accept {
        req = req.insert_header(("accept", accept));
    }
    if let Some(encoding) = encoding {
        req = req.insert_header(("accept-encoding", encoding));
    }
    let res = actix_test::call_service(&app, req.to_request()).await;
    let header = |name| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (content_type, content_encoding, vary) = (
        header("content-type"),
        header("content-encoding"),
        header("vary"),
    );
    let status = res.status().as_u16();
    let body = actix_test::read_body(res).await.to_vec();
    Answer {
        status,
        content_type: content_type.unwrap_or_default(),
        content_encoding,
        vary,
        body,
    }
}

/// The body once decompressed, checked to be in the dialect its type names:
/// the number of HTTP families it holds.
fn read_body(answer: &Answer) -> usize {
    let body = match answer.content_encoding.as_deref() {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&answer.body[..])
                .read_to_end(&mut out)
                .expect("a gzip body");
            out
        }
        None => answer.body.clone(),
        Some(other) => panic!("unexpected content-encoding {other}"),
    };
    let http = |name: &str| name.starts_with("http_server_");
    if answer
        .content_type
        .starts_with("application/openmetrics-text")
    {
        let text = String::from_utf8(body).unwrap();
        let families = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        families.iter().filter(|f| http(&f.name)).count()
    } else if answer.content_type.starts_with("text/plain") {
        let text = String::from_utf8(body).unwrap();
        assert!(!text.contains("# EOF"), "an OpenMetrics body sent as text");
        let families = parse_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        families.iter().filter(|f| http(&f.name)).count()
    } else {
        let families = proto::decode(&body);
        families
            .iter()
            .filter(|f| http(f.name.as_deref().unwrap_or("")))
            .count()
    }
}

#[actix_web::test]
async fn each_scraper_gets_the_format_it_prefers_in_both_adapters() {
    let endpoint = MetricsEndpoint::new(&registry());
    for (accept, content_type) in CASES {
        for encoding in [None, Some("gzip")] {
            for answer in [
                via_axum(&endpoint, *accept, encoding).await,
                via_actix(&endpoint, *accept, encoding).await,
            ] {
                if content_type.is_empty() {
                    assert_eq!(answer.status, 406, "Accept: {accept:?}");
                    continue;
                }
                assert_eq!(answer.status, 200, "Accept: {accept:?}");
                assert_eq!(answer.content_type, *content_type, "Accept: {accept:?}");
                assert_eq!(answer.vary.as_deref(), Some("accept-encoding"));
                assert_eq!(
                    answer.content_encoding.as_deref(),
                    encoding,
                    "Accept: {accept:?}, Accept-Encoding: {encoding:?}"
                );
                // requests_total, in_flight, duration (the overflow counter is
                // promhttp_*).
                assert_eq!(read_body(&answer), 3, "Accept: {accept:?}");
            }
        }
    }
}

#[actix_web::test]
async fn compression_follows_accept_encoding_and_the_threshold() {
    let registry = registry();
    let endpoint = MetricsEndpoint::new(&registry);
    for (header, gzipped) in [
        ("gzip", true),
        ("x-gzip", true),
        ("deflate, gzip;q=0.5", true),
        ("*", true),
        ("gzip;q=0", false),
        ("*;q=0", false),
        ("identity", false),
        ("br", false),
        ("gzip;q=0, *", false),
    ] {
        let answer = via_axum(&endpoint, Some(PROMETHEUS_2), Some(header)).await;
        assert_eq!(
            answer.content_encoding.is_some(),
            gzipped,
            "Accept-Encoding: {header}"
        );
        assert_eq!(read_body(&answer), 3);
    }
    // Compressed, the body is much smaller; below the threshold it is not compressed.
    let plain = via_axum(&endpoint, Some(PROMETHEUS_2), None).await;
    let gzipped = via_axum(&endpoint, Some(PROMETHEUS_2), Some("gzip")).await;
    assert!(
        gzipped.body.len() * 4 < plain.body.len(),
        "{} vs {}",
        gzipped.body.len(),
        plain.body.len()
    );
    // (The threshold leaves room for the scrape counters' own growth.)
    let high = MetricsEndpoint::new(&registry).compression_threshold(plain.body.len() * 2);
    let answer = via_axum(&high, Some(PROMETHEUS_2), Some("gzip")).await;
    assert_eq!(answer.content_encoding, None);
    assert_eq!(read_body(&answer), 3);
    // HEAD gets the same type, and no body.
    let app: Router = Router::new().route(
        "/metrics",
        axum::routing::any(promhttp::axum::metrics_endpoint(endpoint.clone())),
    );
    let res = app
        .oneshot(
            Request::head("/metrics")
                .header("accept", PROMETHEUS_3)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    );
}

/// The served-scrapes counter of `registry`, by format, read through our parser.
fn served(registry: &Registry, format: &str) -> f64 {
    let text = String::from_utf8(registry.scrape("GET", None).body).unwrap();
    let families = parse_text(&text).unwrap();
    families
        .iter()
        .flat_map(|f| &f.samples)
        .find(|s| {
            s.name == "promhttp_metric_handler_requests_total" && s.label("format") == Some(format)
        })
        .unwrap_or_else(|| panic!("no format={format} in\n{text}"))
        .value
}

#[actix_web::test]
async fn a_format_query_parameter_overrides_accept_in_both_adapters() {
    let registry = registry();
    let endpoint = MetricsEndpoint::new(&registry);
    for (query, content_type, counted) in [
        (
            "format=protobuf",
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            "protobuf",
        ),
        (
            "format=openmetrics",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "openmetrics",
        ),
        ("x=1&format=text", "text/plain; version=0.0.4; charset=utf-8", "text"),
    ] {
        let uri = format!("/metrics?{query}");
        let before = served(&registry, counted);
        // Even an Accept header that names another format, or that nothing
        // satisfies, gives way to the parameter.
        for accept in [Some(PROMETHEUS_2), Some("image/png"), None] {
            for answer in [
                via_axum_at(&endpoint, &uri, accept, None).await,
                via_actix_at(&endpoint, &uri, accept, None).await,
            ] {
                assert_eq!(answer.status, 200, "{uri} Accept: {accept:?}");
                assert_eq!(answer.content_type, content_type, "{uri}");
                assert_eq!(read_body(&answer), 3, "{uri}");
            }
        }
        // Six answers (`served` reads the registry directly, not counted).
        assert_eq!(served(&registry, counted) - before, 6.0, "{uri}");
    }
    for uri in ["/metrics?format=json", "/metrics?format="] {
        for answer in [
            via_axum_at(&endpoint, uri, None, None).await,
            via_actix_at(&endpoint, uri, None, None).await,
        ] {
            assert_eq!(answer.status, 400, "{uri}");
            let body = String::from_utf8(answer.body).unwrap();
            assert!(body.contains("openmetrics, text, protobuf"), "{body}");
        }
    }
}
