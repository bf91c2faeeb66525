//! Writes a metric set into the encoder on every scrape, straight from its series:
//! no string or list per sample.

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::Arc;

use super::series::{RouteEntry, SeriesSnapshot};
use super::{HttpMethod, Shared, OVERFLOW_ROUTE};
use crate::encode::{Descriptor, Encoder, LabelSet};
use crate::family::MetricType;
use crate::registry::Source;

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

/// One series as read for this scrape.
struct Row {
    route: Arc<str>,
    method: HttpMethod,
    series: SeriesSnapshot,
}

/// The labels of one series: method, route and status as the set has them, then
/// the constant labels.
struct Labels<'a> {
    method: HttpMethod,
    route: Option<&'a str>,
    status: Option<&'a str>,
    consts: &'a [(String, String)],
}

impl LabelSet for Labels<'_> {
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        f("method", self.method.as_str());
        if let Some(route) = self.route {
            f("route", route);
        }
        if let Some(status) = self.status {
            f("status", status);
        }
        for (k, v) in self.consts {
            f(k, v);
        }
    }
}

impl Source for HttpCollector {
    fn encode(&self, out: &mut Encoder) {
        let shared = &self.0;
        let mut routes: Vec<Arc<RouteEntry>> = shared.routes.entries();
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
                    });
                });
                rows[first..].sort_by_key(|r| r.series.status);
            }
        }
        let limits = &shared.limits;
        let overflow = limits.overflow.snapshot();
        let folded_requests = limits.folded_requests.load(Acquire);
        if overflow.cells.count > 0 {
            rows.push(Row {
                route: Arc::clone(&shared.overflow.route),
                method: HttpMethod::Other,
                series: overflow,
            });
        }

        // The gauges: by method alone (requests started before routing), then by
        // method and route, then the overflow series once anything went there.
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
        let folded_in_flight = limits.folded_in_flight.load(Relaxed);
        if folded_in_flight > 0 {
            let value = limits.overflow_in_flight.load(Acquire);
            let route = Arc::clone(&shared.overflow.route);
            in_flight.push((Some(route), HttpMethod::Other, value));
        }

        let consts = shared.const_labels.as_slice();
        let names = &shared.names;
        let mut status = itoa::Buffer::new();

        out.family(&Descriptor::new(
            &names.requests,
            MetricType::Counter,
            REQUESTS_HELP,
        ));
        for row in &rows {
            let text = status_text(&row.series, &mut status);
            let labels = Labels {
                method: row.method,
                route: Some(&row.route),
                status: Some(text),
                consts,
            };
            #[allow(clippy::cast_precision_loss)]
            out.counter(&labels, row.series.cells.count as f64, None, None);
        }

        out.family(&Descriptor::new(
            &names.in_flight,
            MetricType::Gauge,
            IN_FLIGHT_HELP,
        ));
        for (route, method, value) in &in_flight {
            let labels = Labels {
                method: *method,
                route: route.as_deref(),
                status: None,
                consts,
            };
            #[allow(clippy::cast_precision_loss)]
            out.gauge(&labels, *value as f64);
        }

        out.family(
            &Descriptor::new(&names.duration, MetricType::Histogram, DURATION_HELP).unit("seconds"),
        );
        for row in &rows {
            let text = status_text(&row.series, &mut status);
            let labels = Labels {
                method: row.method,
                route: Some(&row.route),
                status: Some(text),
                consts,
            };
            let cells = &row.series.cells;
            let buckets = shared.bounds.buckets(&cells.buckets);
            out.histogram(&labels, buckets, cells.count, Some(cells.sum_seconds), None);
        }

        out.family(&Descriptor::new(
            &names.overflow,
            MetricType::Counter,
            OVERFLOW_HELP,
        ));
        let requests_total = format!("{}_total", names.requests);
        for (metric, value) in [
            (requests_total.as_str(), folded_requests),
            (names.in_flight.as_str(), folded_in_flight),
            (names.duration.as_str(), folded_requests),
        ] {
            let metric = [("metric", metric)];
            #[allow(clippy::cast_precision_loss)]
            out.counter(
                &crate::encode::Chain(&metric, consts),
                value as f64,
                None,
                None,
            );
        }
    }
}

/// The `status` label of a series: its code, or `overflow` for the overflow
/// series (status 0).
fn status_text<'b>(series: &SeriesSnapshot, buffer: &'b mut itoa::Buffer) -> &'b str {
    if series.status == 0 {
        OVERFLOW_ROUTE
    } else {
        buffer.format(series.status)
    }
}
