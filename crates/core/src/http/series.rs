//! Lock-free storage of the series of one metric set, within its series limit.
//!
//! A route has one lazily created [`MethodSeries`] per method; a method holds the
//! in-flight gauge and one [`Series`] per status. A series is found by a scan of 16
//! write-once slots, so recording into an existing series takes no lock and
//! allocates nothing; a route that sees more than 16 statuses for one method keeps
//! the rest in a list read under a shared lock.
//!
//! Every new series first takes a ticket from [`Limits`]. Past the limit the
//! request is folded into the one overflow series of its family instead, and
//! counted as folded: nothing is lost from the totals.
//!
//! # What a scrape sees
//!
//! A finishing request lowers its in-flight gauge first and is then counted, the
//! count being written with `Release` ordering; a scrape reads every count first
//! (with `Acquire`) and every in-flight gauge after. A scrape that sees a request
//! counted therefore also sees its gauge lowered: no request is ever both counted
//! and in flight in one scrape. (One that finishes while a scrape runs may be in
//! neither: it is counted by the next scrape.) The gauges themselves are changed
//! with read-modify-writes, so a gauge read never shows a request lowered that it
//! does not also show raised: it is never negative.

use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

#[cfg(doc)]
use super::UNMATCHED_ROUTE;
use super::{HttpMethod, OVERFLOW_ROUTE};
use crate::histogram::Cells;
use crate::native::{NativeCells, NativeHistogram, NativeRow};
use crate::trace::{ExemplarSlot, Stored, TraceContext};

const INLINE_STATUSES: usize = 16;

/// A series' key: its status key (below 1,000) in the low 10 bits, the
/// combination of its request labels' values above.
#[inline]
pub(crate) fn series_key(status: u16, labels: u16) -> u16 {
    status | (labels << STATUS_BITS)
}

/// The bits of a series key that hold the status.
const STATUS_BITS: u16 = 10;

/// The status key of the overflow series: shown as `status="overflow"`.
pub(crate) const STATUS_OVERFLOW: u16 = 0;
/// The status key of a request given a status outside `100..=999`: shown as
/// `status="invalid"`.
pub(crate) const STATUS_INVALID: u16 = 1;
/// The status key of an outgoing request that failed without a response
/// ([`super::STATUS_FAILED`]): shown as `status="error"`.
pub(crate) const STATUS_ERROR: u16 = 2;

/// The series limit of one metric set, and where what exceeds it goes.
pub(crate) struct Limits {
    pub(crate) max_series: usize,
    pub(crate) bounds_ns: Arc<[u64]>,
    /// Tickets taken: routes, (method, route) pairs, (method, route, status).
    routes: AtomicUsize,
    pairs: AtomicUsize,
    triples: AtomicUsize,
    /// The overflow series of `requests_total` and the histogram.
    pub(crate) overflow: Series,
    /// The overflow series of the in-flight gauge.
    pub(crate) overflow_in_flight: AtomicI64,
    /// The in-flight gauges by method alone, for requests started before their
    /// route is known (actix-web): one per method, outside the series limit.
    pub(crate) method_in_flight: [MethodGauge; 10],
    /// Observations folded into the overflow series, per family.
    pub(crate) folded_requests: AtomicU64,
    pub(crate) folded_in_flight: AtomicU64,
    warned: AtomicBool,
    /// For the warning: the name of the set's counter family.
    name: String,
    /// Whether series keep exemplars.
    pub(crate) exemplars: bool,
    /// Whether `status` is the class (`2xx`) instead of the code.
    pub(crate) status_classes: bool,
    /// Requests left out of the counts when they end.
    pub(crate) exclude: Option<super::ExcludeFn>,
    /// The combination of request label values that is `other` for every
    /// label: a request's until an adapter sets them.
    pub(crate) other_labels: u16,
    /// Native buckets, when the series keep them.
    pub(crate) native: Option<NativeHistogram>,
    /// The histograms each series keeps beside its latency.
    pub(crate) extras: ExtrasConfig,
    /// When the set was built, in seconds since the Unix epoch: the start of
    /// its overflow counters.
    pub(crate) built: f64,
    /// When the first observation was folded into the overflow series (the
    /// bits of an `f64`; 0 until then): that series' start.
    overflow_since: AtomicU64,
}

/// The in-flight gauge of one method, for requests whose route is not known when
/// they start.
#[derive(Default)]
pub(crate) struct MethodGauge {
    value: AtomicI64,
    /// Whether any request was ever started on it: only those are exposed.
    used: AtomicBool,
}

