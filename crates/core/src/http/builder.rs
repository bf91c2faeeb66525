//! Configuration of an [`HttpMetrics`] set.

use std::fmt;
use std::sync::Arc;

use super::collector::HttpCollector;
use super::series::{ExtrasConfig, Limits, RouteEntry};
use super::{HttpMetrics, Shared, DEFAULT_BODY_SIZE_BUCKETS, DEFAULT_BUCKETS, DEFAULT_MAX_SERIES};
use crate::family::MetricType;
use crate::global::default_registry;
use crate::histogram::{Bounds, BucketsError};
use crate::names;
use crate::native::NativeHistogram;
use crate::registry::{Registry, RegistryError};

/// The label names the metric set writes itself.
const OWN_LABELS: [&str; 10] = [
    "method",
    "route",
    "status",
    "le",
    // The overflow counter's.
    "metric",
    // A client set's route.
    "server_address",
    // The OpenTelemetry profile's.
    "http_request_method",
    "http_route",
    "http_response_status_code",
    "error_type",
];

/// The full family names of one metric set.
#[derive(Clone)]
pub(crate) struct Names {
    /// Whether the set is named as OpenTelemetry's conventions say
    /// ([`Naming::OpenTelemetry`]): no `requests_total`, the in-flight gauge by
    /// method alone, `error_type` on 5xx series.
    pub(crate) otel: bool,
    /// Whether the set is a client's ([`HttpClientMetrics`](super::HttpClientMetrics)):
    /// `http_client_*` names, `server_address` for the route.
    pub(crate) client: bool,
    pub(crate) requests: String,
    /// The sample name of `requests`, `<requests>_total`.
    pub(crate) requests_total: String,
    pub(crate) in_flight: String,
    pub(crate) duration: String,
    pub(crate) overflow: String,
    /// The time to first byte, when kept.
    pub(crate) first_byte: String,
    /// The request and response body sizes, when kept.
    pub(crate) request_size: String,
    pub(crate) response_size: String,
}

impl Names {
    /// The name of the method label.
    pub(crate) fn method_label(&self) -> &'static str {
        if self.otel {
            "http_request_method"
        } else {
            "method"
        }
    }

    /// The name of the route label.
    pub(crate) fn route_label(&self) -> &'static str {
        if self.client {
            "server_address"
        } else if self.otel {
            "http_route"
        } else {
            "route"
        }
    }

    /// The name of the status label.
    pub(crate) fn status_label(&self) -> &'static str {
        if self.otel {
            "http_response_status_code"
        } else {
            "status"
        }
    }
}

/// Configures an [`HttpMetrics`] set; made by [`HttpMetrics::builder`].
///
/// Every check happens in [`build`](Self::build), which reports the first problem
/// as a [`BuildError`]; nothing is registered unless it succeeds.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::{HttpMetrics, Registry};
///
/// let registry = Registry::new();
/// let metrics = HttpMetrics::builder()
///     .prefix("shop")
///     .buckets([0.01, 0.1, 1.0])
///     .const_label("service", "checkout")
///     .ignore_route("/healthz")
///     .registry(&registry)
///     .build()?;
/// # let _ = metrics;
/// # Ok::<(), promhttp::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpMetricsBuilder {
    prefix: Option<String>,
    buckets: Vec<f64>,
    const_labels: Vec<(String, String)>,
    ignored: Vec<String>,
    registry: Option<Registry>,
    max_series: usize,
    exemplars: bool,
    created_samples: bool,
    status_classes: bool,
    exclude: Option<super::ExcludeFn>,
    groups: Option<(super::GroupFn, Vec<String>)>,
    initial: Vec<(super::HttpMethod, String, u16)>,
    labels: Vec<super::RequestLabel>,
    naming: Naming,
    /// Whether [`buckets`](Self::buckets) was called.
    buckets_given: bool,
    native: Option<NativeHistogram>,
    /// The body size bounds, when body sizes are recorded.
    body_sizes: Option<Vec<u64>>,
    first_byte: bool,
    /// A client's set: the server addresses it declares (empty: any).
    pub(crate) client: Option<Vec<String>>,
}

/// The names and labels a metric set is served under; see
/// [`HttpMetricsBuilder::naming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Naming {
    /// promhttp's: `http_server_requests_total{method,route,status}`,
    /// `http_server_requests_in_flight`, `http_server_request_duration_seconds`.
    #[default]
    Promhttp,
    /// OpenTelemetry's HTTP semantic conventions, as their Prometheus names:
    /// `http_server_request_duration_seconds{http_request_method,http_route,
    /// http_response_status_code,url_scheme}` with `error_type` on 5xx series,
    /// `http_server_active_requests{http_request_method}`, no
    /// `requests_total`.
    OpenTelemetry,
}

impl Default for HttpMetricsBuilder {
    fn default() -> Self {
        Self {
            prefix: None,
            buckets: DEFAULT_BUCKETS.to_vec(),
            const_labels: Vec::new(),
            ignored: Vec::new(),
            registry: None,
            max_series: DEFAULT_MAX_SERIES,
            exemplars: false,
            created_samples: false,
            status_classes: false,
            exclude: None,
            groups: None,
            initial: Vec::new(),
            labels: Vec::new(),
            naming: Naming::Promhttp,
            buckets_given: false,
            native: None,
            body_sizes: None,
            first_byte: false,
            client: None,
        }
    }
}

