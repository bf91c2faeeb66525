//! Both exposition formats, with hostile label values and every metric type a user
//! can register, read with our parser and checked by the reference parsers and
//! `promtool` where they are installed.

mod common;

use promhttp::prometheus_client::metrics::counter::Counter;
use promhttp::prometheus_client::metrics::family::Family;
use promhttp::prometheus_client::metrics::gauge::Gauge;
use promhttp::prometheus_client::metrics::histogram::Histogram;
use promhttp::prometheus_client::metrics::info::Info;
use promhttp::{Format, HttpMethod, HttpMetrics, Registry};

const HOSTILE: [&str; 6] = [
    "quote \" inside",
    "back\\slash",
    "new\nline",
    "tab\tand\rcarriage",
    "brace } and { and # {",
    "unicode λ ✓ \u{7f}",
];

fn populated_registry() -> Registry {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .const_label("service", HOSTILE[0])
        .const_label("zone", HOSTILE[2])
        .build()
        .unwrap();
    for (i, route) in HOSTILE.iter().enumerate() {
        let mut request = metrics
            .route(Some(route))
            .start(HttpMethod::ALL[i])
            .unwrap();
        request.set_status(200 + i as u16);
    }
    let _in_flight = metrics.route(Some("/open")).start(HttpMethod::Get);
    std::mem::forget(_in_flight); // stays in flight: the gauge shows 1

    let jobs: Family<Vec<(String, String)>, Counter> = Family::default();
    registry
        .register(
            "jobs",
            "Jobs \"processed\" \\ so far\nper kind.",
            jobs.clone(),
        )
        .unwrap();
    for value in HOSTILE {
        jobs.get_or_create(&vec![("kind".into(), value.into())])
            .inc_by(3);
    }
    let temperature: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    temperature.set(-12.5);
    registry
        .register("temperature_celsius", "A gauge.", temperature)
        .unwrap();
    let sizes = Histogram::new([1.0, 10.0]);
    sizes.observe(0.5);
    sizes.observe(100.0);
    registry
        .register("payload_bytes", "A histogram.", sizes)
        .unwrap();
    registry
        .register(
            "build",
            "Build information.",
            Info::new(vec![("version", "1.2.3")]),
        )
        .unwrap();
    registry
}

#[test]
fn openmetrics_output_round_trips_through_the_reference_parser() {
    let text = populated_registry().encode(Format::OpenMetrics).unwrap();
    let m = common::parse_openmetrics(&text);
    for (i, route) in HOSTILE.iter().enumerate() {
        let status = (200 + i).to_string();
        let labels = [
            ("method", HttpMethod::ALL[i].as_str()),
            ("route", route),
            ("status", status.as_str()),
            ("service", HOSTILE[0]),
            ("zone", HOSTILE[2]),
        ];
        assert_eq!(
            m.value("http_server_requests_total", &labels),
            1.0,
            "{route:?}"
        );
        assert_eq!(m.value("jobs_total", &[("kind", route)]), 3.0);
    }
    let open = [
        ("method", "GET"),
        ("route", "/open"),
        ("service", HOSTILE[0]),
        ("zone", HOSTILE[2]),
    ];
    assert_eq!(m.value("http_server_requests_in_flight", &open), 1.0);
    assert_eq!(m.value("temperature_celsius", &[]), -12.5);
    assert_eq!(m.value("payload_bytes_bucket", &[("le", "10.0")]), 1.0);
    assert_eq!(m.value("payload_bytes_count", &[]), 2.0);
    assert_eq!(m.value("build_info", &[("version", "1.2.3")]), 1.0);
    assert_eq!(
        m.family("jobs").unwrap().help,
        "Jobs \"processed\" \\ so far\nper kind."
    );
    assert_eq!(m.family("build").unwrap().kind, "info");
}

#[test]
fn text_output_parses_and_passes_promtool() {
    let registry = populated_registry();
    let text = registry.encode(Format::Text).unwrap();
    let m = common::parse_text(&text);
    let om = common::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    // The same samples, minus what 0.0.4 has no place for.
    let key = |s: &common::Sample| format!("{}{:?}={}", s.name, s.labels, s.value);
    let mut from_text: Vec<_> = m
        .families
        .iter()
        .flat_map(|f| &f.samples)
        .map(key)
        .collect();
    let mut from_om: Vec<_> = om
        .families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| !s.name.ends_with("_created"))
        .map(key)
        .collect();
    from_text.sort();
    from_om.sort();
    assert_eq!(from_text, from_om);
    assert_eq!(
        m.family("jobs").unwrap().help,
        "Jobs \"processed\" \\ so far\nper kind."
    );
    if let Some((ok, report)) = common::promtool_check_metrics(&text) {
        assert!(ok, "promtool check metrics complained:\n{report}\n{text}");
    }
}

#[test]
fn empty_registry_is_valid_in_both_formats() {
    let registry = Registry::new();
    assert_eq!(registry.encode(Format::OpenMetrics).unwrap(), "# EOF\n");
    assert_eq!(registry.encode(Format::Text).unwrap(), "");
    common::parse_openmetrics("# EOF\n");
    if let Some((ok, report)) = common::promtool_check_metrics("") {
        assert!(ok, "{report}");
    }
}
