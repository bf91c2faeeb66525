//! The HTTP server metric set that the framework adapters record into.

mod builder;
mod client;
mod collector;
mod labels;
mod routes;
mod series;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

pub use builder::{BuildError, HttpMetricsBuilder, Naming};
pub use client::{HttpClientMetrics, HttpClientMetricsBuilder, OTHER_SERVER};
pub use labels::{BuiltinLabel, LabelReader, LabelValues, RequestLabel, OTHER_LABEL_VALUE};

/// The predicate of [`HttpMetricsBuilder::exclude`].
#[derive(Clone)]
pub(crate) struct ExcludeFn(pub(crate) Arc<dyn Fn(&EndedRequest<'_>) -> bool + Send + Sync>);

/// The function of [`HttpMetricsBuilder::group_unmatched`].
#[derive(Clone)]
pub(crate) struct GroupFn(pub(crate) Arc<GroupBy>);

/// What [`HttpMetricsBuilder::group_unmatched`] calls: method and path to a
/// group's name.
type GroupBy = dyn Fn(HttpMethod, &str) -> Option<&str> + Send + Sync;

impl fmt::Debug for GroupFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupFn")
    }
}

impl fmt::Debug for ExcludeFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExcludeFn")
    }
}

/// A request as it ends, for [`HttpMetricsBuilder::exclude`] to decide whether
/// it is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndedRequest<'a> {
    /// The request's method.
    pub method: HttpMethod,
    /// The `route` label it would be counted under: the route template,
    /// [`UNMATCHED_ROUTE`] or an unmatched group.
    pub route: &'a str,
    /// The status it ended with: the response's code (not its class, even with
    /// [`HttpMetricsBuilder::status_classes`]), [`STATUS_CLIENT_CLOSED`] for a
    /// request cancelled before it was answered, [`STATUS_PANICKED`] for a
    /// handler that panicked, [`STATUS_FAILED`] for an outgoing request that
    /// failed without a response.
    pub status: u16,
}

use crate::global::default_registry;
use crate::registry::Registry;
use crate::trace::TraceContext;
use series::{Ended, RouteEntry};

/// The `route` label value of a request that matched no route (a 404 fallback, a
/// nested service, actix-web's default service).
///
/// Route templates always start with `/`, so this value cannot be mistaken for one.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `route` label value of the overflow series: requests whose label
/// combination would have made a series past the limit
/// ([`HttpMetricsBuilder::max_series`]). Their `method` is `_OTHER` and their
/// `status` is `overflow`.
pub const OVERFLOW_ROUTE: &str = "overflow";

/// The default series limit per metric family.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// The default histogram buckets, in seconds: the OpenTelemetry advisory bounds for
/// `http.server.request.duration`.
pub const DEFAULT_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The default body size buckets ([`HttpMetricsBuilder::body_sizes`]), in
/// bytes: `0` (no body) and every power of ten up to a gigabyte.
pub const DEFAULT_BODY_SIZE_BUCKETS: [u64; 10] = [
    0,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// A request method as it is recorded: the nine standard methods as they are,
/// anything else as `_OTHER`, so that the label can never take more than ten values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    /// Any method that is not one of the nine standard ones.
    Other,
}

impl HttpMethod {
    /// Every value, in label order.
    pub const ALL: [HttpMethod; 10] = [
        Self::Get,
        Self::Head,
        Self::Post,
        Self::Put,
        Self::Delete,
        Self::Connect,
        Self::Options,
        Self::Trace,
        Self::Patch,
        Self::Other,
    ];

    /// Classifies a method token. Methods are case-sensitive: `get` is `_OTHER`.
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::HttpMethod;
    /// assert_eq!(HttpMethod::from_token("PATCH").as_str(), "PATCH");
    /// assert_eq!(HttpMethod::from_token("PROPFIND").as_str(), "_OTHER");
    /// assert_eq!(HttpMethod::from_token("get").as_str(), "_OTHER");
    /// ```
    #[must_use]
    #[inline]
    pub fn from_token(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            "OPTIONS" => Self::Options,
            "TRACE" => Self::Trace,
            "PATCH" => Self::Patch,
            _ => Self::Other,
        }
    }

    /// The `method` label value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
            Self::Other => "_OTHER",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HTTP server metrics of one service: request counts, in-flight gauges and