impl MethodGauge {
    #[inline]
    pub(crate) fn up(&self) {
        if !self.used.load(Relaxed) {
            self.used.store(true, Relaxed);
        }
        self.value.fetch_add(1, AcqRel);
    }

    #[inline]
    pub(crate) fn down(&self) {
        self.value.fetch_sub(1, AcqRel);
    }

    /// The value, if the gauge was ever used.
    pub(crate) fn read(&self) -> Option<i64> {
        let value = self.value.load(Acquire);
        self.used.load(Relaxed).then_some(value)
    }
}

impl Limits {
    pub(crate) fn new(
        max_series: usize,
        bounds_ns: Arc<[u64]>,
        name: String,
        exemplars: bool,
        native: Option<NativeHistogram>,
    ) -> Self {
        Self {
            max_series,
            overflow: Series::new(0, bounds_ns.len(), exemplars, native.as_ref(), None),
            exemplars,
            extras: ExtrasConfig::default(),
            status_classes: false,
            exclude: None,
            other_labels: 0,
            native,
            built: unix_millis(),
            overflow_since: AtomicU64::new(0),
            bounds_ns,
            routes: AtomicUsize::new(0),
            pairs: AtomicUsize::new(0),
            triples: AtomicUsize::new(0),
            overflow_in_flight: AtomicI64::new(0),
            method_in_flight: Default::default(),
            folded_requests: AtomicU64::new(0),
            folded_in_flight: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            name,
        }
    }

    /// Keeps the histograms `extras` asks for in every series, the overflow
    /// series too.
    pub(crate) fn with_extras(mut self, extras: ExtrasConfig) -> Self {
        self.overflow.extras = Extras::new(&extras, self.bounds_ns.len());
        self.extras = extras;
        self
    }

    /// Labels `status` with the class instead of the code.
    pub(crate) fn with_status_classes(mut self, on: bool) -> Self {
        self.status_classes = on;
        self
    }

    /// Sets the combination that is `other` for every request label.
    pub(crate) fn with_other_labels(mut self, other: u16) -> Self {
        self.other_labels = other;
        self
    }

    /// Leaves the requests `exclude` picks out of the counts.
    pub(crate) fn with_exclude(mut self, exclude: Option<super::ExcludeFn>) -> Self {
        self.exclude = exclude;
        self
    }

    /// The status a request is counted under: its code, or with status classes
    /// the first code of its class (`204` is counted as `200`, shown as `2xx`).
    /// Anything outside `100..=999`, which no HTTP response can carry, is
    /// [`STATUS_INVALID`].
    #[inline]
    pub(crate) fn status_key(&self, status: u16) -> u16 {
        if status == super::STATUS_FAILED {
            STATUS_ERROR
        } else if !(100..=999).contains(&status) {
            STATUS_INVALID
        } else if self.status_classes {
            status / 100 * 100
        } else {
            status
        }
    }

    /// Takes a ticket for one new series, or says the limit is reached.
    #[inline]
    fn take(&self, tickets: &AtomicUsize) -> bool {
        if tickets.fetch_add(1, Relaxed) < self.max_series {
            return true;
        }
        tickets.fetch_sub(1, Relaxed);
        self.warn_once();
        false
    }

    pub(crate) fn take_route(&self) -> bool {
        self.take(&self.routes)
    }

    pub(crate) fn give_back_route(&self) {
        self.routes.fetch_sub(1, Relaxed);
    }

    #[cold]
    fn warn_once(&self) {
        if !self.warned.swap(true, Relaxed) {
            tracing::warn!(
                metric = %self.name,
                max_series = self.max_series,
                "promhttp: series limit reached; new label combinations are folded into the \
                 overflow series (route=\"overflow\") and counted in promhttp_series_overflow_total. \
                 Raise HttpMetricsBuilder::max_series if the routes are legitimate."
            );
        }
    }

    /// A new series of `status`, keeping what the set keeps.
    fn series(&self, status: u16) -> Series {
        Series::new(
            status,
            self.bounds_ns.len(),
            self.exemplars,
            self.native.as_ref(),
            Extras::new(&self.extras, self.bounds_ns.len()),
        )
    }

    #[cold]
    fn overflow_started_now(&self) {
        let now = unix_millis().to_bits();
        let _ = self
            .overflow_since
            .compare_exchange(0, now, Relaxed, Relaxed);
    }

