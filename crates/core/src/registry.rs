//! The [`Registry`]: a cheap-to-clone handle on a set of metric families.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

#[cfg(feature = "prometheus-client")]
use prometheus_client::collector::Collector;
#[cfg(feature = "prometheus-client")]
use prometheus_client::encoding::text;

#[cfg(feature = "exporter")]
use crate::collect::{self, CollectorBuilder};
use crate::encode::{Dialect, Encoder};
use crate::exposition::{Format, Plan, ScrapeResponse, PLAIN};
#[cfg(feature = "prometheus-client")]
use crate::family::MetricType;
use crate::names;

/// A set of metric families that is encoded together on a scrape.
///
/// `Registry` is a handle: cloning it is one reference-count increment and every
/// clone sees the same metrics. It wraps a [`prometheus_client::registry::Registry`]
/// (so anything that crate can encode can be registered here) and adds what a
/// service needs on top:
///
/// - registration returns a [`RegistryError`] when a name is taken, instead of
///   silently producing an exposition with two families of one name;
/// - the process registry ([`default_registry`](crate::default_registry)) is created lazily on first use and
///   is what [`HttpMetrics::default`](crate::HttpMetrics::default) and the framework `metrics_handler`s use;
/// - encoding in both Prometheus text formats, see [`Registry::encode`].
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use promhttp::{Format, Registry};
/// use prometheus_client::metrics::counter::Counter;
///
/// let registry = Registry::new();
/// let jobs: Counter = Counter::default();
/// registry.register("jobs", "Jobs processed.", jobs.clone())?;
/// jobs.inc();
///
/// assert_eq!(
///     registry.encode(Format::OpenMetrics)?,
///     "# HELP jobs Jobs processed.\n# TYPE jobs counter\njobs_total 1\n# EOF\n",
/// );
/// // A second family named `jobs` is refused, and says why.
/// let err = registry.register("jobs", "Again.", Counter::<u64>::default()).unwrap_err();
/// assert!(err.to_string().contains("`jobs`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: RwLock<State>,
    /// The encoder's working buffers, reused by the next scrape.
    spare: std::sync::Mutex<crate::encode::Spare>,
    /// The run of the scrape-time collectors under way, which scrapes that start
    /// meanwhile join instead of starting their own.
    #[cfg(feature = "exporter")]
    flight: std::sync::Mutex<Option<Arc<Flight>>>,
    /// Values the layers above keep once per registry (the default HTTP metric
    /// set, the endpoint's failure counters), one of each type.
    singletons: std::sync::Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
}

#[derive(Default)]
struct State {
    /// `prometheus-client` metrics and collectors, encoded by that crate and read
    /// back into the family model on every scrape (the bridge).
    #[cfg(feature = "prometheus-client")]
    bridged: prometheus_client::registry::Registry,
    #[cfg(feature = "prometheus-client")]
    has_bridged: bool,
    /// What writes itself into the encoder, in registration order.
    sources: Vec<SourceEntry>,
    /// Every family name and every sample name taken so far.
    taken: BTreeSet<String>,
    /// Scrape-time collectors, in registration order.
    #[cfg(feature = "exporter")]
    collectors: Vec<Arc<collect::Entry>>,
    next_collector_id: u64,
}

/// Something registered that writes its families into an [`Encoder`] itself on
/// every scrape: the HTTP metric set, the process metrics, the metric types of
/// [`crate::source`] and [`crate::DurationHistogram`].
pub(crate) trait Source: Send + Sync + 'static {
    /// Writes the source's families.
    fn encode(&self, out: &mut Encoder);
}