/// latency histograms, registered in one [`Registry`].
///
/// `HttpMetrics` is a handle (cloning it is cheap) that the framework adapters
/// record into. It writes three families, and up to three more when asked
/// (names shown without prefix):
///
/// | name | type | labels |
/// |---|---|---|
/// | `http_server_requests_total` | counter | `method`, `route`, `status` |
/// | `http_server_requests_in_flight` | gauge | `method`, `route` (requests started from a [`RouteHandle`]); `method` (requests started with [`HttpMetrics::start_unrouted`]) |
/// | `http_server_request_duration_seconds` | histogram | `method`, `route`, `status` |
/// | `http_server_request_body_size_bytes` | histogram | as above; with [`HttpMetricsBuilder::body_sizes`] |
/// | `http_server_response_body_size_bytes` | histogram | as above; with [`HttpMetricsBuilder::body_sizes`] |
/// | `http_server_time_to_first_byte_seconds` | histogram | as above; with [`HttpMetricsBuilder::time_to_first_byte`] |
///
/// `requests_total` and the histogram's `_count` (and its `+Inf` bucket) are one
/// number read once per scrape, so they agree in every exposition.
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
///
/// let registry = Registry::new();
/// let metrics = HttpMetrics::builder()
///     .registry(&registry)
///     .buckets([0.1, 1.0])
///     .build()?;
///
/// // What an adapter does for each request.
/// let mut request = metrics.route(Some("/users/{id}")).start(HttpMethod::Get).unwrap();
/// request.set_status(200);
/// drop(request); // the response body ended
///
/// let text = registry.encode(Format::Text)?;
/// assert!(text.contains(
///     "http_server_requests_total{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 1\n"
/// ));
/// assert!(text.contains(
///     "http_server_requests_in_flight{method=\"GET\",route=\"/users/{id}\"} 0\n"
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HttpMetrics {
    shared: Arc<Shared>,
    registry: Registry,
}

/// State shared by every handle and every route of one metric set.
pub(crate) struct Shared {
    pub(crate) names: builder::Names,
    pub(crate) const_labels: Vec<(String, String)>,
    pub(crate) bounds: crate::histogram::Bounds,
    /// The body size bounds, when the set records body sizes.
    pub(crate) size_bounds: Option<crate::histogram::Bounds>,
    pub(crate) ignored: Vec<String>,
    /// The ignored routes without parameters: a path equal to one of them is that
    /// route, which is how requests are left out before routing.
    pub(crate) ignored_paths: Vec<String>,
    pub(crate) routes: routes::RouteTable,
    pub(crate) unmatched: Arc<RouteEntry>,
    /// Where every route past the limit goes.
    pub(crate) overflow: Arc<RouteEntry>,
    pub(crate) limits: Arc<series::Limits>,
    /// Whether OpenMetrics gets `_created` samples.
    pub(crate) created_samples: bool,
    /// The grouping of unmatched requests, and each group's entry.
    pub(crate) groups: Option<(GroupFn, Vec<Arc<RouteEntry>>)>,
    /// The labels read from each request, in declaration order.
    pub(crate) labels: Vec<RequestLabel>,
    /// A client's declared servers (empty: any, within the series limit).
    pub(crate) servers: Vec<Arc<RouteEntry>>,
}

impl fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("requests_total", &self.shared.names.requests)
            .field("const_labels", &self.shared.const_labels)
            .field("buckets", &self.shared.bounds.seconds)
            .finish_non_exhaustive()
    }
}

impl Default for HttpMetrics {
    /// The process registry's metric set with the default configuration.
    ///
    /// Every call returns a handle on the same set, created on the first call. If
    /// the default names were already taken in the process registry by something
    /// else, this logs an error through `tracing` and returns a set that records but
    /// is not exposed; use [`HttpMetrics::builder`] to get that error as a value.
    fn default() -> Self {
        let registry = default_registry();
        registry.singleton(|| {
            Self::builder()
                .registry(registry)
                .build()
                .unwrap_or_else(|err| {
                    tracing::error!(%err, "promhttp: the default HTTP metric set could not be registered; its metrics will not be exposed");
                    Self::builder()
                        .registry(&Registry::new())
                        .build()
                        .expect("the default configuration is valid in an empty registry")
                })
        })
    }
}

