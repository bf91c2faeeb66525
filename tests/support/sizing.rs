//! How many samples the HTTP metric set (`promhttp::HttpMetrics`, default
//! options, promhttp's names) writes into one OpenMetrics scrape: what
//! Prometheus' `sample_limit` counts. Prometheus 2.x counts every line that is
//! not a comment (`scrape_samples_scraped`), `_created` lines included, and
//! fails the whole scrape past the limit. Shared by tests/sizing.rs, which
//! checks the formula against a rendered registry, and tests/kubernetes.rs,
//! which checks the manifests' sample limit against it. Included with
//! `#[path = "support/sizing.rs"] mod sizing;`.
#![allow(dead_code, reason = "each test file uses part of it")]

/// The histogram's samples besides its buckets: `_sum` and `_count`.
const SUM_AND_COUNT: usize = 2;

/// The families `promhttp_series_overflow_total{metric}` has a series for with
/// the default options: `http_server_requests_total`,
/// `http_server_requests_in_flight` and `http_server_request_duration_seconds`
/// (with body sizes and time to first byte, one more each).
pub(crate) const OVERFLOW_COUNTER_SERIES: usize = 3;

/// The samples of one (method, route, status) combination: its series of the
/// counter and of the latency histogram. `created` is
/// `HttpMetricsBuilder::created_samples` (off by default), which adds a
/// `_created` sample to each.
pub(crate) fn per_combination(created: bool) -> usize {
    let created = usize::from(created);
    // http_server_requests_total: `_total` (and `_created`).
    let counter = 1 + created;
    // http_server_request_duration_seconds: a `_bucket` per bound of
    // DEFAULT_BUCKETS and one for `+Inf`, `_sum`, `_count` (and `_created`).
    let histogram = promhttp::DEFAULT_BUCKETS.len() + 1 + SUM_AND_COUNT + created;
    counter + histogram
}

/// The samples that do not grow with the requests:
/// `promhttp_series_overflow_total{metric}`, always written, one `_total` (and
/// a `_created` with `created_samples`) per family it counts for.
pub(crate) fn fixed(created: bool) -> usize {
    OVERFLOW_COUNTER_SERIES * (1 + usize::from(created))
}

/// The samples of the set at its series cap with the default options: the
/// most one scrape of it can take, whatever the traffic. For the axum adapter
/// and the core API (actix-web adds up to ten in-flight gauges by method
/// alone, for requests not routed yet). With DEFAULT_BUCKETS' 14 bounds a
/// combination is 1 + (15 + 2) = 18 samples, and the set at the cap
/// `N × 18 + N + 18 + 1 + 3 = 19 N + 22`.
pub(crate) fn samples_at_cap(max_series: usize) -> usize {
    // `max_series` (method, route, status) series of the counter and of the
    // histogram, each family at its cap.
    let combinations = max_series * per_combination(false);
    // `max_series` (method, route) series of the in-flight gauge, one sample
    // each, at its own cap.
    let in_flight = max_series;
    // The overflow series (`route="overflow"`, `status="overflow"`) of the
    // counter and the histogram, once a request was folded into it.
    let overflow = per_combination(false);
    // The in-flight gauge's overflow series, once a (method, route) was.
    let in_flight_overflow = 1;
    // promhttp_series_overflow_total{metric}, always there.
    combinations + in_flight + overflow + in_flight_overflow + fixed(false)
}

/// [`samples_at_cap`] with `created_samples(true)`: a `_created` sample more
/// for each counter and histogram series (`max_series` and the overflow
/// series of each family) and for each series of
/// `promhttp_series_overflow_total`.
pub(crate) fn samples_at_cap_created(max_series: usize) -> usize {
    samples_at_cap(max_series) + 2 * (max_series + 1) + OVERFLOW_COUNTER_SERIES
}

/// The samples of the set below its cap, nothing folded into an overflow
/// series: `combinations` (method, route, status) series of the counter and
/// the histogram over `pairs` (method, route) in-flight gauges, default
/// options but `created`.
pub(crate) fn samples_below_cap(combinations: usize, pairs: usize, created: bool) -> usize {
    combinations * per_combination(created) + pairs + fixed(created)
}