impl HttpMetricsBuilder {
    /// A client's builder ([`HttpClientMetrics`](super::HttpClientMetrics)),
    /// with no server declared yet.
    pub(crate) fn for_client() -> Self {
        Self {
            client: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// Prefixes every metric name with `prefix_`: `shop` and `shop_` both give
    /// `shop_http_server_requests_total`. An empty prefix means none.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The upper bounds of the latency histogram, in seconds, strictly increasing.
    /// `+Inf` is always added. Defaults to [`DEFAULT_BUCKETS`].
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.buckets_given = true;
        self.buckets = bounds.into_iter().collect();
        self
    }

    /// Adds a label with the same value on every series (a service name, a region).
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Leaves requests whose route template is `route` unrecorded (a health check,
    /// the metrics route itself). Matched against the template, not the raw path.
    pub fn ignore_route(mut self, route: impl Into<String>) -> Self {
        self.ignored.push(route.into());
        self
    }

    /// The most series each metric family may have (default
    /// [`DEFAULT_MAX_SERIES`]). A request that would make a new series past it is
    /// recorded in the family's one overflow series instead (`route="overflow"`,
    /// `method="_OTHER"`, `status="overflow"`), counted in
    /// `promhttp_series_overflow_total{metric}`, and the first time a warning is
    /// logged through `tracing`. Totals lose nothing.
    pub fn max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }

    /// Keeps exemplars (default off): each latency bucket keeps the trace of the
    /// latest request that ended in it, and `requests_total` the latest of its
    /// series, served as OpenMetrics and protobuf exemplars
    /// `{trace_id="…",span_id="…"}` with the observed value and its time (text
    /// 0.0.4 has no exemplars). A request gets a trace from the current
    /// `tracing` span's OpenTelemetry context (feature `opentelemetry`,
    /// [`TraceContext::current`](crate::TraceContext::current)) or a sampled W3C
    /// `traceparent` header (the adapters read both, in this order), or from
    /// [`RequestGuard::set_trace`](crate::RequestGuard::set_trace); a request
    /// without one, or with a malformed or unsampled one, is counted the same
    /// and leaves the exemplars as they were.
    ///
    /// The cost: 48 bytes per bucket of each series, and one compare-and-swap
    /// and five stores per request that carries a trace. Off, nothing is kept
    /// and nothing is read.
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Leaves out of the counts and the latency histogram every request for
    /// which `exclude` is true when it ends, judged by its method, route label
    /// and status ([`EndedRequest`](super::EndedRequest)): for example `|r| r.status == 404 &&
    /// r.route == UNMATCHED_ROUTE` leaves out scanners' misses, `|r| r.method ==
    /// HttpMethod::Options` preflight requests. Beyond
    /// [`ignore_route`](Self::ignore_route), which leaves routes out entirely:
    /// an excluded request was in flight while it ran (its gauge went up and
    /// down) and creates no series. It runs on every request as it ends, on the
    /// thread that ends it, so keep it cheap; a second call replaces the first.
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
    ///
    /// let registry = Registry::new();
    /// let metrics = HttpMetrics::builder()
    ///     .registry(&registry)
    ///     .exclude(|r| r.method == HttpMethod::Options)
    ///     .build()?;
    /// for (method, status) in [(HttpMethod::Options, 204), (HttpMethod::Get, 200)] {
    ///     let mut request = metrics.route(Some("/a")).start(method).unwrap();
    ///     request.set_status(status);
    /// }
    /// let text = registry.encode(Format::Text)?;
    /// assert!(text.contains("http_server_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 1\n"));
    /// assert!(!text.contains("requests_total{method=\"OPTIONS\""));
    /// // It was in flight while it ran.
    /// assert!(text.contains("in_flight{method=\"OPTIONS\",route=\"/a\"} 0\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exclude(
        mut self,
        exclude: impl Fn(&super::EndedRequest<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.exclude = Some(super::ExcludeFn(Arc::new(exclude)));
        self
    }

    /// Labels requests that matched no route by group instead of all as
    /// [`UNMATCHED_ROUTE`](super::UNMATCHED_ROUTE): `by` gets each such request's method and path and
    /// names its group, which must be one of `groups`; `None`, or a name not
    /// declared, leaves it `unmatched`. So the label stays bounded whatever the
    /// function returns: at most the declared groups, plus `unmatched`. For
    /// example `static` for an asset prefix served by a fallback service.
    ///
    /// A group's name is its `route` label: not empty, not starting with `/`
    /// (route templates do), neither `unmatched` nor `overflow`, each once.
    /// Each counts as one route against [`max_series`](Self::max_series). A
    /// second call replaces the first.
    pub fn group_unmatched<G: Into<String>>(
        mut self,
        groups: impl IntoIterator<Item = G>,
        by: impl Fn(super::HttpMethod, &str) -> Option<&str> + Send + Sync + 'static,
    ) -> Self {
        self.groups = Some((
            super::GroupFn(Arc::new(by)),
            groups.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Creates, when the set is built, a series with nothing counted for every
    /// `status` of every `(method, route)` given, in `requests_total` and the
    /// latency histogram: so `rate()` reads 0 and absence alerts see the
    /// route before its first request, as client_golang's gRPC metrics do for
    /// each method and code. With [`status_classes`](Self::status_classes) a
    /// status stands for its class. The in-flight gauges are not created:
    /// their labels depend on the adapter (`{method,route}` in axum,
    /// `{method}` in actix-web), and they appear with the first request.
    ///
    /// Neither axum nor actix-web lists an app's routes, so the routes come
    /// from you: the templates as the framework spells them (`/users/{id}`).
    /// Each series counts against [`max_series`](Self::max_series), and more
    /// than it allows is an error when the set is built; ignored routes are
    /// skipped. Calls add up.
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
    ///
    /// let registry = Registry::new();
    /// let _metrics = HttpMetrics::builder()
    ///     .registry(&registry)
    ///     .initial_series([(HttpMethod::Get, "/users/{id}")], [200, 404, 500])
    ///     .build()?;
    /// let text = registry.encode(Format::Text)?;
    /// assert!(text.contains("http_server_requests_total{method=\"GET\",route=\"/users/{id}\",status=\"404\"} 0\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn initial_series<R: AsRef<str>>(
        mut self,
        routes: impl IntoIterator<Item = (super::HttpMethod, R)>,
        statuses: impl IntoIterator<Item = u16>,
    ) -> Self {
        let statuses: Vec<u16> = statuses.into_iter().collect();
        for (method, route) in routes {
            for &status in &statuses {
                self.initial
                    .push((method, route.as_ref().to_owned(), status));
            }
        }
        self
    }

    /// Declares a label whose value the adapters read from each request, and
    /// the values it may take: a request whose value is none of them (or that
    /// has none) gets [`OTHER_LABEL_VALUE`](super::OTHER_LABEL_VALUE), so the
    /// label has at most `values` and `other`, whatever clients send. The
    /// function that reads a request's value is given to the adapter
    /// (`MetricsLayer::label_with` in axum, `Metrics::label_with` in
    /// actix-web); without one, every request is `other`.
    ///
    /// The label goes on `requests_total` and the latency histogram, after
    /// `status`; not on the in-flight gauge. All request labels of a set
    /// together may have at most 64 combinations of values (`other`
    /// included): `(values + 1)` multiplied over the labels. Every combination
    /// counts against [`max_series`](Self::max_series) like a route.
    pub fn label<V: Into<String>>(
        mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.labels.push(super::RequestLabel {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
            builtin: None,
        });
        self
    }

    /// Serves the set under OpenTelemetry's HTTP semantic conventions instead of
    /// promhttp's names ([`Naming::OpenTelemetry`]), as the OpenTelemetry
    /// Prometheus exporter would name them, for dashboards and alerts written
    /// against the conventions:
    ///
    /// | promhttp | OpenTelemetry profile |
    /// |---|---|
    /// | `http_server_requests_total{method,route,status}` | none: the histogram's `_count` |
    /// | `http_server_requests_in_flight` (`{method,route}` in axum) | `http_server_active_requests{http_request_method}` |
    /// | `http_server_request_duration_seconds{method,route,status}` | `http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code,url_scheme}`, and `error_type` (the status) on 5xx series |
    ///
    /// `url_scheme` is declared as by [`url_scheme_label(false)`](Self::url_scheme_label)
    /// unless it is declared already. Without [`buckets`](Self::buckets), the
    /// buckets are the conventions' advisory ones: [`DEFAULT_BUCKETS`](super::DEFAULT_BUCKETS)
    /// with a `0` bound first. Unknown methods are `_OTHER`, as in the
    /// conventions; routes nothing matched stay `unmatched`, so every series
    /// has an `http_route`. The prefix, request labels, constant labels, limits
    /// and the overflow counter work as with promhttp's names.
    ///
    /// Where it differs from the conventions: `http_server_active_requests`
    /// has no `url_scheme` (the in-flight gauges carry no request labels), and
    /// a request cancelled before it was answered keeps status `499` rather
    /// than having no status code. `network_protocol_version` is not written;
    /// [`protocol_version_label`](Self::protocol_version_label) adds it as
    /// `protocol_version`.
    pub fn naming(mut self, naming: Naming) -> Self {
        self.naming = naming;
        self
    }

    /// Declares the built-in request label `url_scheme` (`http`, `https`),
    /// read by the adapters: from the request's URI where it has a scheme
    /// (HTTP/2), from actix-web's knowledge of TLS, and from the
    /// `X-Forwarded-Proto` header only when `trust_forwarded_proto` is true,
    /// for a service behind a proxy that sets it (clients can send it too).
    /// A request none of these tell is `http`.
    pub fn url_scheme_label(mut self, trust_forwarded_proto: bool) -> Self {
        self.labels.push(
            super::BuiltinLabel::UrlScheme {
                trust_forwarded_proto,
            }
            .declare(),
        );
        self
    }

    /// Declares the built-in request label `protocol_version`: `1.0`, `1.1`,
    /// `2` or `3`, read by the adapters from the request.
    pub fn protocol_version_label(mut self) -> Self {
        self.labels
            .push(super::BuiltinLabel::ProtocolVersion.declare());
        self
    }

    /// Labels `status` with the class of the code, `1xx` to `5xx`, instead of
    /// the code itself (default off): at most five values, so at most five
    /// series per method and route, for dashboards that only ever sum by class.
    /// A status outside `100..=999` (possible only through the core API; no
    /// HTTP response carries one) is `status="invalid"` either way.
    pub fn status_classes(mut self, on: bool) -> Self {
        self.status_classes = on;
        self
    }

    /// Whether OpenMetrics scrapes get the `_created` sample of each counter and
    /// histogram series (default off): when the series started (its first
    /// request ended), to the millisecond. Protobuf scrapes always carry it
    /// (`created_timestamp`, which Prometheus 2.50 and later read with
    /// `--enable-feature=created-timestamp-zero-ingestion`) and text 0.0.4 never
    /// does. Off by default, as in client_golang: Prometheus 2 stores OpenMetrics
    /// `_created` samples as series of their own (two more per method, route
    /// and status), and they add 11% to a scrape's bytes, 30% gzipped.
    pub fn created_samples(mut self, on: bool) -> Self {
        self.created_samples = on;
        self
    }

    /// Keeps native (sparse, exponential) buckets beside the classic ones in
    /// the latency histogram: served to scrapers that ask for protobuf
    /// (Prometheus with `--enable-feature=native-histograms`), while
    /// OpenMetrics and text scrapes get the classic buckets as before. Counted
    /// lock-free, at the resolution `native` asks for; a scrape merges
    /// neighbouring buckets while more than its maximum are in use. The cost:
    /// about 4 KiB per series at the default factor (a counter for every bucket
    /// from 1 ns to 2^64 ns) and an atomic add per request.
    pub fn native_histograms(mut self, native: NativeHistogram) -> Self {
        self.native = Some(native);
        self
    }

    /// Records the size of every request body and response body, in bytes
    /// (default off): `http_server_request_body_size_bytes` and
    /// `http_server_response_body_size_bytes`, histograms with the labels of
    /// the latency histogram, on [`DEFAULT_BODY_SIZE_BUCKETS`] unless
    /// [`body_size_buckets`](Self::body_size_buckets) says otherwise.
    ///
    /// The sizes are the bytes actually transferred, not `Content-Length`: the
    /// request body's bytes as the service read them (a body the service never
    /// read is what it read of it, often 0), the response body's bytes as the
    /// server took them. Both are recorded when the request is counted, so a
    /// client gone mid-body is recorded with what was transferred until then.
    /// The in-flight gauge and the counter are unchanged.
    ///
    /// The cost: one allocation per request that has a body (the shared
    /// counter of its bytes; none for a request with no body) and two
    /// histograms per series. See `BENCHMARKS.md`.
    pub fn body_sizes(mut self, on: bool) -> Self {
        self.body_sizes = match (on, self.body_sizes.take()) {
            (false, _) => None,
            (true, Some(bounds)) => Some(bounds),
            (true, None) => Some(DEFAULT_BODY_SIZE_BUCKETS.to_vec()),
        };
        self
    }

    /// Records body sizes ([`body_sizes`](Self::body_sizes)) on these bucket
    /// bounds, in bytes, strictly increasing (`+Inf` is always added).
    pub fn body_size_buckets(mut self, bounds: impl IntoIterator<Item = u64>) -> Self {
        self.body_sizes = Some(bounds.into_iter().collect());
        self
    }

    /// Records each request's time to first byte (default off):
    /// `http_server_time_to_first_byte_seconds`, a histogram with the labels
    /// and buckets of the latency histogram, from the request entering the
    /// service until its response's head was ready to be sent (the handler
    /// returned). Beside the full duration, which ends with the response
    /// body, it tells a slow handler from a slow download. A request that got
    /// no response (cancelled, or its handler panicked) has no time to first
    /// byte: the histogram's count is the requests that were answered.
    pub fn time_to_first_byte(mut self, on: bool) -> Self {
        self.first_byte = on;
        self
    }

    /// Registers into `registry` instead of the process registry.
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Checks the configuration and registers the metric set.
    ///
    /// It never waits for the clock: the first set built in a process starts
    /// calibrating the CPU's time-stamp counter (a few milliseconds, at most
    /// 200) on a thread of its own, and requests are timed on the OS clock
    /// until that is done. So a set may be built anywhere, inside an async
    /// handler on a runtime's worker too.
    ///
    /// # Errors
    /// A [`BuildError`] naming the bad input and the rule it breaks, or the metric
    /// name already taken in the registry.
    pub fn build(mut self) -> Result<HttpMetrics, BuildError> {
        if self.naming == Naming::OpenTelemetry {
            if !self.buckets_given {
                // The conventions' advisory bounds: ours, with 0 first.
                self.buckets.insert(0, 0.0);
            }
            if !self.labels.iter().any(|l| l.name == "url_scheme") {
                self.labels.push(
                    super::BuiltinLabel::UrlScheme {
                        trust_forwarded_proto: false,
                    }
                    .declare(),
                );
            }
        }
        let prefix = match self.prefix.as_deref() {
            None | Some("") => String::new(),
            Some(given) => {
                // `shop` and `shop_` both give `shop_http_...`: never a doubled
                // separator.
                let p = given.trim_end_matches('_');
                let invalid = |reason| BuildError::InvalidPrefix {
                    prefix: given.to_owned(),
                    reason,
                };
                if p.is_empty() {
                    return Err(invalid("a prefix needs more than underscores"));
                }
                names::check_metric_name(p).map_err(invalid)?;
                format!("{p}_")
            }
        };
        for (i, (name, _)) in self.const_labels.iter().enumerate() {
            names::check_label_name(name).map_err(|reason| BuildError::InvalidLabelName {
                name: name.clone(),
                reason,
            })?;
            if OWN_LABELS.contains(&name.as_str()) {
                return Err(BuildError::InvalidLabelName {
                    name: name.clone(),
                    reason: "`method`, `route`, `status`, `le`, `metric` and `server_address` are written by promhttp itself",
                });
            }
            if self.const_labels[..i].iter().any(|(n, _)| n == name) {
                return Err(BuildError::InvalidLabelName {
                    name: name.clone(),
                    reason: "a constant label may be given only once",
                });
            }
        }
        let bounds = Bounds::new(self.buckets)?;
        let size_bounds = self.body_sizes.map(Bounds::units).transpose()?;
        if self.max_series == 0 {
            return Err(BuildError::InvalidMaxSeries);
        }
        if let Some(native) = &self.native {
            native
                .check()
                .map_err(|err| BuildError::InvalidNative { reason: err.reason })?;
        }
        if let Some((_, groups)) = &self.groups {
            for (i, group) in groups.iter().enumerate() {
                let invalid = |reason| BuildError::InvalidGroup {
                    group: group.clone(),
                    reason,
                };
                if group.is_empty() {
                    return Err(invalid("a group needs a name"));
                }
                if group.starts_with('/') {
                    return Err(invalid(
                        "a group may not start with `/`, as route templates do",
                    ));
                }
                if group == super::UNMATCHED_ROUTE || group == super::OVERFLOW_ROUTE {
                    return Err(invalid("`unmatched` and `overflow` are promhttp's own"));
                }
                if groups[..i].contains(group) {
                    return Err(invalid("a group may be declared only once"));
                }
            }
            if groups.len() > self.max_series {
                return Err(BuildError::InvalidGroup {
                    group: groups[self.max_series].clone(),
                    reason: "more groups than the series limit allows routes",
                });
            }
        }
        for (i, label) in self.labels.iter().enumerate() {
            let invalid = |reason| BuildError::InvalidRequestLabel {
                name: label.name.clone(),
                reason,
            };
            names::check_label_name(&label.name).map_err(invalid)?;
            if OWN_LABELS.contains(&label.name.as_str())
                || self.const_labels.iter().any(|(n, _)| *n == label.name)
                || self.labels[..i].iter().any(|l| l.name == label.name)
            {
                return Err(invalid(
                    "taken by promhttp, a constant label or another request label",
                ));
            }
            if label.values.is_empty() {
                return Err(invalid("a request label needs at least one value"));
            }
            for (j, value) in label.values.iter().enumerate() {
                if value.is_empty() || value == super::OTHER_LABEL_VALUE {
                    return Err(invalid(
                        "values may be neither empty nor `other`, which promhttp adds",
                    ));
                }
                if label.values[..j].contains(value) {
                    return Err(invalid("a value may be declared only once"));
                }
            }
        }
        if super::labels::combinations(&self.labels) > super::labels::MAX_COMBINATIONS {
            return Err(BuildError::InvalidRequestLabel {
                name: self
                    .labels
                    .last()
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
                reason: "the request labels have more than 64 combinations of values",
            });
        }
        if let Some(addresses) = &mut self.client {
            for i in 0..addresses.len() {
                let address =
                    super::client::normalize_address(&addresses[i]).map_err(|reason| {
                        BuildError::InvalidServerAddress {
                            address: addresses[i].clone(),
                            reason,
                        }
                    })?;
                if addresses[..i].contains(&address) {
                    return Err(BuildError::InvalidServerAddress {
                        address: addresses[i].clone(),
                        reason: "an address may be declared only once",
                    });
                }
                addresses[i] = address;
            }
        }
        // Never waits: the calibration runs on a thread of its own, and
        // requests are timed on the OS clock until it is done.
        crate::clock::calibrate_in_background();
        let registry = self.registry.unwrap_or_else(|| default_registry().clone());
        let otel = self.naming == Naming::OpenTelemetry;
        let client = self.client.is_some();
        let side = if client { "client" } else { "server" };
        let names = Names {
            otel,
            client,
            requests: format!("{prefix}http_{side}_requests"),
            requests_total: format!("{prefix}http_{side}_requests_total"),
            in_flight: if otel {
                format!("{prefix}http_{side}_active_requests")
            } else {
                format!("{prefix}http_{side}_requests_in_flight")
            },
            duration: format!("{prefix}http_{side}_request_duration_seconds"),
            overflow: if client {
                format!("{prefix}promhttp_client_series_overflow")
            } else {
                format!("{prefix}promhttp_series_overflow")
            },
            first_byte: format!("{prefix}http_{side}_time_to_first_byte_seconds"),
            request_size: format!("{prefix}http_{side}_request_body_size_bytes"),
            response_size: format!("{prefix}http_{side}_response_body_size_bytes"),
        };
        let extras = ExtrasConfig {
            first_byte: self.first_byte,
            size_bounds: size_bounds.as_ref().map(|b| Arc::clone(&b.nanos)),
        };
        let limits = Arc::new(
            Limits::new(
                self.max_series,
                Arc::clone(&bounds.nanos),
                format!("{}_total", names.requests),
                self.exemplars,
                self.native,
            )
            .with_status_classes(self.status_classes)
            .with_other_labels(super::labels::combination(&self.labels, |_, _| None).0)
            .with_exclude(self.exclude)
            .with_extras(extras),
        );
        // Each unmatched group is a route of the table, under its name: found
        // by `route(Some(name))` too, and scraped with the others.
        let routes = super::routes::RouteTable::default();
        let groups = self.groups.map(|(by, groups)| {
            let entries = groups
                .iter()
                .filter_map(|group| {
                    routes.get_or_insert(group, &limits, || {
                        RouteEntry::new(group.as_str().into(), false, Arc::clone(&limits))
                    })
                })
                .collect();
            (by, entries)
        });
        // A client's declared servers are routes of the table too.
        let servers: Vec<_> = self
            .client
            .iter()
            .flatten()
            .filter_map(|address| {
                routes.get_or_insert(address, &limits, || {
                    RouteEntry::new(address.as_str().into(), false, Arc::clone(&limits))
                })
            })
            .collect();
        if servers.len() < self.client.as_ref().map_or(0, Vec::len) {
            return Err(BuildError::InvalidServerAddress {
                address: self
                    .client
                    .as_ref()
                    .and_then(|a| a.get(servers.len()))
                    .cloned()
                    .unwrap_or_default(),
                reason: "more server addresses than the series limit allows",
            });
        }
        let unmatched = if client {
            super::OTHER_SERVER
        } else {
            super::UNMATCHED_ROUTE
        };
        let shared = Arc::new(Shared {
            unmatched: Arc::new(RouteEntry::unmatched(unmatched, Arc::clone(&limits))),
            servers,
            overflow: Arc::new(RouteEntry::overflow(Arc::clone(&limits))),
            limits,
            created_samples: self.created_samples,
            names: names.clone(),
            const_labels: self.const_labels,
            bounds,
            size_bounds,
            ignored_paths: self
                .ignored
                .iter()
                .filter(|route| !route.contains('{'))
                .cloned()
                .collect(),
            ignored: self.ignored,
            routes,
            groups,
            labels: self.labels,
        });
        let metrics = HttpMetrics { shared, registry };
        // Each initial series in every combination of the request labels.
        let combinations = super::labels::combinations(&metrics.shared.labels);
        for (method, route, status) in &self.initial {
            let handle = metrics.route(Some(route));
            if handle.entry.ignored {
                continue;
            }
            let created = handle.entry.method(*method).is_some_and(|series| {
                (0..combinations)
                    .all(|labels| series.initialize(*status, u16::try_from(labels).unwrap_or(0)))
            });
            if !created || handle.entry.overflow {
                return Err(BuildError::InitialSeriesOverLimit {
                    series: self.initial.len() * combinations,
                    max_series: self.max_series,
                });
            }
        }
        // The OpenTelemetry profile has no `requests_total`.
        let requests = if otel {
            Vec::new()
        } else {
            MetricType::Counter.sample_names(&names.requests)
        };
        let mut taken = [
            requests,
            MetricType::Gauge.sample_names(&names.in_flight),
            MetricType::Histogram.sample_names(&names.duration),
            MetricType::Counter.sample_names(&names.overflow),
        ]
        .concat();
        if self.first_byte {
            taken.extend(MetricType::Histogram.sample_names(&names.first_byte));
        }
        if metrics.shared.size_bounds.is_some() {
            taken.extend(MetricType::Histogram.sample_names(&names.request_size));
            taken.extend(MetricType::Histogram.sample_names(&names.response_size));
        }
        // The registry owns the collector, which owns the series: the metrics stay
        // exposed for as long as the registry lives, whoever else holds a handle.
        let collector = HttpCollector::new(Arc::clone(&metrics.shared));
        metrics.registry.add_source(taken, Arc::new(collector))?;
        if !client {
            crate::global::note_http_set(&metrics.registry);
        }
        Ok(metrics)
    }
}

/// Why an [`HttpMetrics`] set could not be built.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// The name prefix is not a valid start of a metric name.
    InvalidPrefix {
        /// The prefix as given.
        prefix: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A constant label name is invalid, reserved or repeated.
    InvalidLabelName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The histogram bounds are unusable.
    InvalidBuckets {
        /// The bounds as given.
        bounds: Vec<f64>,
        /// The rule they break.
        reason: &'static str,
    },
    /// The series limit is zero.
    InvalidMaxSeries,
    /// An unmatched group's name is empty, reserved, repeated or looks like a
    /// route template, or there are more groups than routes allowed.
    InvalidGroup {
        /// The group as given.
        group: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A request label's name is invalid or taken, its values are empty,
    /// repeated or `other`, or the labels have too many combinations.
    InvalidRequestLabel {
        /// The label's name.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// [`HttpMetricsBuilder::initial_series`] asks for more series than the
    /// series limit allows.
    InitialSeriesOverLimit {
        /// The series asked for.
        series: usize,
        /// The limit, per family.
        max_series: usize,
    },
    /// A gRPC method's service or method name is empty, has a `/`, or is
    /// declared twice.
    InvalidGrpcMethod {
        /// The method's path, `/service/method`.
        method: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A client's server address is not `host:port`, is repeated, or there
    /// are more than the series limit allows.
    InvalidServerAddress {
        /// The address as given.
        address: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The native histogram settings are unusable.
    InvalidNative {
        /// The rule they break.
        reason: &'static str,
    },
    /// Registration failed: a metric name is taken in the registry.
    Registry(RegistryError),
}

impl From<BucketsError> for BuildError {
    fn from(err: BucketsError) -> Self {
        Self::InvalidBuckets {
            bounds: err.bounds,
            reason: err.reason,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPrefix { prefix, reason } => {
                write!(f, "invalid metric name prefix {prefix:?}: {reason}")
            }
            Self::InvalidLabelName { name, reason } => {
                write!(f, "invalid constant label name {name:?}: {reason}")
            }
            Self::InvalidBuckets { bounds, reason } => {
                write!(f, "invalid histogram buckets {bounds:?}: {reason}")
            }
            Self::InvalidMaxSeries => f.write_str(
                "invalid series limit 0: every family needs room for at least one series",
            ),
            Self::InvalidNative { reason } => {
                write!(f, "invalid native histogram settings: {reason}")
            }
            Self::InitialSeriesOverLimit { series, max_series } => write!(
                f,
                "{series} initial series asked for, more than the series limit of {max_series} \
                 allows (raise max_series or initialise fewer)"
            ),
            Self::InvalidRequestLabel { name, reason } => {
                write!(f, "invalid request label {name:?}: {reason}")
            }
            Self::InvalidGrpcMethod { method, reason } => {
                write!(f, "invalid gRPC method {method:?}: {reason}")
            }
            Self::InvalidServerAddress { address, reason } => {
                write!(f, "invalid server address {address:?}: {reason}")
            }
            Self::InvalidGroup { group, reason } => {
                write!(f, "invalid unmatched group {group:?}: {reason}")
            }
            Self::Registry(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Registry(err) => Some(err),
            _ => None,
        }
    }
}

impl From<RegistryError> for BuildError {
    fn from(err: RegistryError) -> Self {
        Self::Registry(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> HttpMetricsBuilder {
        HttpMetrics::builder().registry(&Registry::new())
    }

    #[test]
    fn rejects_bad_configuration_with_the_rule() {
        let cases = [
            (
                builder().prefix("my-app"),
                "invalid metric name prefix \"my-app\"",
            ),
            (builder().prefix("1x"), "invalid metric name prefix \"1x\""),
            (
                builder().const_label("a b", "x"),
                "invalid constant label name \"a b\"",
            ),
            (builder().const_label("__x", "x"), "reserved for Prometheus"),
            (
                builder().const_label("route", "x"),
                "written by promhttp itself",
            ),
            // The overflow counter's label, and a client set's route.
            (
                builder().const_label("metric", "x"),
                "written by promhttp itself",
            ),
            (
                builder().const_label("server_address", "x"),
                "written by promhttp itself",
            ),
            (
                builder().const_label("svc", "a").const_label("svc", "b"),
                "only once",
            ),
            (builder().buckets([1.0, 0.5]), "strictly increasing"),
            (builder().buckets([0.1, 0.1]), "strictly increasing"),
            (builder().buckets([f64::NAN]), "finite"),
            (builder().buckets([f64::INFINITY]), "finite"),
            (builder().buckets([-1.0]), "not negative"),
            (builder().buckets([1e30]), "584 years"),
        ];
        for (builder, expected) in cases {
            let err = builder.build().unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }

    #[test]
    fn second_set_with_clashing_names_names_the_clash() {
        let registry = Registry::new();
        let _first = HttpMetrics::builder().registry(&registry).build().unwrap();
        let err = HttpMetrics::builder()
            .registry(&registry)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("`http_server_requests`"), "{err}");
        // Another prefix does not clash.
        HttpMetrics::builder()
            .registry(&registry)
            .prefix("admin")
            .build()
            .unwrap();
    }

    #[test]
    fn errors_say_what_is_wrong_and_keep_their_cause() {
        use std::error::Error as _;
        let registry = Registry::new();
        let _first = HttpMetrics::builder().registry(&registry).build().unwrap();
        let clash = HttpMetrics::builder()
            .registry(&registry)
            .build()
            .unwrap_err();
        let BuildError::Registry(cause) = &clash else {
            panic!("{clash:?}");
        };
        assert_eq!(clash.to_string(), cause.to_string());
        assert_eq!(
            clash.source().map(ToString::to_string),
            Some(cause.to_string())
        );
        let buckets = builder().buckets([2.0, 1.0]).build().unwrap_err();
        assert_eq!(
            buckets.to_string(),
            "invalid histogram buckets [2.0, 1.0]: bounds must be strictly increasing and at least a nanosecond apart"
        );
        assert!(buckets.source().is_none());
        assert_eq!(
            builder().max_series(0).build().unwrap_err().to_string(),
            "invalid series limit 0: every family needs room for at least one series"
        );
        assert_eq!(
            BuildError::from(cause.clone()),
            BuildError::Registry(cause.clone())
        );
    }

    #[test]
    fn an_empty_prefix_is_none_and_a_prefix_names_every_family() {
        let registry = Registry::new();
        let plain = HttpMetrics::builder()
            .registry(&registry)
            .prefix("")
            .build()
            .unwrap();
        drop(plain.route(Some("/")).start(crate::HttpMethod::Get));
        let shop = HttpMetrics::builder()
            .registry(&registry)
            .prefix("shop")
            .build()
            .unwrap();
        drop(shop.route(Some("/")).start(crate::HttpMethod::Get));
        let text = registry.encode(crate::Format::Text).unwrap();
        for name in [
            "http_server_requests_total",
            "http_server_requests_in_flight",
            "http_server_request_duration_seconds",
            "promhttp_series_overflow_total",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE shop_{name} ")), "{name}");
        }
        // A set's default buckets are the OpenTelemetry ones.
        let bounds: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("shop_http_server_request_duration_seconds_bucket"))
            .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(
            bounds,
            [
                "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0",
                "2.5", "5.0", "7.5", "10.0", "+Inf"
            ]
        );
    }

    #[test]
    fn default_set_is_shared_and_building_it_twice_does_not_panic() {
        let a = HttpMetrics::default();
        let b = HttpMetrics::default();
        assert!(Arc::ptr_eq(&a.shared, &b.shared));
        assert!(a.registry().same_as(default_registry()));
    }
}

#[cfg(test)]
mod limit_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::{Format, HttpMethod};

    /// Counts the warnings logged while it is the default subscriber.
    #[derive(Default)]
    struct CountWarnings(AtomicUsize);

    impl tracing::Subscriber for CountWarnings {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn past_the_limit_requests_fold_into_one_series_with_one_warning() {
        let warnings = Arc::new(CountWarnings::default());
        let registry = Registry::new();
        tracing::subscriber::with_default(Arc::clone(&warnings), || {
            let metrics = HttpMetrics::builder()
                .registry(&registry)
                .max_series(3)
                .build()
                .unwrap();
            for i in 0..50u16 {
                let route = format!("/r{}", i % 10);
                let mut guard = metrics.route(Some(&route)).start(HttpMethod::Get).unwrap();
                guard.set_status(200 + i % 4);
            }
        });
        assert_eq!(warnings.0.load(Ordering::Relaxed), 1);
        let text = registry.encode(Format::Text).unwrap();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("http_server_requests_total{"))
            .collect();
        assert!(series.len() <= 4, "{series:#?}");
        let total: u64 = series
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 50);
        let overflow =
            "http_server_requests_total{method=\"_OTHER\",route=\"overflow\",status=\"overflow\"} ";
        let folded: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(overflow))
            .unwrap()
            .parse()
            .unwrap();
        assert!(text.contains(&format!(
            "promhttp_series_overflow_total{{metric=\"http_server_requests_total\"}} {folded}\n"
        )));
        // The three series made are (r0, 200), (r1, 201), (r2, 202); of the 50
        // requests, i = 0, 20, 40 / 1, 21, 41 / 2, 22, 42 fall in them, the other
        // 41 are folded.
        assert_eq!(folded, 41);
    }

    #[test]
    fn routes_named_like_the_special_series_join_them() {
        let registry = Registry::new();
        let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
        for route in [None, Some("unmatched"), Some("overflow"), Some("overflow")] {
            let mut guard = metrics.route(route).start(HttpMethod::Other).unwrap();
            guard.set_status(200);
        }
        let text = registry.encode(Format::OpenMetrics).unwrap();
        let mut series: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(k, _)| k))
            .collect();
        let all = series.len();
        series.sort_unstable();
        series.dedup();
        assert_eq!(series.len(), all, "duplicate series in\n{text}");
        assert!(text.contains(
            "http_server_requests_total{method=\"_OTHER\",route=\"overflow\",status=\"overflow\"} 2\n"
        ));
    }

    #[test]
    fn a_zero_series_limit_is_an_error() {
        let err = HttpMetrics::builder()
            .registry(&Registry::new())
            .max_series(0)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("series limit"));
    }
}