impl HttpMetrics {
    /// Starts configuring a metric set.
    pub fn builder() -> HttpMetricsBuilder {
        HttpMetricsBuilder::default()
    }

    /// Whether the set keeps exemplars ([`HttpMetricsBuilder::exemplars`]):
    /// adapters read a request's trace context only then.
    #[must_use]
    #[inline]
    pub fn exemplars(&self) -> bool {
        self.shared.limits.exemplars
    }

    /// Resolves a route template to a handle that starts requests on it.
    ///
    /// `None` (the request matched no route) and [`UNMATCHED_ROUTE`] both resolve to
    /// the one unmatched entry; [`OVERFLOW_ROUTE`] resolves to the overflow series. The first request on a template creates its entry;
    /// after that this takes a read lock only. Adapters cache the handle per route
    /// where the framework allows.
    #[must_use]
    pub fn route(&self, route: Option<&str>) -> RouteHandle {
        let entry = match route {
            None => Arc::clone(&self.shared.unmatched),
            Some(UNMATCHED_ROUTE) => Arc::clone(&self.shared.unmatched),
            // Never a second series with the overflow series' labels.
            Some(OVERFLOW_ROUTE) => Arc::clone(&self.shared.overflow),
            Some(route) => self.route_entry(route),
        };
        RouteHandle { entry }
    }

    /// The route of a request that matched no route of the app: the group the
    /// function given to [`HttpMetricsBuilder::group_unmatched`] puts it in, if
    /// it names a declared group; else [`UNMATCHED_ROUTE`]. `path` is the
    /// request's path as received. Without groups it is `route(None)`.
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::{HttpMethod, HttpMetrics, Registry};
    ///
    /// let metrics = HttpMetrics::builder()
    ///     .registry(&Registry::new())
    ///     .group_unmatched(["static"], |_, path| path.starts_with("/assets/").then_some("static"))
    ///     .build()?;
    /// assert_eq!(metrics.unmatched_route(HttpMethod::Get, "/assets/app.js").label(), "static");
    /// assert_eq!(metrics.unmatched_route(HttpMethod::Get, "/wp-login.php").label(), "unmatched");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn unmatched_route(&self, method: HttpMethod, path: &str) -> RouteHandle {
        let shared = &*self.shared;
        let entry = shared
            .groups
            .as_ref()
            .and_then(|(by, entries)| {
                let group = (by.0)(method, path)?;
                entries.iter().find(|e| *e.route == *group)
            })
            .unwrap_or(&shared.unmatched);
        RouteHandle {
            entry: Arc::clone(entry),
        }
    }

    /// The labels the adapters read from each request
    /// ([`HttpMetricsBuilder::label`] and the built-ins), in declaration order.
    #[must_use]
    #[inline]
    pub fn labels(&self) -> &[RequestLabel] {
        &self.shared.labels
    }

    /// One request's values of [`labels`](Self::labels): `value` gets each
    /// label's index and declaration and reads the request's value, which
    /// becomes [`OTHER_LABEL_VALUE`] when it is `None` or not declared. Give
    /// the result to [`RequestGuard::set_labels`].
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
    ///
    /// let registry = Registry::new();
    /// let metrics = HttpMetrics::builder()
    ///     .registry(&registry)
    ///     .label("tier", ["free", "paid"])
    ///     .build()?;
    /// let header = Some("gold"); // what this request says
    /// let values = metrics.label_values(|_, _| header);
    /// let mut request = metrics.route(Some("/")).start(HttpMethod::Get).unwrap();
    /// request.set_labels(values);
    /// request.set_status(200);
    /// drop(request);
    /// let text = registry.encode(Format::Text)?;
    /// assert!(text.contains(
    ///     "http_server_requests_total{method=\"GET\",route=\"/\",status=\"200\",tier=\"other\"} 1\n"
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn label_values<'r>(
        &self,
        value: impl FnMut(usize, &RequestLabel) -> Option<&'r str>,
    ) -> LabelValues {
        labels::combination(&self.shared.labels, value)
    }

    /// How an adapter reads each of [`labels`](Self::labels), in order: with
    /// the function in `given` under the label's name, else as the built-in
    /// it is, else not at all (`other`). `None` when the set has no request
    /// labels, so an adapter keeps nothing and reads nothing per request.
    #[must_use]
    pub fn label_readers<F: Clone>(&self, given: &[(String, F)]) -> Option<Box<[LabelReader<F>]>> {
        (!self.shared.labels.is_empty()).then(|| labels::readers(&self.shared.labels, given))
    }

    /// Whether the set records request and response body sizes
    /// ([`HttpMetricsBuilder::body_sizes`]): the adapters then count the
    /// bytes of each body.
    #[must_use]
    #[inline]
    pub fn body_sizes(&self) -> bool {
        self.shared.limits.extras.size_bounds.is_some()
    }

    /// Whether the set records each request's time to first byte
    /// ([`HttpMetricsBuilder::time_to_first_byte`]).
    #[must_use]
    #[inline]
    pub fn time_to_first_byte(&self) -> bool {
        self.shared.limits.extras.first_byte
    }

    /// Whether unmatched requests are grouped
    /// ([`HttpMetricsBuilder::group_unmatched`]): the adapters then give
    /// [`unmatched_route`](Self::unmatched_route) the path of each.
    #[must_use]
    #[inline]
    pub fn groups_unmatched(&self) -> bool {
        self.shared.groups.is_some()
    }

    fn route_entry(&self, route: &str) -> Arc<RouteEntry> {
        let shared = &self.shared;
        shared
            .routes
            .get_or_insert(route, &shared.limits, || {
                let ignored = shared.ignored.iter().any(|r| r == route);
                RouteEntry::new(route.into(), ignored, Arc::clone(&shared.limits))
            })
            .unwrap_or_else(|| Arc::clone(&shared.overflow))
    }

    /// The registry this set is registered in.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// A resolved route: starts the requests that match it.
