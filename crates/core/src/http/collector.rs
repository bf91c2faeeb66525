//! Writes a metric set into the encoder on every scrape, straight from its series:
//! no string or list per sample.

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::{Arc, Mutex};

use super::builder::Names;
use super::series::{
    ExtrasReading, Part, RouteEntry, SeriesReading, STATUS_ERROR, STATUS_INVALID, STATUS_OVERFLOW,
};
use super::{HttpMethod, Shared, OVERFLOW_ROUTE};
use crate::encode::{Chain, Descriptor, Encoder, HistogramExtras, LabelSet};
use crate::family::{Exemplar, MetricType};
use crate::native::NativeRow;
use crate::registry::Source;
use crate::trace::Stored;

/// The OpenTelemetry profile's HELP texts: the conventions' descriptions.
const OTEL_DURATION_HELP: &str = "Duration of HTTP server requests.";
const OTEL_ACTIVE_HELP: &str = "Number of active HTTP server requests.";

/// HELP texts, written once: they are also the docs of the metric table.
pub(crate) const REQUESTS_HELP: &str =
    "Number of HTTP requests whose response ended, by method, route template and status code.";
pub(crate) const IN_FLIGHT_HELP: &str =
    "Number of HTTP requests that entered the service and whose response has not ended yet.";
pub(crate) const OVERFLOW_HELP: &str =
    "Observations recorded in a family's overflow series because a new series would have passed the series limit.";
pub(crate) const DURATION_HELP: &str =
    "Time from a request entering the service until its response body ended, in seconds.";
/// The client side's HELP texts.
pub(crate) const CLIENT_REQUESTS_HELP: &str =
    "Number of outgoing HTTP requests whose response ended or that failed, by method, server address and status code.";
pub(crate) const CLIENT_IN_FLIGHT_HELP: &str =
    "Number of outgoing HTTP requests sent and whose response has not ended yet.";
pub(crate) const CLIENT_DURATION_HELP: &str =
    "Time from an outgoing request being sent until its response body ended or it failed, in seconds.";
pub(crate) const FIRST_BYTE_HELP: &str =
    "Time from a request entering the service until its response's head was ready to be sent, in seconds.";
pub(crate) const REQUEST_SIZE_HELP: &str = "Bytes of the request body that the service read.";
pub(crate) const RESPONSE_SIZE_HELP: &str =
    "Bytes of the response body that the service handed to the server.";

pub(crate) struct HttpCollector {
    shared: Arc<Shared>,
    /// The buffers of the last scrape, reused by the next: a scrape allocates
    /// nothing that grows with the number of series once they have reached
    /// their size. A scrape that finds them in use by another brings its own.
    scratch: Mutex<Scratch>,
}

impl HttpCollector {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            scratch: Mutex::default(),
        }
    }
}

#[derive(Default)]
struct Scratch {
    routes: Vec<Arc<RouteEntry>>,
    rows: Vec<Row>,
    /// The bucket counts of every row, one after the other.
    buckets: Vec<u64>,
    /// (route index, or none for the gauges by method alone; method; value)
    in_flight: Vec<(Option<usize>, HttpMethod, i64)>,
    /// The exemplar of every bucket of every row, laid out as `buckets`, when
    /// the set keeps exemplars.
    exemplars: Vec<Option<Stored>>,
    /// The native buckets of every row, one after the other, when the set
    /// keeps them.
    natives: Vec<(i32, u64)>,
}

/// One series as read for this scrape.
struct Row {
    /// Index into the scrape's routes; `None` for the overflow series.
    route: Option<usize>,
    method: HttpMethod,
    series: SeriesReading,
    native: Option<NativeRow>,
    /// Its extra histograms (time to first byte, body sizes), when kept.
    extras: ExtrasReading,
}

impl Row {
    /// The labels of the row's counter and histograms, with `status` its
    /// status label:
    /// OpenTelemetry's `error_type` on a 5xx series in that profile (not the
    /// overflow series), and no request labels on the overflow series, which
    /// holds requests of every value.
    fn histogram_labels<'a>(
        &self,
        shared: &'a Shared,
        routes: &'a [Arc<RouteEntry>],
        status: &'a str,
    ) -> Labels<'a> {
        let routed = self.route.is_some();
        Labels {
            names: &shared.names,
            method: self.method,
            route: Some(
                self.route
                    .and_then(|at| routes.get(at))
                    .map_or(OVERFLOW_ROUTE, |r| &r.route),
            ),
            status: Some(status),
            request: (routed && !shared.labels.is_empty())
                .then(|| (shared.labels.as_slice(), self.series.labels())),
            error_type: (shared.names.otel && routed && (500..600).contains(&self.series.status()))
                .then_some(status),
            consts: &shared.const_labels,
        }
    }
}