    /// When the overflow series of `requests_total` and the histogram started:
    /// the first fold into it (none before).
    pub(crate) fn overflow_created(&self) -> Option<f64> {
        match self.overflow_since.load(Relaxed) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    /// Records a request that started in the overflow in-flight series.
    pub(crate) fn overflow_started(&self) {
        self.overflow_in_flight.fetch_add(1, AcqRel);
        self.folded_in_flight.fetch_add(1, Relaxed);
    }

    pub(crate) fn overflow_ended(&self) {
        self.overflow_in_flight.fetch_sub(1, AcqRel);
    }

    /// Counts a request in the overflow series of `requests_total` and the
    /// histogram.
    pub(crate) fn observe_overflow(
        &self,
        nanos: u64,
        exemplar: Option<(&TraceContext, u64)>,
        ended: Option<&Ended>,
    ) {
        if self.overflow_since.load(Relaxed) == 0 {
            self.overflow_started_now();
        }
        if let Some(ended) = ended {
            self.overflow.observe_extras(self, ended);
        }
        self.overflow.observe(&self.bounds_ns, nanos, exemplar);
        self.folded_requests.fetch_add(1, Relaxed);
    }
}

/// Now to the millisecond, as Prometheus keeps times: series created within
/// one millisecond share a start time, which a scrape's compression likes.
fn unix_millis() -> f64 {
    (crate::family::unix_now() * 1000.0).floor() / 1000.0
}

pub(crate) struct RouteEntry {
    /// The `route` label value.
    pub(crate) route: Arc<str>,
    pub(crate) unmatched: bool,
    /// The stand-in for every route past the limit: all of it overflows.
    pub(crate) overflow: bool,
    pub(crate) ignored: bool,
    pub(crate) limits: Arc<Limits>,
    methods: [OnceLock<Box<MethodSeries>>; 10],
}

impl RouteEntry {
    pub(crate) fn new(route: Arc<str>, ignored: bool, limits: Arc<Limits>) -> Self {
        Self {
            unmatched: false,
            overflow: false,
            route,
            ignored,
            limits,
            methods: Default::default(),
        }
    }

    /// The entry of requests that matched no route, shown as `label`
    /// ([`UNMATCHED_ROUTE`] on the server side).
    pub(crate) fn unmatched(label: &str, limits: Arc<Limits>) -> Self {
        Self {
            unmatched: true,
            ..Self::new(label.into(), false, limits)
        }
    }

    pub(crate) fn overflow(limits: Arc<Limits>) -> Self {
        Self {
            overflow: true,
            ..Self::new(OVERFLOW_ROUTE.into(), false, limits)
        }
    }

    /// The method's series, created if the limit allows; `None` past the limit.
    #[inline]
    pub(crate) fn method(&self, method: HttpMethod) -> Option<MethodRef<'_>> {
        if self.overflow {
            return None;
        }
        let slot = &self.methods[method.index()];
        let series = match slot.get() {
            Some(series) => &**series,
            None => self.new_method(slot)?,
        };
        Some(MethodRef {
            series,
            limits: &self.limits,
        })
    }

    #[cold]
    fn new_method<'a>(&self, slot: &'a OnceLock<Box<MethodSeries>>) -> Option<&'a MethodSeries> {
        if !self.limits.take(&self.limits.pairs) {
            return slot.get().map(|s| &**s);
        }
        let mut created = false;
        let series = slot.get_or_init(|| {
            created = true;
            Box::default()
        });
        if !created {
            self.limits.pairs.fetch_sub(1, Relaxed);
        }
        Some(&**series)
    }

    /// The method's series if it exists, without creating it.
    #[inline]
    pub(crate) fn existing_method(&self, method: HttpMethod) -> Option<&MethodSeries> {
        self.methods[method.index()].get().map(|s| &**s)
    }

    /// The methods seen so far, in label order.
    pub(crate) fn methods(&self) -> impl Iterator<Item = (HttpMethod, &MethodSeries)> {
        HttpMethod::ALL
            .into_iter()
            .zip(&self.methods)
            .filter_map(|(m, s)| Some((m, &**s.get()?)))
    }
}

#[derive(Default)]
pub(crate) struct MethodSeries {
    in_flight: AtomicI64,
    /// Whether a request was ever started with its route known: only then is the
    /// (method, route) in-flight gauge exposed.
    routed: AtomicBool,
    statuses: [OnceLock<Series>; INLINE_STATUSES],
    more: RwLock<Vec<Series>>,
}

