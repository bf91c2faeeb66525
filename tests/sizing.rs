//! Sizing the series cap against Prometheus' `sample_limit`: the HTTP metric
//! set at its cap (`HttpMetricsBuilder::max_series`) writes exactly
//! `sizing::samples_at_cap(max_series)` samples into an OpenMetrics scrape,
//! and below it exactly one counter and one histogram series per (method,
//! route, status), one in-flight gauge per (method, route) and the fixed
//! `promhttp_series_overflow_total` series. A sample is what Prometheus 2.x
//! counts against `sample_limit` (`scrape_samples_scraped`): every line of the
//! exposition that is not a comment, `_created` lines included. The formula is
//! the one tests/kubernetes.rs checks the manifests' sample limit against.

mod common;
#[path = "support/sizing.rs"]
mod sizing;

use std::collections::BTreeSet;

use promhttp::{Format, HttpMethod, HttpMetrics, HttpMetricsBuilder, Registry};

/// A small cap, so that the test passes it many times over in little time.
const MAX_SERIES: usize = 40;

/// The set with `MAX_SERIES` and the options `configure` sets (the defaults
/// otherwise), on a registry of its own.
fn metric_set(
    configure: impl FnOnce(HttpMetricsBuilder) -> HttpMetricsBuilder,
) -> (Registry, HttpMetrics) {
    let registry = Registry::new();
    let metrics = configure(
        HttpMetrics::builder()
            .registry(&registry)
            .max_series(MAX_SERIES),
    )
    .build()
    .unwrap();
    (registry, metrics)
}

/// Records one finished request through the core API, as the adapters do.
fn record(metrics: &HttpMetrics, method: HttpMethod, route: &str, status: u16) {
    let mut request = metrics
        .route(Some(route))
        .start(method)
        .expect("no route is ignored");
    request.set_status(status);
    drop(request);
}

/// The registry in OpenMetrics, checked by the parsers, and read.
fn render(registry: &Registry) -> (String, common::Exposition) {
    let text = registry.encode(Format::OpenMetrics).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let parsed = common::parse_openmetrics(&text);
    (text, parsed)
}