/// The labels of one series: method, route and status as the set has them, then
/// the constant labels.
struct Labels<'a> {
    names: &'a Names,
    method: HttpMethod,
    route: Option<&'a str>,
    status: Option<&'a str>,
    /// The request labels and the combination of their values.
    request: Option<(&'a [super::RequestLabel], u16)>,
    /// OpenTelemetry's `error_type`: on 5xx series in that profile.
    error_type: Option<&'a str>,
    consts: &'a [(String, String)],
}

impl LabelSet for Labels<'_> {
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        f(self.names.method_label(), self.method.as_str());
        if let Some(route) = self.route {
            f(self.names.route_label(), route);
        }
        if let Some(status) = self.status {
            f(self.names.status_label(), status);
        }
        if let Some(error_type) = self.error_type {
            f("error_type", error_type);
        }
        if let Some((labels, combination)) = self.request {
            super::labels::visit(labels, usize::from(combination), f);
        }
        for (k, v) in self.consts {
            f(k, v);
        }
    }
}

impl Source for HttpCollector {
    fn encode(&self, out: &mut Encoder) {
        let mut held = self.scratch.try_lock();
        let mut own = Scratch::default();
        let scratch: &mut Scratch = match held.as_deref_mut() {
            Ok(scratch) => scratch,
            Err(_) => &mut own,
        };
        self.read(scratch);
        self.write(scratch, out);
        scratch.routes.clear();
    }
}

impl HttpCollector {
    /// Reads every count once, so all three families show the same numbers, and
    /// every count before any in-flight gauge, so that no request shows both
    /// counted and in flight (see `series`).
    fn read(&self, scratch: &mut Scratch) {
        let shared = &self.shared;
        let Scratch {
            routes,
            rows,
            buckets,
            in_flight,
            exemplars,
            natives,
        } = scratch;
        natives.clear();
        routes.clear();
        rows.clear();
        buckets.clear();
        in_flight.clear();
        exemplars.clear();
        let keep = shared.limits.exemplars;
        shared.routes.entries_into(routes);
        routes.push(Arc::clone(&shared.unmatched));
        routes.sort_unstable_by(|a, b| a.route.cmp(&b.route));

        for (at, route) in routes.iter().enumerate() {
            for (method, series) in route.methods() {
                let first = rows.len();
                series.for_each_series(|s| {
                    // Native buckets first: see `Series::read_native_into`.
                    let native = s.read_native_into(natives);
                    let series = s.read_into(buckets);
                    rows.push(Row {
                        route: Some(at),
                        method,
                        series,
                        native,
                        extras: s.read_extras_into(buckets),
                    });
                    if keep {
                        exemplars.extend(s.exemplars());
                    }
                });
                rows[first..].sort_unstable_by_key(|r| r.series.status);
            }
        }
        let limits = &shared.limits;
        let overflow_native = limits.overflow.read_native_into(natives);
        let mut overflow = limits.overflow.read_into(buckets);
        let overflow_extras = limits.overflow.read_extras_into(buckets);
        overflow.created = limits.overflow_created().unwrap_or(limits.built);
        if keep {
            exemplars.extend(limits.overflow.exemplars());
        }
        if overflow.count > 0 {
            rows.push(Row {
                route: None,
                method: HttpMethod::Other,
                series: overflow,
                native: overflow_native,
                extras: overflow_extras,
            });
        }

        // The gauges: by method alone (requests started before routing), then by
        // method and route, then the overflow series once anything went there.
        in_flight.extend(
            HttpMethod::ALL
                .into_iter()
                .zip(&limits.method_in_flight)
                .filter_map(|(method, gauge)| Some((None, method, gauge.read()?))),
        );
        for (at, route) in routes.iter().enumerate() {
            for (method, series) in route.methods() {
                if let Some(value) = series.in_flight() {
                    in_flight.push((Some(at), method, value));
                }
            }
        }
    }