#[derive(Clone)]
pub struct RouteHandle {
    entry: Arc<RouteEntry>,
}

impl fmt::Debug for RouteHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteHandle")
            .field("route", &self.entry.route)
            .field("ignored", &self.entry.ignored)
            .finish()
    }
}

impl RouteHandle {
    /// Whether this handle is the one [`HttpMetrics::route`] returns for `route`.
    #[must_use]
    #[inline]
    pub fn is_for(&self, route: Option<&str>) -> bool {
        match route {
            None | Some(UNMATCHED_ROUTE) => self.entry.unmatched,
            Some(route) => !self.entry.unmatched && *self.entry.route == *route,
        }
    }

    /// The `route` label value.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.entry.route
    }

    /// Starts recording a request: raises the in-flight gauge and starts the clock.
    ///
    /// Returns `None` for a route configured to be left unrecorded.
    ///
    /// The clock is [`quanta`]'s: the CPU's time-stamp counter where it is
    /// invariant (constant rate, running in every power state, as the kernel also
    /// requires to use it as its clock source), calibrated against the monotonic
    /// OS clock; elsewhere the OS clock itself. A reading is about 20 ns cheaper
    /// than `std::time::Instant`. The calibration runs once per process, on a
    /// thread of its own that the first set built starts; requests that start
    /// before it is done are timed on `std::time::Instant`, start to end.
    #[must_use]
    #[inline]
    pub fn start(&self, method: HttpMethod) -> Option<RequestGuard> {
        let entry = &self.entry;
        if entry.ignored {
            return None;
        }
        let gauge = match entry.method(method) {
            Some(series) => {
                series.request_started();
                Gauge::Route
            }
            None => {
                entry.limits.overflow_started();
                Gauge::Overflow
            }
        };
        Some(RequestGuard {
            start: crate::clock::now(),
            entry: Arc::clone(entry),
            method,
            gauge,
            status: None,
            status_if_unfinished: STATUS_CLIENT_CLOSED,
            trace: None,
            labels: entry.limits.other_labels,
            transfer: Transfer::new_if(&entry.limits.extras),
        })
    }
}

