//! Property tests of everything that takes input from outside: label values from
//! constant labels, route templates and user metrics always make valid
//! exposition (read back exactly by our parser and, where installed, the
//! reference parsers, passed by promtool); the parsers we own (`Accept`, the
//! OpenMetrics-to-text pass, the scrape answer) never panic on any input.
//! Bounded: 64 cases per property by default, `PROPTEST_CASES` to change.

mod common;

use std::collections::BTreeMap;

use promhttp::prometheus_client::metrics::counter::Counter;
use promhttp::prometheus_client::metrics::family::Family;
use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Any string, weighted towards what breaks expositions.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\\n\r\t{}#= ,\u{0}-\u{1f}\u{7f}\u{85}\u{2028}a-z]{0,24}",
        Just(String::new()),
    ]
}

type Labels = Vec<(String, String)>;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_label_value_round_trips_through_both_formats(
        constant in hostile(),
        route in hostile(),
        custom in hostile(),
    ) {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder().registry(&registry).const_label("svc", constant.clone()).build().unwrap();
        let handle = metrics.route(Some(&route));
        let mut guard = handle.start(HttpMethod::Get).unwrap();
        guard.set_status(200);
        drop(guard);
        let family: Family<Labels, Counter> = Family::default();
        registry.register("custom", "Custom.", family.clone()).unwrap();
        family.get_or_create(&vec![("v".to_owned(), custom.clone())]).inc();

        let route_label = handle.label().to_owned();
        let expected = [("method", "GET"), ("route", route_label.as_str()), ("status", "200"), ("svc", constant.as_str())];
        for (format, parsed) in [
            (Format::OpenMetrics, common::try_parse("openmetrics", &registry.encode(Format::OpenMetrics).unwrap())),
            (Format::Text, common::try_parse("text", &registry.encode(Format::Text).unwrap())),
        ] {
            let m = parsed.map_err(|e| TestCaseError::fail(format!("{format:?} rejected: {e}")))?;
            prop_assert_eq!(m.get("http_server_requests_total", &expected), Some(1.0), "{:?}", format);
            prop_assert_eq!(m.get("custom_total", &[("v", custom.as_str())]), Some(1.0), "{:?}", format);
        }
        if let Some((ok, report)) = common::promtool_check_metrics(&registry.encode(Format::Text).unwrap()) {
            prop_assert!(ok, "promtool: {}", report);
        }
    }

    #[test]
    fn accept_negotiation_and_scrape_never_panic(
        accept in proptest::collection::vec(any::<u8>(), 0..200),
        ranges in proptest::collection::vec(
            ("[a-z*]{0,12}", "[a-z*+.-]{0,20}", "(;[ a-zA-Z]{0,8}=[\"0-9.a-z]{0,8}){0,3}"),
            0..5,
        ),
        method in "[A-Za-z]{0,10}",
    ) {
        let _ = Format::negotiate(Some(&accept));
        let header: Vec<String> = ranges.iter().map(|(t, s, p)| format!("{t}/{s}{p}")).collect();
        let header = header.join(",");
        let first = Format::negotiate(Some(header.as_bytes()));
        prop_assert_eq!(first, Format::negotiate(Some(header.as_bytes())), "deterministic");
        let registry = Registry::new();
        let response = registry.scrape(&method, Some(header.as_bytes()));
        prop_assert!([200, 405, 406].contains(&response.status));
        if response.status == 200 {
            prop_assert_eq!(response.content_type, first.unwrap().content_type());
        }
    }
}

#[test]
fn label_values_with_every_control_character_are_exact() {
    let all: String = (0u32..0x20)
        .chain([0x7f, 0x85, 0x2028, 0x2029])
        .filter_map(char::from_u32)
        .collect();
    let registry = Registry::new();
    let family: Family<Labels, Counter> = Family::default();
    registry.register("c", "C.", family.clone()).unwrap();
    family
        .get_or_create(&vec![("v".to_owned(), all.clone())])
        .inc();
    for (format, parser) in [(Format::OpenMetrics, "openmetrics"), (Format::Text, "text")] {
        let m = common::try_parse(parser, &registry.encode(format).unwrap()).unwrap();
        let labels: BTreeMap<_, _> = m.samples("c_total").next().unwrap().labels.clone();
        assert_eq!(labels["v"], all, "{format:?}");
    }
}