    fn write(&self, scratch: &Scratch, out: &mut Encoder) {
        let shared = &self.shared;
        let limits = &shared.limits;
        let folded_requests = limits.folded_requests.load(Acquire);
        let folded_in_flight = limits.folded_in_flight.load(Relaxed);
        let route_of = |at: Option<usize>| -> &str {
            at.and_then(|at| scratch.routes.get(at))
                .map_or(OVERFLOW_ROUTE, |r| &r.route)
        };
        let consts = shared.const_labels.as_slice();
        let names = &shared.names;
        // The labels of an in-flight gauge: no status, no request labels.
        let gauge_labels = |method, route| Labels {
            names,
            method,
            route,
            status: None,
            request: None,
            error_type: None,
            consts,
        };
        let mut status = itoa::Buffer::new();
        let width = shared.bounds.nanos.len() + 1;
        let clock = Anchor::now();
        // Start times: always in protobuf, as `_created` samples in OpenMetrics
        // unless turned off (text 0.0.4 has none).
        let created_samples =
            shared.created_samples || out.dialect() != crate::encode::Dialect::OpenMetrics;
        let created = |r: &SeriesReading| created_samples.then_some(r.created);
        // A row's exemplars, one per bucket (`+Inf` last); none without exemplars.
        let exemplars_of = |r: &SeriesReading| {
            scratch
                .exemplars
                .get(r.at..r.at + width)
                .unwrap_or(&[])
                .iter()
                .map(|stored| stored.map(|s| clock.exemplar(&s, s.nanos as f64 / 1e9)))
                .collect::<Vec<_>>()
        };

        if !names.otel {
            out.family(&Descriptor::new(
                &names.requests,
                MetricType::Counter,
                if names.client {
                    CLIENT_REQUESTS_HELP
                } else {
                    REQUESTS_HELP
                },
            ));
            for row in &scratch.rows {
                // Our names: no `error_type`.
                let status = status_text(row.series.status(), limits.status_classes, &mut status);
                let labels = row.histogram_labels(shared, &scratch.routes, status);
                // The counter's exemplar: the latest of its series, for one request.
                let latest = scratch
                    .exemplars
                    .get(row.series.at..row.series.at + width)
                    .unwrap_or(&[])
                    .iter()
                    .flatten()
                    .max_by_key(|s| s.at)
                    .map(|s| clock.exemplar(s, 1.0));
                #[allow(clippy::cast_precision_loss)]
                out.counter(
                    &labels,
                    row.series.count as f64,
                    created(&row.series),
                    latest.as_ref(),
                );
            }
        }

        if names.otel {
            // By method alone: the conventions' active requests have no route.
            out.family(&Descriptor::new(
                &names.in_flight,
                MetricType::Gauge,
                OTEL_ACTIVE_HELP,
            ));
            let mut by_method = [None::<i64>; HttpMethod::ALL.len()];
            for &(_, method, value) in &scratch.in_flight {
                let sum = &mut by_method[method.index()];
                *sum = Some(sum.unwrap_or(0) + value);
            }
            if folded_in_flight > 0 {
                let sum = &mut by_method[HttpMethod::Other.index()];
                *sum = Some(sum.unwrap_or(0) + limits.overflow_in_flight.load(Acquire));
            }
            for (method, value) in HttpMethod::ALL.into_iter().zip(by_method) {
                let Some(value) = value else { continue };
                let labels = gauge_labels(method, None);
                #[allow(clippy::cast_precision_loss)]
                out.gauge(&labels, value as f64);
            }
        } else {
            out.family(&Descriptor::new(
                &names.in_flight,
                MetricType::Gauge,
                if names.client {
                    CLIENT_IN_FLIGHT_HELP
                } else {
                    IN_FLIGHT_HELP
                },
            ));
            for &(route, method, value) in &scratch.in_flight {
                let labels = gauge_labels(method, route.map(|at| route_of(Some(at))));
                #[allow(clippy::cast_precision_loss)]
                out.gauge(&labels, value as f64);
            }
            if folded_in_flight > 0 {
                let labels = gauge_labels(HttpMethod::Other, Some(OVERFLOW_ROUTE));
                #[allow(clippy::cast_precision_loss)]
                out.gauge(&labels, limits.overflow_in_flight.load(Acquire) as f64);
            }
        }

        let duration_help = if names.client {
            CLIENT_DURATION_HELP
        } else if names.otel {
            OTEL_DURATION_HELP
        } else {
            DURATION_HELP
        };
        out.family(
            &Descriptor::new(&names.duration, MetricType::Histogram, duration_help).unit("seconds"),
        );
        for row in &scratch.rows {
            let status = status_text(row.series.status(), limits.status_classes, &mut status);
            let labels = row.histogram_labels(shared, &scratch.routes, status);
            let r = &row.series;
            let counts = scratch.buckets.get(r.at..r.at + width).unwrap_or(&[]);
            let buckets = shared.bounds.buckets(counts);
            let native = row
                .native
                .map(|n| crate::histogram::native_buckets(&n, &scratch.natives));
            if scratch.exemplars.is_empty() && native.is_none() {
                out.histogram(&labels, buckets, r.count, Some(r.sum_seconds), created(r));
            } else {
                let exemplars = exemplars_of(r);
                let buckets = buckets
                    .zip(exemplars.iter().chain(std::iter::repeat(&None)))
                    .map(|(b, e)| match e {
                        Some(e) => b.with_exemplar(e),
                        None => b,
                    });
                let extras = HistogramExtras {
                    created: created(r),
                    inf_exemplar: exemplars.get(width - 1).and_then(Option::as_ref),
                    native,
                };
                out.histogram_with(&labels, buckets, r.count, Some(r.sum_seconds), &extras);
            }
        }

        // The extra histograms: plain buckets, no exemplars.
        let mut extra = |name: &str,
                         help: &'static str,
                         unit: &'static str,
                         bounds: &crate::histogram::Bounds,
                         part: fn(&ExtrasReading) -> Option<Part>| {
            out.family(&Descriptor::new(name, MetricType::Histogram, help).unit(unit));
            let width = bounds.nanos.len() + 1;
            for row in &scratch.rows {
                let Some(p) = part(&row.extras) else { continue };
                let status = status_text(row.series.status(), limits.status_classes, &mut status);
                let labels = row.histogram_labels(shared, &scratch.routes, status);
                let counts = scratch.buckets.get(p.at..p.at + width).unwrap_or(&[]);
                out.histogram(
                    &labels,
                    bounds.buckets(counts),
                    p.count,
                    Some(p.sum),
                    created(&row.series),
                );
            }
        };
        if limits.extras.first_byte {
            extra(
                &names.first_byte,
                FIRST_BYTE_HELP,
                "seconds",
                &shared.bounds,
                |e| e.first_byte,
            );
        }
        if let Some(bounds) = &shared.size_bounds {
            extra(
                &names.request_size,
                REQUEST_SIZE_HELP,
                "bytes",
                bounds,
                |e| e.request_size,
            );
            extra(
                &names.response_size,
                RESPONSE_SIZE_HELP,
                "bytes",
                bounds,
                |e| e.response_size,
            );
        }

        out.family(&Descriptor::new(
            &names.overflow,
            MetricType::Counter,
            OVERFLOW_HELP,
        ));
        let sizes = shared.size_bounds.is_some();
        for (metric, value, kept) in [
            (names.requests_total.as_str(), folded_requests, !names.otel),
            (names.in_flight.as_str(), folded_in_flight, true),
            (names.duration.as_str(), folded_requests, true),
            (
                names.first_byte.as_str(),
                folded_requests,
                limits.extras.first_byte,
            ),
            (names.request_size.as_str(), folded_requests, sizes),
            (names.response_size.as_str(), folded_requests, sizes),
        ] {
            if !kept {
                continue;
            }
            let metric = [("metric", metric)];
            #[allow(clippy::cast_precision_loss)]
            out.counter(
                &Chain(&metric, consts),
                value as f64,
                created_samples.then_some(limits.built),
                None,
            );
        }
    }
}