impl MethodSeries {
    /// The (method, route) in-flight gauge, if requests were ever started on it.
    pub(crate) fn in_flight(&self) -> Option<i64> {
        let value = self.in_flight.load(Acquire);
        self.routed.load(Relaxed).then_some(value)
    }

    #[inline]
    pub(crate) fn request_ended(&self) {
        self.in_flight.fetch_sub(1, AcqRel);
    }

    /// Calls `f` with every series, in no particular order.
    pub(crate) fn for_each_series(&self, mut f: impl FnMut(&Series)) {
        self.statuses
            .iter()
            .filter_map(OnceLock::get)
            .for_each(&mut f);
        self.more
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .for_each(f);
    }
}

pub(crate) struct MethodRef<'a> {
    series: &'a MethodSeries,
    limits: &'a Limits,
}

impl MethodRef<'_> {
    #[inline]
    pub(crate) fn request_started(&self) {
        let series = self.series;
        if !series.routed.load(Relaxed) {
            series.routed.store(true, Relaxed);
        }
        series.in_flight.fetch_add(1, AcqRel);
    }

    /// Creates the series of `status` with nothing counted, as a pre-initialised
    /// series; `false` past the series limit.
    pub(crate) fn initialize(&self, status: u16, labels: u16) -> bool {
        self.with_series(series_key(self.limits.status_key(status), labels), |_| {})
    }

    /// Counts an ended request: call it after its in-flight gauge went down (see
    /// the module docs).
    #[inline]
    pub(crate) fn count(
        &self,
        status: u16,
        labels: u16,
        nanos: u64,
        exemplar: Option<(&TraceContext, u64)>,
        ended: Option<&Ended>,
    ) {
        let status = series_key(self.limits.status_key(status), labels);
        let limits = self.limits;
        let counted = self.with_series(status, |series| {
            // The extras first: a scrape that sees the request counted sees
            // them too (the count is written with `Release`).
            if let Some(ended) = ended {
                series.observe_extras(limits, ended);
            }
            series.observe(&limits.bounds_ns, nanos, exemplar);
        });
        if !counted {
            limits.observe_overflow(nanos, exemplar, ended);
        }
    }

    /// Calls `f` with the status's series; `false` if the limit kept it from
    /// being created.
    #[inline]
    fn with_series(&self, status: u16, f: impl FnOnce(&Series)) -> bool {
        for slot in &self.series.statuses {
            // Slots fill in order and never change once set, so a status can only
            // ever live in the first slot that was free when it was first seen.
            let series = match slot.get() {
                Some(series) => series,
                None => match self.new_series(slot, status) {
                    Some(series) => series,
                    None => return false,
                },
            };
            if series.status == status {
                f(series);
                return true;
            }
        }
        self.with_more_series(status, f)
    }

    #[cold]
    fn new_series<'a>(&self, slot: &'a OnceLock<Series>, status: u16) -> Option<&'a Series> {
        if !self.limits.take(&self.limits.triples) {
            // Another thread may have filled the slot meanwhile.
            return slot.get().filter(|s| s.status == status);
        }
        let mut created = false;
        let series = slot.get_or_init(|| {
            created = true;
            self.limits.series(status)
        });
        if !created {
            self.limits.triples.fetch_sub(1, Relaxed);
        }
        Some(series)
    }

    #[cold]
    fn with_more_series(&self, status: u16, f: impl FnOnce(&Series)) -> bool {
        let more = &self.series.more;
        {
            let list = more.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = list.iter().find(|s| s.status == status) {
                f(series);
                return true;
            }
        }
        let mut list = more.write().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|s| s.status == status) {
            if !self.limits.take(&self.limits.triples) {
                return false;
            }
            list.push(self.limits.series(status));
        }
        match list.iter().find(|s| s.status == status) {
            Some(series) => {
                f(series);
                true
            }
            None => false,
        }
    }
}

/// One (method, route, status) series: the histogram whose count is also the
/// request counter.
pub(crate) struct Series {
    pub(crate) status: u16,
    /// When the series was created (its first request ended), in seconds since
    /// the Unix epoch.
    created: f64,
    cells: Cells,
    /// The latest exemplar of each bucket (`+Inf` last), when the set keeps
    /// exemplars.
    exemplars: Option<Box<[ExemplarSlot]>>,
    /// Native buckets, when the set keeps them.
    native: Option<Box<NativeCells>>,
    /// The histograms kept beside the latency, when the set keeps any.
    extras: Option<Box<Extras>>,
}