struct SourceEntry {
    id: u64,
    source: Arc<dyn Source>,
    reserved: Vec<String>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("Registry")
            .field("names", &state.taken)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry, independent of every other.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a metric from `prometheus-client` under `name` (feature
    /// `prometheus-client`, on by default).
    ///
    /// `help` may contain any text: backslashes, quotes and line breaks are escaped
    /// for the exposition, and it is written ending in one full stop (as
    /// `prometheus-client` does). The names the metric will write (for a counter `name_total` and
    /// `name_created`, for a histogram `name_bucket`, `name_sum`, `name_count`) are
    /// checked against everything registered before.
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`] when `name` is not a valid metric name and
    /// [`RegistryError::NameClash`] when it, or a sample name it implies, is taken.
    #[cfg(feature = "prometheus-client")]
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) -> Result<(), RegistryError> {
        // A counter's samples are `name_total`: a name given with `_total` is
        // the family's without it (never `jobs_total_total`).
        let name = match metric.metric_type() {
            prometheus_client::metrics::MetricType::Counter => names::without_total(name),
            _ => name,
        };
        names::check_metric_name(name).map_err(|reason| RegistryError::InvalidName {
            name: name.to_owned(),
            reason,
        })?;
        let taken = sample_names(name, metric.metric_type());
        let mut state = self.write();
        state.reserve(taken)?;
        state.bridged.register(name, escape_help(help), metric);
        state.has_bridged = true;
        Ok(())
    }

    /// Registers a `prometheus-client` [`Collector`] that encodes its own families
    /// on every scrape (feature `prometheus-client`, on by default).
    ///
    /// `names` lists every family and sample name the collector writes, so that a
    /// clash with another registration is an error here rather than a broken
    /// exposition later.
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`] or [`RegistryError::NameClash`], as for
    /// [`Registry::register`]; nothing is registered then.
    #[cfg(feature = "prometheus-client")]
    pub fn register_collector<I, S>(
        &self,
        names: I,
        collector: impl Collector,
    ) -> Result<(), RegistryError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        for name in &names {
            names::check_metric_name(name).map_err(|reason| RegistryError::InvalidName {
                name: name.clone(),
                reason,
            })?;
        }
        let mut state = self.write();
        state.reserve(names)?;
        state.bridged.register_collector(Box::new(collector));
        state.has_bridged = true;
        Ok(())
    }

    /// Registers a source that writes its own families, reserving `names` (every
    /// family and sample name it writes); returns the id that
    /// [`Registry::unregister`] takes.
    pub(crate) fn add_source(
        &self,
        names: Vec<String>,
        source: Arc<dyn Source>,
    ) -> Result<u64, RegistryError> {
        for name in &names {
            names::check_metric_name(name).map_err(|reason| RegistryError::InvalidName {
                name: name.clone(),
                reason,
            })?;
        }
        let mut state = self.write();
        state.reserve(names.clone())?;
        let id = state.next_collector_id;
        state.next_collector_id += 1;
        state.sources.push(SourceEntry {
            id,
            source,
            reserved: names,
        });
        Ok(id)
    }

    /// Starts registering a scrape-time collector named `name` (the value of its
    /// `collector` label); see [`crate::collect`] (feature `exporter`).
    #[cfg(feature = "exporter")]
    pub fn collector(&self, name: &str) -> CollectorBuilder<'_> {
        CollectorBuilder::new(self, name)
    }

    #[cfg(feature = "exporter")]
    pub(crate) fn add_scrape_collector(
        &self,
        mut entry: collect::Entry,
    ) -> Result<u64, RegistryError> {
        let mut state = self.write();
        if state.collectors.iter().any(|e| e.name == entry.name) {
            return Err(RegistryError::DuplicateCollector { name: entry.name });
        }
        if state.collectors.is_empty() {
            let mut own = collect_family_names();
            own.extend(entry.reserved.iter().cloned());
            state.reserve(own)?;
        } else {
            state.reserve(entry.reserved.clone())?;
        }
        let id = state.next_collector_id;
        state.next_collector_id += 1;
        entry.id = id;
        state.collectors.push(Arc::new(entry));
        Ok(id)
    }

    /// Removes the collector or source with this id and frees its names.
    pub(crate) fn unregister(&self, id: u64) {
        let mut state = self.write();
        if let Some(at) = state.sources.iter().position(|e| e.id == id) {
            let entry = state.sources.remove(at);
            for name in &entry.reserved {
                state.taken.remove(name);
            }
        } else {
            #[cfg(feature = "exporter")]
            state.remove_collector(id);
        }
    }

    /// Encodes every registered family in `format`, as text: OpenMetrics or
    /// Prometheus text 0.0.4 (for the protobuf format, see
    /// [`Registry::encode_to`]).
    ///
    /// Scrape-time collectors run during the call (see [`crate::collect`]), so it
    /// may block for up to the longest collector timeout: call it from a thread
    /// that may block (the framework handlers do).
    ///
    /// # Errors
    /// [`EncodeError`] when a registered `prometheus-client` metric or collector
    /// failed to encode, or for [`Format::Protobuf`], which is not text; no partial
    /// output is returned then.
    pub fn encode(&self, format: Format) -> Result<String, EncodeError> {
        if format.dialect() == Dialect::Protobuf {
            return Err(EncodeError);
        }
        let mut out = Vec::new();
        self.encode_to(format, &mut out)?;
        String::from_utf8(out).map_err(|_| EncodeError)
    }

    /// Encodes every registered family in `format` into `out` (cleared first, its
    /// allocation reused), in any of the formats, protobuf included.
    ///
    /// # Errors
    /// As [`Registry::encode`], but every format is accepted.
    pub fn encode_to(&self, format: Format, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let spare = self
            .inner
            .spare
            .try_lock()
            .map(|mut spare| std::mem::take(&mut *spare))
            .unwrap_or_default();
        let mut encoder = Encoder::with_spare(format.dialect(), std::mem::take(out), spare);
        self.write_into(&mut encoder)?;
        let (bytes, spare) = encoder.finish_keeping();
        *out = bytes;
        if let Ok(mut slot) = self.inner.spare.try_lock() {
            *slot = spare;
        }
        Ok(())
    }

    /// Writes every registered family into `encoder`, beside whatever else it
    /// writes: for an answer composed of families from elsewhere and a
    /// registry's (a relay's upstream and its own metrics). Finish the encoder
    /// yourself.
    ///
    /// # Errors
    /// As [`Registry::encode`]; what was written before the failure stays in
    /// the encoder.
    pub fn write_into(&self, encoder: &mut Encoder) -> Result<(), EncodeError> {
        // What is registered, copied out so that no lock is held while it runs.
        let state = self.read();
        #[cfg(feature = "prometheus-client")]
        let bridged = if state.has_bridged {
            let mut openmetrics = String::with_capacity(1024);
            text::encode(&mut openmetrics, &state.bridged).map_err(|_| EncodeError)?;
            Some(openmetrics)
        } else {
            None
        };
        let sources: Vec<Arc<dyn Source>> = state
            .sources
            .iter()
            .map(|e| Arc::clone(&e.source))
            .collect();
        #[cfg(feature = "exporter")]
        let collectors = state.collectors.clone();
        drop(state);

        #[cfg(feature = "prometheus-client")]
        if let Some(openmetrics) = bridged {
            // prometheus-client writes valid OpenMetrics; read back, its families
            // go through the same writers as everything else.
            let families =
                crate::parse::parse_openmetrics(&openmetrics).map_err(|err| {
                    tracing::error!(%err, "promhttp: a prometheus-client metric wrote an exposition that does not parse");
                    EncodeError
                })?;
            for family in &families {
                encoder.write_family(family);
            }
        }
        for source in &sources {
            source.encode(encoder);
        }
        #[cfg(feature = "exporter")]
        if !collectors.is_empty() {
            let collected = self.collect(&collectors);
            collected.write(&collectors, encoder);
            // The last scrape to serve a run hands its samples back for reuse.
            if let Some(collected) = Arc::into_inner(collected) {
                collect::recycle(&collectors, collected);
            }
        }
        Ok(())
    }

    /// Runs the scrape-time collectors, or joins the run another scrape started
    /// and shares its families (as client_golang coalesces concurrent gathers): two
    /// scrapes that overlap (a pair of Prometheus servers, curl during a scrape)
    /// run each collector once, and neither finds it busy.
    #[cfg(feature = "exporter")]
    fn collect(&self, collectors: &[Arc<collect::Entry>]) -> Arc<collect::Collected> {
        let (flight, leader) = {
            let mut slot = self
                .inner
                .flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match &*slot {
                Some(flight) => {
                    flight
                        .waiters
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    (Arc::clone(flight), false)
                }
                None => {
                    let flight = Arc::new(Flight::default());
                    *slot = Some(Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if !leader {
            return flight.wait();
        }
        // Published however the run ends, so that no joined scrape waits forever.
        let mut publish = Publish {
            registry: self,
            flight: &flight,
            families: None,
        };
        let families = Arc::new(collect::run(collectors));
        publish.families = Some(Arc::clone(&families));
        drop(publish);
        families
    }

    /// Whether `self` and `other` are handles on the same registry.
    #[must_use]
    pub fn same_as(&self, other: &Registry) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The registry's one value of type `T`, made by `init` on first use: what a
    /// layer above keeps once per registry (the default HTTP metric set, the
    /// endpoint's failure counters). Concurrent first uses wait for one `init`.
    pub(crate) fn singleton<T: Clone + Send + Sync + 'static>(
        &self,
        init: impl FnOnce() -> T,
    ) -> T {
        let mut slots = self
            .inner
            .singletons
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = slots.iter().find_map(|slot| slot.downcast_ref::<T>()) {
            return value.clone();
        }
        let value = init();
        slots.push(Arc::new(value.clone()));
        value
    }

    /// How many samples each scrape-time collector keeps for its next
    /// collection to write over.
    #[cfg(all(test, feature = "exporter"))]
    pub(crate) fn collector_pools(&self) -> Vec<usize> {
        self.read()
            .collectors
            .iter()
            .map(|e| e.pool_len())
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Registry {
    /// Answers a scrape of this registry, here and now.
    ///
    /// `method` is the request method and `accept` the raw `Accept` header. `GET`
    /// gets the exposition in the negotiated format (see
    /// [`ContentType::negotiate`](crate::ContentType::negotiate)); `HEAD` the same status and headers with an
    /// empty body, the `GET` body's length in
    /// [`ScrapeResponse::content_length`] (so it is encoded too); any other method `405` with
    /// `Allow: GET, HEAD`; an `Accept` header that accepts no format promhttp
    /// serves `406`; a collector that fails to encode `500`. None of these
    /// panics. The body is not compressed: a [`MetricsEndpoint`](crate::MetricsEndpoint)
    /// compresses, limits and times scrapes.
    #[must_use]
    pub fn scrape(&self, method: &str, accept: Option<&[u8]>) -> ScrapeResponse {
        let plan = match Plan::of(method, accept, None, None) {
            Ok(plan) => plan,
            Err(refusal) => return refusal,
        };
        self.encode_answer(&plan, usize::MAX)
    }

    /// The answer to a planned `GET`: the encoded body, or `500`.
    pub(crate) fn encode_answer(&self, plan: &Plan, threshold: usize) -> ScrapeResponse {
        let mut body = Vec::new();
        match self.encode_to(plan.content_type.format, &mut body) {
            Ok(()) => plan.answer(body, threshold),
            Err(err) => ScrapeResponse {
                status: 500,
                content_type: PLAIN,
                body: format!("500 Internal Server Error: {err}\n").into_bytes(),
                headers: Vec::new(),
                content_length: None,
            },
        }
    }
}

/// One run of the collectors and the scrapes waiting for it.
#[cfg(feature = "exporter")]
#[derive(Default)]
struct Flight {
    families: std::sync::Mutex<Option<Arc<collect::Collected>>>,
    done: std::sync::Condvar,
    /// Scrapes that joined the run (for tests).
    waiters: std::sync::atomic::AtomicUsize,
}

#[cfg(feature = "exporter")]
impl Flight {
    fn wait(&self) -> Arc<collect::Collected> {
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(families) = &*families {
                return Arc::clone(families);
            }
            families = self
                .done
                .wait(families)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Ends a run: hands its families (none if it unwound) to the scrapes that
/// joined it and clears the way for the next run.
#[cfg(feature = "exporter")]
struct Publish<'a> {
    registry: &'a Registry,
    flight: &'a Arc<Flight>,
    families: Option<Arc<collect::Collected>>,
}

#[cfg(feature = "exporter")]
impl Drop for Publish<'_> {
    fn drop(&mut self) {
        *self
            .registry
            .inner
            .flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .flight
            .families
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(self.families.take().unwrap_or_default());
        self.flight.done.notify_all();
    }
}

impl State {
    /// Removes the scrape-time collector with this id and frees its names; with
    /// the last collector, the names of the collectors' own families too.
    #[cfg(feature = "exporter")]
    fn remove_collector(&mut self, id: u64) {
        let Some(at) = self.collectors.iter().position(|e| e.id == id) else {
            return;
        };
        let entry = self.collectors.remove(at);
        for name in &entry.reserved {
            self.taken.remove(name);
        }
        if self.collectors.is_empty() {
            for name in collect_family_names() {
                self.taken.remove(&name);
            }
        }
    }

    fn reserve(&mut self, names: Vec<String>) -> Result<(), RegistryError> {
        let mut seen = BTreeSet::new();
        for name in &names {
            if self.taken.contains(name) || !seen.insert(name.as_str()) {
                return Err(RegistryError::NameClash { name: name.clone() });
            }
        }
        self.taken.extend(names);
        Ok(())
    }
}

#[cfg(feature = "exporter")]
fn collect_family_names() -> Vec<String> {
    let mut names = crate::family::MetricType::Counter.sample_names(collect::COLLECTOR_ERRORS);
    names.push(collect::COLLECTOR_DURATION.to_owned());
    names
}

/// The family name and every sample name a `prometheus-client` metric of
/// `metric_type` called `name` writes.
#[cfg(feature = "prometheus-client")]
fn sample_names(name: &str, metric_type: prometheus_client::metrics::MetricType) -> Vec<String> {
    use prometheus_client::metrics::MetricType as Client;
    let family_type = match metric_type {
        Client::Counter => MetricType::Counter,
        Client::Gauge => MetricType::Gauge,
        Client::Histogram => MetricType::Histogram,
        Client::Info => MetricType::Info,
        _ => MetricType::Unknown,
    };
    family_type.sample_names(name)
}

/// Escapes `help` for OpenMetrics; `prometheus-client` appends the full stop.
#[cfg(feature = "prometheus-client")]
fn escape_help(help: &str) -> String {
    let help = help.strip_suffix('.').unwrap_or(help);
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

/// A registered collector or family source; [`CollectorHandle::unregister`]
/// takes it out again. Dropping the handle leaves it registered.
#[derive(Debug)]
pub struct CollectorHandle {
    registry: Registry,
    id: u64,
}

impl CollectorHandle {
    pub(crate) fn new(registry: Registry, id: u64) -> Self {
        Self { registry, id }
    }

    /// Removes the collector (or source) from its registry and frees its names.
    pub fn unregister(self) {
        self.registry.unregister(self.id);
    }
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name, or a sample name it implies, is already registered.
    NameClash {
        /// The name that is taken.
        name: String,
    },
    /// A scrape-time collector of this name is registered already.
    DuplicateCollector {
        /// The collector's name.
        name: String,
    },
    /// The name breaks the Prometheus naming rules.
    InvalidName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A family declared for a collector cannot be one (it has samples, or its
    /// unit does not end its name).
    InvalidFamily {
        /// The family's name.
        name: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NameClash { name } => write!(
                f,
                "the metric name `{name}` is already registered in this registry; \
                 choose another name or prefix, or register into a separate Registry"
            ),
            Self::DuplicateCollector { name } => write!(
                f,
                "a collector named {name:?} is already registered in this registry"
            ),
            Self::InvalidName { name, reason } => {
                write!(f, "invalid metric name {name:?}: {reason}")
            }
            Self::InvalidFamily { name, reason } => {
                write!(f, "invalid family declaration `{name}`: {reason}")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// A registered metric or collector failed to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeError;

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a registered metric or collector failed to encode")
    }
}

impl std::error::Error for EncodeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    #[test]
    fn refuses_sample_name_implied_by_an_earlier_counter() {
        let registry = Registry::new();
        registry
            .register("requests", "Requests.", Counter::<u64>::default())
            .unwrap();
        let err = registry
            .register("requests_total", "Clash.", Gauge::<i64>::default())
            .unwrap_err();
        assert_eq!(
            err,
            RegistryError::NameClash {
                name: "requests_total".into()
            }
        );
    }

    #[test]
    fn a_counter_named_with_total_is_written_once_with_it() {
        let registry = Registry::new();
        let jobs = Counter::<u64>::default();
        registry
            .register("jobs_total", "Jobs.", jobs.clone())
            .unwrap();
        jobs.inc_by(3);
        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert!(text.contains("# TYPE jobs counter\n"), "{text}");
        assert!(text.contains("jobs_total 3\n"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
        // The same family under its other spelling is a clash.
        let err = registry
            .register("jobs", "Again.", Counter::<u64>::default())
            .unwrap_err();
        assert_eq!(
            err,
            RegistryError::NameClash {
                name: "jobs".into()
            }
        );
        // A gauge keeps its name as given.
        registry
            .register("queue_total", "A gauge.", Gauge::<i64>::default())
            .unwrap();
        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert!(text.contains("# TYPE queue_total gauge\n"), "{text}");
    }

    #[test]
    fn refused_registration_leaves_registry_unchanged() {
        let registry = Registry::new();
        registry
            .register("a", "A.", Gauge::<i64>::default())
            .unwrap();
        let before = registry.encode(Format::OpenMetrics).unwrap();
        assert!(registry
            .register_collector(["b", "a"], NoopCollector)
            .is_err());
        assert_eq!(registry.encode(Format::OpenMetrics).unwrap(), before);
        // `b` was not reserved by the refused call.
        registry
            .register("b", "B.", Gauge::<i64>::default())
            .unwrap();
    }

    #[test]
    fn invalid_names_are_errors() {
        let registry = Registry::new();
        for bad in ["", "1abc", "a-b", "a b", "é"] {
            let err = registry
                .register(bad, "x", Gauge::<i64>::default())
                .unwrap_err();
            assert!(matches!(err, RegistryError::InvalidName { .. }), "{bad:?}");
        }
    }

    #[test]
    fn help_with_line_breaks_is_escaped() {
        let registry = Registry::new();
        registry
            .register("g", "two\nlines \\ and \"quotes\"", Gauge::<i64>::default())
            .unwrap();
        let out = registry.encode(Format::OpenMetrics).unwrap();
        assert!(
            out.starts_with("# HELP g two\\nlines \\\\ and \\\"quotes\\\".\n"),
            "{out}"
        );
        let out = registry.encode(Format::Text).unwrap();
        assert!(
            out.starts_with("# HELP g two\\nlines \\\\ and \"quotes\".\n"),
            "{out}"
        );
    }

    #[test]
    fn overlapping_scrapes_share_one_run_of_the_collectors() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::mpsc;
        let registry = Registry::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let (started_tx, started) = mpsc::channel::<()>();
        let (release, release_rx) = mpsc::channel::<()>();
        let (started_tx, release_rx) = (
            std::sync::Mutex::new(started_tx),
            std::sync::Mutex::new(release_rx),
        );
        let counted = Arc::clone(&calls);
        registry
            .collector("slow")
            .family(crate::family::MetricFamily::gauge("slow_value", ""))
            .register(move |out: &mut crate::collect::Families| {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = started_tx.lock().unwrap().send(());
                let _ = release_rx.lock().unwrap().recv();
                out.family("slow_value")?.add_gauge([("k", "v")], 1.0);
                Ok(())
            })
            .unwrap();
        let scrape = || registry.encode(Format::OpenMetrics).unwrap();
        let (first, second) = std::thread::scope(|s| {
            let first = s.spawn(scrape);
            started.recv().unwrap();
            let second = s.spawn(scrape);
            // Wait until the second scrape has joined the first's run (no clock
            // involved; the bound only turns a regression into a failure).
            let joined = (0..50_000_000).any(|_| {
                let slot = registry.inner.flight.lock().unwrap().clone();
                let joined = slot.is_some_and(|f| f.waiters.load(Ordering::Relaxed) == 1);
                if !joined {
                    std::thread::yield_now();
                }
                joined
            });
            assert!(joined, "the second scrape did not join the run under way");
            release.send(()).unwrap();
            (first.join().unwrap(), second.join().unwrap())
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the collector ran once");
        for out in [&first, &second] {
            assert!(out.contains("slow_value{k=\"v\"} 1\n"), "{out}");
            assert!(
                out.contains("promhttp_collector_errors_total{collector=\"slow\"} 0\n"),
                "{out}"
            );
        }
        // The next scrape runs the collector again.
        release.send(()).unwrap();
        let third = scrape();
        assert!(third.contains("slow_value{k=\"v\"} 1\n"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[derive(Debug)]
    struct NoopCollector;
    impl Collector for NoopCollector {
        fn encode(
            &self,
            _: prometheus_client::encoding::DescriptorEncoder<'_>,
        ) -> Result<(), std::fmt::Error> {
            Ok(())
        }
    }
}