impl HttpMetrics {
    /// Starts recording a request whose route is not known yet, for frameworks
    /// that route after the middleware runs (actix-web): raises the in-flight
    /// gauge of `method` alone, `{method}` without `route`, and starts the clock.
    /// Once routed, [`RequestGuard::set_route`] gives the route the request is
    /// counted under; a request that never gets one (its future was dropped, its
    /// handler panicked) is counted under [`UNMATCHED_ROUTE`].
    ///
    /// `path` is the request path as the router matches it. Returns `None` when it
    /// is an ignored route without parameters; an ignored route with parameters
    /// can only be told once routed, so such a request shows in flight while it
    /// runs and is left out of the counts by [`RequestGuard::set_route`].
    ///
    /// ```
    /// # mod promhttp { pub use promhttp_core::*; }
    /// use promhttp::{Format, HttpMethod, HttpMetrics, Registry};
    ///
    /// let registry = Registry::new();
    /// let metrics = HttpMetrics::builder().registry(&registry).build()?;
    /// let mut request = metrics.start_unrouted(HttpMethod::Get, "/users/7").unwrap();
    /// // ... the framework routes the request to `/users/{id}` and answers ...
    /// request.set_route(metrics.route(Some("/users/{id}")));
    /// request.set_status(200);
    /// let text = registry.encode(Format::Text)?;
    /// assert!(text.contains("http_server_requests_in_flight{method=\"GET\"} 1\n"));
    /// drop(request);
    /// let text = registry.encode(Format::Text)?;
    /// assert!(text.contains("http_server_requests_in_flight{method=\"GET\"} 0\n"));
    /// assert!(text.contains(
    ///     "http_server_requests_total{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 1\n"
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    #[inline]
    pub fn start_unrouted(&self, method: HttpMethod, path: &str) -> Option<RequestGuard> {
        let shared = &*self.shared;
        if shared.ignored_paths.iter().any(|p| p == path) {
            return None;
        }
        let limits = &shared.limits;
        limits.method_in_flight[method.index()].up();
        Some(RequestGuard {
            start: crate::clock::now(),
            entry: Arc::clone(&shared.unmatched),
            method,
            gauge: Gauge::Method,
            status: None,
            status_if_unfinished: STATUS_CLIENT_CLOSED,
            trace: None,
            labels: limits.other_labels,
            transfer: Transfer::new_if(&limits.extras),
        })
    }
}

/// The status recorded for a request whose response was never produced because the
/// client went away (nginx's convention).
pub const STATUS_CLIENT_CLOSED: u16 = 499;

/// The status of an outgoing request that failed without a response
/// (connection refused, a TLS or protocol error, a timeout inside the client):
/// shown as `status="error"`. Give it to [`RequestGuard::set_status`]; the
/// client layer does.
pub const STATUS_FAILED: u16 = 2;

/// The status recorded for a request whose handler panicked before it produced a
/// response.
pub const STATUS_PANICKED: u16 = 500;

/// One request being recorded. Dropping it closes the books, exactly once.
///
/// On drop the in-flight gauge goes down, the request is counted and its duration
/// observed with the status set by [`RequestGuard::set_status`]. A guard dropped
/// with no status was cancelled: it is recorded as [`STATUS_CLIENT_CLOSED`], or as
/// [`STATUS_PANICKED`] when the last poll that [`RequestGuard::poll_scope`] watched
/// unwound.
///
/// An adapter's response future looks like this:
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use std::{future::Future, pin::Pin, task::{ready, Context, Poll}};
/// use promhttp::RequestGuard;
///
/// struct ResponseFuture<F> { inner: Pin<Box<F>>, guard: Option<RequestGuard> }
///
/// impl<F: Future<Output = Result<u16, ()>>> Future for ResponseFuture<F> {
///     type Output = Result<u16, ()>;
///     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
///         let this = &mut *self;
///         let result = ready!(RequestGuard::poll_scope(&mut this.guard, || this.inner.as_mut().poll(cx)));
///         let guard = this.guard.take();
///         // A real adapter moves the guard into the response body instead.
///         drop(guard.map(|g| g.with_status(*result.as_ref().unwrap_or(&500))));
///         Poll::Ready(result)
///     }
/// }
/// ```
pub struct RequestGuard {
    /// The route the request is counted under.
    entry: Arc<RouteEntry>,
    method: HttpMethod,
    /// Which in-flight gauge went up.
    gauge: Gauge,
    /// The clock's raw reading at the start.
    start: u64,
    status: Option<u16>,
    status_if_unfinished: u16,
    /// The request's trace, for the exemplars.
    trace: Option<TraceContext>,
    /// The combination of its request labels' values.
    labels: u16,
    /// Its time to first byte and body sizes, when the set records either:
    /// one allocation, shared with the request body's counter, so that a set
    /// without them moves no more than a pointer per request.
    transfer: Option<Arc<Transfer>>,
}

