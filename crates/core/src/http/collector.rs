//! Encodes a metric set through `prometheus-client`'s encoder on every scrape.

use std::fmt;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::series::SeriesSnapshot;
use super::{HttpMethod, Shared};

/// HELP texts, written once: they are also the docs of the metric table.
pub(crate) const REQUESTS_HELP: &str =
    "Number of HTTP requests whose response ended, by method, route template and status code.";
pub(crate) const IN_FLIGHT_HELP: &str =
    "Number of HTTP requests that entered the service and whose response has not ended yet.";
pub(crate) const OVERFLOW_HELP: &str =
    "Observations recorded in a family's overflow series because a new series would have passed the series limit.";
pub(crate) const DURATION_HELP: &str =
    "Time from a request entering the service until its response body ended, in seconds.";

pub(crate) struct HttpCollector(pub(crate) Arc<Shared>);

impl fmt::Debug for HttpCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpCollector")
    }
}

struct Row {
    route: Arc<str>,
    method: HttpMethod,
    series: SeriesSnapshot,
}

impl Collector for HttpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let shared = &self.0;
        let mut routes = shared.routes.entries();
        routes.push(Arc::clone(&shared.unmatched));
        routes.sort_by(|a, b| a.route.cmp(&b.route));

        // Read every count once, so all three families show the same numbers, and
        // every count before any in-flight gauge, so that no request shows both
        // counted and in flight (see `series`).
        let mut rows = Vec::new();
        for route in &routes {
            for (method, series) in route.methods() {
                let first = rows.len();
                series.for_each_series(|s| {
                    rows.push(Row {
                        route: Arc::clone(&route.route),
                        method,
                        series: s.snapshot(),
                    })
                });
                rows[first..].sort_by_key(|r| r.series.status);
            }
        }
        let limits = &shared.limits;
        let overflow_route: Arc<str> = Arc::clone(&shared.overflow.route);
        let overflow = limits.overflow.snapshot();
        let folded_requests = limits.folded_requests.load(Acquire);

        // The gauges: by method alone (requests started before routing), then by
        // method and route.
        let mut in_flight: Vec<(Option<Arc<str>>, HttpMethod, i64)> = HttpMethod::ALL
            .into_iter()
            .zip(&limits.method_in_flight)
            .filter_map(|(method, gauge)| Some((None, method, gauge.read()?)))
            .collect();
        for route in &routes {
            for (method, series) in route.methods() {
                if let Some(value) = series.in_flight() {
                    in_flight.push((Some(Arc::clone(&route.route)), method, value));
                }
            }
        }
        let mut status_labels: Vec<String> =
            rows.iter().map(|r| r.series.status.to_string()).collect();

        // The overflow series, once anything was folded into them.
        let folded_in_flight = limits.folded_in_flight.load(Relaxed);
        if folded_in_flight > 0 {
            let value = limits.overflow_in_flight.load(Acquire);
            in_flight.push((Some(Arc::clone(&overflow_route)), HttpMethod::Other, value));
        }
        if overflow.cells.count > 0 {
            rows.push(Row {
                route: overflow_route,
                method: HttpMethod::Other,
                series: overflow,
            });
            status_labels.push(super::OVERFLOW_ROUTE.to_owned());
        }
        let const_labels = &shared.const_labels;
        fn labels<'a>(
            const_labels: &'a [(String, String)],
            method: HttpMethod,
            route: Option<&'a str>,
            status: Option<&'a str>,
        ) -> Vec<(&'a str, &'a str)> {
            let mut labels: Vec<(&str, &str)> = Vec::with_capacity(3 + const_labels.len());
            labels.push(("method", method.as_str()));
            if let Some(route) = route {
                labels.push(("route", route));
            }
            if let Some(status) = status {
                labels.push(("status", status));
            }
            labels.extend(const_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            labels
        }
        let names = &shared.names;

        let mut family =
            encoder.encode_descriptor(&names.requests, REQUESTS_HELP, None, MetricType::Counter)?;
        for (row, status) in rows.iter().zip(&status_labels) {
            let labels = labels(const_labels, row.method, Some(&row.route), Some(status));
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&row.series.cells.count, None)?;
        }

        let mut family =
            encoder.encode_descriptor(&names.in_flight, IN_FLIGHT_HELP, None, MetricType::Gauge)?;
        for (route, method, value) in &in_flight {
            let labels = labels(const_labels, *method, route.as_deref(), None);
            family.encode_family(&labels)?.encode_gauge(value)?;
        }

        let mut family = encoder.encode_descriptor(
            &names.duration,
            DURATION_HELP,
            None,
            MetricType::Histogram,
        )?;
        for (row, status) in rows.iter().zip(&status_labels) {
            let cells = &row.series.cells;
            let buckets = shared.bounds.with_counts(&cells.buckets);
            let labels = labels(const_labels, row.method, Some(&row.route), Some(status));
            family
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(cells.sum_seconds, cells.count, &buckets, None)?;
        }

        let mut family =
            encoder.encode_descriptor(&names.overflow, OVERFLOW_HELP, None, MetricType::Counter)?;
        let requests_total = format!("{}_total", names.requests);
        for (metric, value) in [
            (requests_total.as_str(), folded_requests),
            (names.in_flight.as_str(), folded_in_flight),
            (names.duration.as_str(), folded_requests),
        ] {
            let mut labels = vec![("metric", metric)];
            labels.extend(const_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        Ok(())
    }
}