/// Which histograms a set keeps beside the latency of each series.
#[derive(Clone, Default)]
pub(crate) struct ExtrasConfig {
    /// Time to the response's head, on the latency's bounds.
    pub(crate) first_byte: bool,
    /// Request and response body sizes, on these bounds (bytes).
    pub(crate) size_bounds: Option<Arc<[u64]>>,
}

impl ExtrasConfig {
    /// Whether any extra histogram is kept.
    pub(crate) fn any(&self) -> bool {
        self.first_byte || self.size_bounds.is_some()
    }
}

/// The histograms one series keeps beside its latency.
pub(crate) struct Extras {
    first_byte: Option<Cells>,
    request_size: Option<Cells>,
    response_size: Option<Cells>,
}

impl Extras {
    fn new(config: &ExtrasConfig, latency_bounds: usize) -> Option<Box<Self>> {
        config.any().then(|| {
            let sizes = config.size_bounds.as_ref().map(|b| b.len());
            Box::new(Self {
                first_byte: config.first_byte.then(|| Cells::new(latency_bounds)),
                request_size: sizes.map(Cells::new),
                response_size: sizes.map(Cells::new),
            })
        })
    }
}

/// What a request ended with beside its duration, for the extra histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ended {
    /// Nanoseconds from its start to its response's head; `None` when it got
    /// no response.
    pub(crate) first_byte: Option<u64>,
    /// The bytes of its body the service read; `None` when the adapter could
    /// not count them.
    pub(crate) request_bytes: Option<u64>,
    /// The bytes of its response body handed to the server.
    pub(crate) response_bytes: u64,
}

/// One reading of a histogram whose bucket counts are in a scrape's shared
/// buffer, from `at`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part {
    pub(crate) at: usize,
    pub(crate) count: u64,
    /// In the units observed: seconds for times, bytes for sizes.
    pub(crate) sum: f64,
}

/// One reading of a series' extra histograms.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExtrasReading {
    pub(crate) first_byte: Option<Part>,
    pub(crate) request_size: Option<Part>,
    pub(crate) response_size: Option<Part>,
}

impl Series {
    fn new(
        status: u16,
        bounds: usize,
        exemplars: bool,
        native: Option<&NativeHistogram>,
        extras: Option<Box<Extras>>,
    ) -> Self {
        Self {
            status,
            created: unix_millis(),
            cells: Cells::new(bounds),
            exemplars: exemplars.then(|| (0..=bounds).map(|_| ExemplarSlot::default()).collect()),
            native: native.map(|config| Box::new(NativeCells::new(config))),
            extras,
        }
    }

    /// Counts what a request ended with in the extra histograms the series
    /// keeps.
    #[inline(never)]
    fn observe_extras(&self, limits: &Limits, ended: &Ended) {
        let Some(extras) = &self.extras else { return };
        if let (Some(cells), Some(nanos)) = (&extras.first_byte, ended.first_byte) {
            cells.observe(&limits.bounds_ns, nanos);
        }
        if let Some(bounds) = &limits.extras.size_bounds {
            if let (Some(cells), Some(bytes)) = (&extras.request_size, ended.request_bytes) {
                cells.observe(bounds, bytes);
            }
            if let Some(cells) = &extras.response_size {
                cells.observe(bounds, ended.response_bytes);
            }
        }
    }

    /// Reads the extra histograms, appending their bucket counts to
    /// `buckets`. Read after [`Series::read_into`]: every request counted
    /// there is in them too.
    pub(crate) fn read_extras_into(&self, buckets: &mut Vec<u64>) -> ExtrasReading {
        let Some(extras) = &self.extras else {
            return ExtrasReading::default();
        };
        let mut part = |cells: &Option<Cells>, seconds: bool| {
            cells.as_ref().map(|cells| {
                let at = buckets.len();
                let (count, sum) = cells.read_units_into(buckets);
                Part {
                    at,
                    count,
                    sum: if seconds { sum / 1e9 } else { sum },
                }
            })
        };
        ExtrasReading {
            first_byte: part(&extras.first_byte, true),
            request_size: part(&extras.request_size, false),
            response_size: part(&extras.response_size, false),
        }
    }

    /// Reads the native buckets, if the series keeps them, appending them to
    /// `buckets`. Read before [`Series::read_into`]: the classic count then holds
    /// every observation the native buckets show.
    pub(crate) fn read_native_into(&self, buckets: &mut Vec<(i32, u64)>) -> Option<NativeRow> {
        Some(self.native.as_ref()?.read_into(buckets))
    }