/// What one request transferred, and when its response started: written by
/// its guard's owner and by its request body's counter, read once when it
/// ends.
#[derive(Debug)]
struct Transfer {
    /// Bytes of the request body read; [`Transfer::NONE`] until a size or a
    /// counter is given.
    request: AtomicU64,
    response: AtomicU64,
    /// Nanoseconds to the response's head; [`Transfer::NONE`] until then.
    first_byte: AtomicU64,
}

impl Transfer {
    const NONE: u64 = u64::MAX;

    #[inline]
    fn new_if(extras: &series::ExtrasConfig) -> Option<Arc<Self>> {
        extras.any().then(Self::new)
    }

    #[cold]
    fn new() -> Arc<Self> {
        Arc::new(Self {
            request: AtomicU64::new(Self::NONE),
            response: AtomicU64::new(0),
            first_byte: AtomicU64::new(Self::NONE),
        })
    }

    /// Adds to a count only this request's guard writes.
    fn add(count: &AtomicU64, bytes: u64) {
        count.store(count.load(Relaxed).saturating_add(bytes), Relaxed);
    }

    fn ended(&self) -> Ended {
        let known = |v: u64| (v != Self::NONE).then_some(v);
        Ended {
            first_byte: known(self.first_byte.load(Relaxed)),
            request_bytes: known(self.request.load(Relaxed)),
            response_bytes: self.response.load(Relaxed),
        }
    }
}

/// Counts the bytes of one request body as the service reads them
/// ([`RequestGuard::count_request_body`]): the adapter's body wrapper adds
/// every chunk it hands on, and the request's size is what it holds when the
/// request ends. Cloning it shares the count.
#[derive(Clone, Debug)]
pub struct BodyCounter(Arc<Transfer>);

impl BodyCounter {
    /// Adds `bytes` read.
    #[inline]
    pub fn add(&self, bytes: u64) {
        self.0.request.fetch_add(bytes, Relaxed);
    }

    /// The bytes counted so far.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.0.request.load(Relaxed)
    }
}

/// The in-flight gauge a request raised when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gauge {
    /// Its (method, route) gauge in `entry`.
    Route,
    /// The overflow series: the (method, route) pair was over the limit. The
    /// request is counted in the overflow series too.
    Overflow,
    /// Its method's gauge: the route was not known yet.
    Method,
}