/// The wall-clock time of one clock reading, taken once per scrape: an
/// exemplar's time is its raw clock reading placed against it, so the clock's
/// drift from the wall clock since the request does not count.
struct Anchor {
    unix_seconds: f64,
    at: crate::clock::Anchor,
}

impl Anchor {
    fn now() -> Self {
        Self {
            unix_seconds: crate::family::unix_now(),
            at: crate::clock::Anchor::now(),
        }
    }

    /// The exemplar of a stored trace, with `value` and the time it was kept.
    fn exemplar(&self, stored: &Stored, value: f64) -> Exemplar {
        #[allow(clippy::cast_precision_loss)]
        let ago = self.at.since(stored.at) as f64 / 1e9;
        Exemplar {
            labels: vec![
                ("trace_id".to_owned(), stored.trace.trace_id_hex()),
                ("span_id".to_owned(), stored.trace.span_id_hex()),
            ],
            value,
            timestamp: Some(self.unix_seconds - ago),
        }
    }
}

/// The `status` label of a series: its code, or its class (`2xx`) when the set
/// labels classes; `overflow` for the overflow series, `invalid` for codes
/// outside `100..=999`.
fn status_text(status: u16, classes: bool, buffer: &mut itoa::Buffer) -> &str {
    const CLASSES: [&str; 10] = [
        "", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx",
    ];
    match status {
        STATUS_OVERFLOW => OVERFLOW_ROUTE,
        STATUS_INVALID => "invalid",
        STATUS_ERROR => "error",
        _ if classes => CLASSES[usize::from(status / 100) % 10],
        _ => buffer.format(status),
    }
}