    /// Counts an observation and keeps its trace, if any, as its bucket's
    /// exemplar (`at`: the clock's raw reading when the request ended).
    #[inline]
    fn observe(&self, bounds_ns: &[u64], nanos: u64, exemplar: Option<(&TraceContext, u64)>) {
        // Classic first, native after: see `read_native_into`.
        let bucket = self.cells.observe(bounds_ns, nanos);
        if let Some(native) = &self.native {
            native.observe(nanos);
        }
        if let (Some((trace, at)), Some(slots)) = (exemplar, &self.exemplars) {
            if let Some(slot) = slots.get(bucket) {
                slot.store(&Stored {
                    trace: *trace,
                    nanos,
                    at,
                });
            }
        }
    }

    /// The latest exemplar of each bucket (`+Inf` last); empty when the set
    /// keeps none.
    pub(crate) fn exemplars(&self) -> impl Iterator<Item = Option<Stored>> + '_ {
        self.exemplars
            .iter()
            .flat_map(|slots| slots.iter().map(ExemplarSlot::load))
    }

    /// Reads the series, its bucket counts appended to `buckets` (see
    /// [`Cells::read_into`]).
    pub(crate) fn read_into(&self, buckets: &mut Vec<u64>) -> SeriesReading {
        let at = buckets.len();
        let (count, sum_seconds) = self.cells.read_into(buckets);
        SeriesReading {
            status: self.status,
            at,
            count,
            sum_seconds,
            created: self.created,
        }
    }
}

/// One consistent reading of a [`Series`] (`+Inf`, `_count` and `requests_total`
/// are all `count`) whose bucket counts are in a buffer shared by the series of
/// a scrape, from `at`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesReading {
    /// The series' key ([`series_key`]): read its parts with
    /// [`status`](Self::status) and [`labels`](Self::labels).
    pub(crate) status: u16,
    pub(crate) at: usize,
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
    /// When the series started.
    pub(crate) created: f64,
}

impl SeriesReading {
    /// The status key of the series (without its request labels).
    pub(crate) fn status(&self) -> u16 {
        self.status & ((1 << STATUS_BITS) - 1)
    }

    /// The combination of the series' request label values.
    pub(crate) fn labels(&self) -> u16 {
        self.status >> STATUS_BITS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_reads_its_native_buckets_after_the_others() {
        let native = NativeHistogram::new();
        let with = Series::new(200, 1, false, Some(&native), None);
        let without = Series::new(200, 1, false, None, None);
        let mut buckets = vec![(0, 9)];
        assert!(without.read_native_into(&mut buckets).is_none());
        with.observe(&[10], 1_000_000, None);
        with.observe(&[10], 1_000_000, None);
        let row = with.read_native_into(&mut buckets).unwrap();
        assert_eq!((row.at, row.len, row.schema, row.zero_count), (1, 1, 3, 0));
        assert_eq!(buckets[1], (crate::native::bucket_index(0.001, 3), 2));
    }

    #[test]
    fn the_overflow_series_starts_at_its_first_fold() {
        let limits = Limits::new(1, Arc::from([10u64]), "x".into(), false, None);
        assert_eq!(limits.overflow_created(), None);
        let before = (crate::family::unix_now() * 1000.0).floor() / 1000.0;
        limits.observe_overflow(5, None, None);
        let first = limits.overflow_created().unwrap();
        assert!(
            before <= first && first <= crate::family::unix_now(),
            "{first}"
        );
        // Later folds leave it.
        limits.observe_overflow(7, None, None);
        assert_eq!(limits.overflow_created(), Some(first));
    }

    #[test]
    fn each_status_has_one_series_also_past_the_inline_slots() {
        let limits = Arc::new(Limits::new(
            1000,
            Arc::from([10u64, 20]),
            "x".into(),
            false,
            None,
        ));
        let entry = RouteEntry::new("/r".into(), false, limits);
        let method = entry.method(HttpMethod::Get).unwrap();
        for round in 0..3 {
            for status in 100..140u16 {
                method.request_started();
                method.series.request_ended();
                method.count(status, 0, u64::from(status) % 30, None, None);
            }
            let mut seen = Vec::new();
            entry.methods[0]
                .get()
                .unwrap()
                .for_each_series(|s| seen.push((s.status, s.read_into(&mut Vec::new()).count)));
            seen.sort_unstable();
            let expected: Vec<_> = (100..140u16).map(|s| (s, round + 1)).collect();
            assert_eq!(seen, expected);
        }
        assert_eq!(entry.methods[0].get().unwrap().in_flight(), Some(0));
    }
}