/// The samples Prometheus counts in an exposition: its lines that are not
/// comments (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`).
fn samples(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

const METHODS: [HttpMethod; 4] = [
    HttpMethod::Get,
    HttpMethod::Post,
    HttpMethod::Put,
    HttpMethod::Delete,
];

/// Twice as many routes as the cap, each with one method, every other one with
/// two statuses: more than `MAX_SERIES` (method, route, status) combinations
/// and more than `MAX_SERIES` (method, route) pairs, so that the counter, the
/// histogram and the in-flight gauge all reach their cap and fold the rest
/// into their overflow series. Returns the combinations and the requests.
fn flood(metrics: &HttpMetrics) -> (BTreeSet<(HttpMethod, String, u16)>, usize) {
    let mut combinations = BTreeSet::new();
    let mut requests = 0;
    for i in 0..2 * MAX_SERIES {
        let route = format!("/items/{i}");
        let method = METHODS[i % METHODS.len()];
        for status in [200, 500].into_iter().take(1 + i % 2) {
            // Twice each: a known series takes no new ticket.
            for _ in 0..2 {
                record(metrics, method, &route, status);
                requests += 1;
            }
            combinations.insert((method, route.clone(), status));
        }
    }
    assert!(combinations.len() > MAX_SERIES, "{}", combinations.len());
    (combinations, requests)
}

#[test]
fn a_scrape_at_the_cap_has_exactly_the_samples_of_the_formula() {
    let (registry, metrics) = metric_set(|b| b);
    let (combinations, requests) = flood(&metrics);
    let (text, m) = render(&registry);

    // Each family at its cap: its series, of which its overflow series'
    // samples (`route="overflow"`).
    let buckets = promhttp::DEFAULT_BUCKETS.len() + 1;
    for (name, series, overflow) in [
        ("http_server_requests_total", MAX_SERIES + 1, 1),
        ("http_server_requests_in_flight", MAX_SERIES + 1, 1),
        (
            "http_server_request_duration_seconds_count",
            MAX_SERIES + 1,
            1,
        ),
        (
            "http_server_request_duration_seconds_sum",
            MAX_SERIES + 1,
            1,
        ),
        (
            "http_server_request_duration_seconds_bucket",
            (MAX_SERIES + 1) * buckets,
            buckets,
        ),
        ("promhttp_series_overflow_total", 3, 0),
    ] {
        assert_eq!(m.samples(name).count(), series, "{name}\n{text}");
        let in_overflow = m
            .samples(name)
            .filter(|s| s.labels.get("route").is_some_and(|r| r == "overflow"))
            .count();
        assert_eq!(in_overflow, overflow, "{name}\n{text}");
    }
    // No `_created` samples with the default options.
    assert!(!text.contains("_created"), "{text}");
    // Nothing lost: every request is counted, in its series or the overflow.
    #[allow(clippy::cast_precision_loss)]
    let sent = requests as f64;
    assert_eq!(m.sum("http_server_requests_total"), sent);
    m.assert_books_balanced();
    let folded = m.value(
        "http_server_requests_total",
        &[
            ("method", "_OTHER"),
            ("route", "overflow"),
            ("status", "overflow"),
        ],
    );
    assert!(folded > 0.0);
    assert_eq!(
        m.value(
            "promhttp_series_overflow_total",
            &[("metric", "http_server_requests_total")]
        ),
        folded
    );

    let expected = sizing::samples_at_cap(MAX_SERIES);
    assert_eq!(
        samples(&text),
        expected,
        "{} combinations recorded, cap {MAX_SERIES}:\n{text}",
        combinations.len()
    );
    // 19 N + 22 with the default buckets: what the docs and the manifests say.
    assert_eq!(expected, 19 * MAX_SERIES + 22);
    assert_eq!(
        sizing::samples_at_cap(promhttp::DEFAULT_MAX_SERIES),
        190_022
    );

    // More traffic of every kind leaves the scrape at the same size.
    for (method, route, status) in &combinations {
        record(&metrics, *method, route, *status + 1);
    }
    record(&metrics, HttpMethod::Patch, "/more", 201);
    let (text, _) = render(&registry);
    assert_eq!(samples(&text), expected, "{text}");
}

#[test]
fn a_scrape_below_the_cap_has_its_combinations_pairs_and_the_fixed_samples() {
    let (registry, metrics) = metric_set(|b| b);
    // Nothing recorded: the overflow counters alone.
    let (text, _) = render(&registry);
    assert_eq!(samples(&text), sizing::fixed(false), "{text}");

    // 3 routes × 2 methods × 3 statuses: 18 combinations over 6 pairs, under
    // the cap of 40 on each.
    let mut combinations = 0;
    for route in ["/", "/users/{id}", "/echo"] {
        for method in [HttpMethod::Get, HttpMethod::Post] {
            for status in [200, 404, 500] {
                record(&metrics, method, route, status);
                combinations += 1;
            }
        }
    }
    let pairs = 6;
    assert!(combinations < MAX_SERIES);
    let (text, m) = render(&registry);
    assert!(
        !text.contains("overflow\""),
        "an overflow series below the cap:\n{text}"
    );
    assert_eq!(m.samples("http_server_requests_in_flight").count(), pairs);
    assert_eq!(
        samples(&text),
        sizing::per_combination(false) * combinations + pairs + sizing::fixed(false),
        "{text}"
    );
    assert_eq!(
        samples(&text),
        sizing::samples_below_cap(combinations, pairs, false)
    );
    // 18 per combination with the default buckets: `_total`, 15 buckets,
    // `_sum` and `_count`.
    assert_eq!(sizing::per_combination(false), 18);
}

/// `created_samples(true)` adds a `_created` sample to every counter and
/// histogram series, the overflow counters' too: Prometheus 2 counts them.
#[test]
fn created_samples_add_one_per_counter_and_histogram_series() {
    let (registry, metrics) = metric_set(|b| b.created_samples(true));
    let (combinations, _) = flood(&metrics);
    let (text, m) = render(&registry);
    let created = text
        .lines()
        .filter(|l| l.split(['{', ' ']).next().unwrap().ends_with("_created"))
        .count();
    assert_eq!(created, 2 * (MAX_SERIES + 1) + 3, "{text}");
    assert_eq!(
        samples(&text),
        sizing::samples_at_cap_created(MAX_SERIES),
        "{} combinations recorded, cap {MAX_SERIES}:\n{text}",
        combinations.len()
    );
    assert_eq!(
        sizing::samples_at_cap_created(MAX_SERIES),
        21 * MAX_SERIES + 27
    );
    m.assert_books_balanced();

    let (registry, metrics) = metric_set(|b| b.created_samples(true));
    record(&metrics, HttpMethod::Get, "/", 200);
    record(&metrics, HttpMethod::Get, "/", 404);
    let (text, _) = render(&registry);
    assert_eq!(
        samples(&text),
        sizing::samples_below_cap(2, 1, true),
        "{text}"
    );
}