impl fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGuard")
            .field("route", &self.entry.route)
            .field("method", &self.method)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl RequestGuard {
    /// Sets the route of a request started with [`HttpMetrics::start_unrouted`],
    /// once the framework has routed it: the request is counted under it (left
    /// out of the counts if the route is ignored). Its in-flight gauge stays the
    /// method's.
    ///
    /// A guard started from a [`RouteHandle`] already has its route, whose
    /// in-flight gauge it raised; for it this does nothing.
    #[inline]
    pub fn set_route(&mut self, route: RouteHandle) {
        if self.gauge == Gauge::Method {
            self.entry = route.entry;
        }
    }

    /// Gives the request a trace: when the metric set keeps exemplars
    /// ([`HttpMetricsBuilder::exemplars`]), the request's latency bucket and its
    /// `requests_total` series show it as their exemplar once it ends. The
    /// adapters call it with a sampled `traceparent` header's trace; call it
    /// yourself to take the trace from elsewhere (your tracing stack). Without
    /// exemplars it is kept and ignored.
    #[inline]
    pub fn set_trace(&mut self, trace: TraceContext) {
        self.trace = Some(trace);
    }

    /// Sets the values of the set's request labels
    /// ([`HttpMetrics::label_values`]). Without it, each is
    /// [`OTHER_LABEL_VALUE`].
    #[inline]
    pub fn set_labels(&mut self, values: LabelValues) {
        self.labels = values.0;
    }

    /// Counts the request body's bytes with the counter returned, which the
    /// adapter's body wrapper adds to as the service reads the body: the
    /// request size recorded is what it holds when the request ends, so a
    /// client gone mid-body is recorded with what arrived. `None` when the set
    /// does not record body sizes ([`HttpMetricsBuilder::body_sizes`]).
    ///
    /// A request that was given neither this nor
    /// [`set_request_body_size`](Self::set_request_body_size) has no request
    /// size: it is left out of that histogram alone.
    #[must_use]
    pub fn count_request_body(&mut self) -> Option<BodyCounter> {
        let transfer = self.transfer.as_ref()?;
        self.entry.limits.extras.size_bounds.as_ref()?;
        transfer.request.store(0, Relaxed);
        Some(BodyCounter(Arc::clone(transfer)))
    }

    /// Sets the request body's size when it is known without counting: `0`
    /// for a request that has no body.
    #[inline]
    pub fn set_request_body_size(&mut self, bytes: u64) {
        if let Some(transfer) = &self.transfer {
            transfer
                .request
                .store(bytes.min(Transfer::NONE - 1), Relaxed);
        }
    }

    /// Adds `bytes` of the response body, handed to the server, to the
    /// response size.
    #[inline]
    pub fn add_response_bytes(&mut self, bytes: u64) {
        if let Some(transfer) = &self.transfer {
            Transfer::add(&transfer.response, bytes);
        }
    }

    /// Notes that the response's head is ready to be sent: the time from the
    /// start to now is the request's time to first byte, recorded when it
    /// ends if the set keeps it ([`HttpMetricsBuilder::time_to_first_byte`]).
    /// A request that never gets here (cancelled, or its handler panicked) has
    /// none.
    #[inline]
    pub fn response_started(&mut self) {
        if let Some(transfer) = &self.transfer {
            if self.entry.limits.extras.first_byte {
                let nanos = crate::clock::since(self.start).1;
                transfer
                    .first_byte
                    .store(nanos.min(Transfer::NONE - 1), Relaxed);
            }
        }
    }

    /// Sets the status the request will be recorded with.
    #[inline]
    pub fn set_status(&mut self, status: u16) {
        self.status = Some(status);
    }

    /// The status set so far.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Sets the status and returns the guard, for chaining before it is moved on.
    #[must_use]
    #[inline]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Runs `poll`, one poll of the handler's future, so that a panic inside it is
    /// recorded as [`STATUS_PANICKED`] rather than as a cancelled request, whoever
    /// catches the panic and whenever the guard is dropped afterwards. With no
    /// guard (an ignored route) it just runs `poll`.
    #[inline]
    pub fn poll_scope<R>(guard: &mut Option<Self>, poll: impl FnOnce() -> R) -> R {
        let Some(guard) = guard else {
            return poll();
        };
        guard.status_if_unfinished = STATUS_PANICKED;
        let out = poll();
        guard.status_if_unfinished = STATUS_CLIENT_CLOSED;
        out
    }
}

impl Drop for RequestGuard {
    #[inline(never)]
    fn drop(&mut self) {
        let entry = &*self.entry;
        let limits = &*entry.limits;
        let (end, nanos) = crate::clock::since(self.start);
        let exemplar = self.trace.as_ref().map(|trace| (trace, end));
        let status = match self.status {
            Some(status) => status,
            None if std::thread::panicking() => STATUS_PANICKED,
            None => self.status_if_unfinished,
        };
        // The gauge goes down before the request is counted (see `series`).
        match self.gauge {
            Gauge::Route => {
                if let Some(series) = entry.existing_method(self.method) {
                    series.request_ended();
                }
            }
            Gauge::Overflow => limits.overflow_ended(),
            Gauge::Method => limits.method_in_flight[self.method.index()].down(),
        }
        if entry.ignored {
            return;
        }
        if let Some(exclude) = &limits.exclude {
            let ended = EndedRequest {
                method: self.method,
                route: &entry.route,
                status,
            };
            if (exclude.0)(&ended) {
                return;
            }
        }
        let ended = self.transfer.as_deref().map(Transfer::ended);
        let series = match self.gauge {
            Gauge::Overflow => None,
            Gauge::Route | Gauge::Method => entry.method(self.method),
        };
        match series {
            Some(series) => series.count(status, self.labels, nanos, exemplar, ended.as_ref()),
            None => limits.observe_overflow(nanos, exemplar, ended.as_ref()),
        }
    }
}
