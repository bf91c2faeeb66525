//! The exporter toolkit's metric types (feature `exporter`): [`StateSet`],
//! [`Info`], [`MirroredCounter`] and [`SyncedGaugeFamily`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use super::FamilySource;
use crate::encode::{Descriptor, Encoder};
use crate::family::{unix_now as now_seconds, unix_seconds, MetricType};
use crate::names;

/// An enum as a metric: one 0/1 series per state, at most one of them 1.
#[derive(Clone)]
pub struct StateSet {
    inner: Arc<StateSetInner>,
}

struct StateSetInner {
    states: Vec<String>,
    /// The index of the state in force; `usize::MAX` for none.
    current: AtomicUsize,
}

impl fmt::Debug for StateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateSet")
            .field("states", &self.inner.states)
            .field("current", &self.get())
            .finish()
    }
}

impl StateSet {
    /// A state set over `states`, none of them in force yet (all series 0).
    pub fn new<S: Into<String>>(states: impl IntoIterator<Item = S>) -> Self {
        Self {
            inner: Arc::new(StateSetInner {
                states: states.into_iter().map(Into::into).collect(),
                current: AtomicUsize::new(usize::MAX),
            }),
        }
    }

    /// Puts `state` in force (and every other state out).
    ///
    /// # Errors
    /// [`UnknownState`] when `state` is not one of the set's; nothing changes then.
    pub fn set(&self, state: &str) -> Result<(), UnknownState> {
        let i = self
            .inner
            .states
            .iter()
            .position(|s| s == state)
            .ok_or_else(|| UnknownState {
                state: state.to_owned(),
                states: self.inner.states.clone(),
            })?;
        self.inner.current.store(i, Ordering::Relaxed);
        Ok(())
    }

    /// Puts no state in force: every series 0.
    pub fn clear(&self) {
        self.inner.current.store(usize::MAX, Ordering::Relaxed);
    }

    /// The state in force, if any.
    #[must_use]
    pub fn get(&self) -> Option<&str> {
        self.inner
            .states
            .get(self.inner.current.load(Ordering::Relaxed))
            .map(String::as_str)
    }
}

impl FamilySource for StateSet {
    fn metric_type(&self) -> MetricType {
        MetricType::StateSet
    }

    fn encode(&self, descriptor: &Descriptor<'_>, out: &mut Encoder) {
        out.family(descriptor);
        let current = self.inner.current.load(Ordering::Relaxed);
        let states = self.inner.states.iter().enumerate();
        out.stateset(&(), states.map(|(i, s)| (s.as_str(), i == current)));
    }
}

/// A state that is not one of a [`StateSet`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// The state asked for.
    pub state: String,
    /// The set's states.
    pub states: Vec<String>,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown state {:?}; the states are {:?}",
            self.state, self.states
        )
    }
}

impl std::error::Error for UnknownState {}

/// Constant key/value data, such as a version: `name_info{version="1.2"} 1`.
#[derive(Debug, Clone)]
pub struct Info {
    labels: Arc<Vec<(String, String)>>,
}

impl Info {
    /// An info metric with these labels.
    ///
    /// # Errors
    /// A label name that breaks the naming rules, or repeats.
    pub fn new<K: Into<String>, V: Into<String>>(
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, LabelError> {
        let labels: Vec<(String, String)> = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        for (i, (name, _)) in labels.iter().enumerate() {
            check_label(name)?;
            if labels[..i].iter().any(|(n, _)| n == name) {
                return Err(LabelError {
                    name: name.clone(),
                    reason: "the label name repeats",
                });
            }
        }
        Ok(Self {
            labels: Arc::new(labels),
        })
    }
}

impl FamilySource for Info {
    fn metric_type(&self) -> MetricType {
        MetricType::Info
    }

    fn encode(&self, descriptor: &Descriptor<'_>, out: &mut Encoder) {
        out.family(descriptor);
        out.info(&*self.labels);
    }
}

/// A label name that breaks the naming rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    /// The label name.
    pub name: String,
    /// The rule broken.
    pub reason: &'static str,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "label {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for LabelError {}

fn check_label(name: &str) -> Result<(), LabelError> {
    names::check_label_name(name).map_err(|reason| LabelError {
        name: name.to_owned(),
        reason,
    })
}

/// A counter whose value is read from another system (a counter another process
/// keeps, a total in an API's JSON).
///
/// [`MirroredCounter::set`] takes the other system's current value and, if it
/// knows it, when that count started. A value that goes down is a reset of the
/// other system (a restart): the counter takes the new value and a new `_created`,
/// so `rate()` sees a reset, never a negative increment. A new start time with a
/// value that did not go down is a reset too (the other side restarted and counted
/// past the old value between two reads).
///
/// ```
/// # mod promhttp { pub use promhttp_core::*; }
/// use std::time::{Duration, UNIX_EPOCH};
/// use promhttp::source::{MirroredCounter, Mirrored};
///
/// let launched = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let requests = MirroredCounter::new();
/// assert_eq!(requests.set(10.0, Some(launched))?, Mirrored::Advanced);
/// assert_eq!(requests.set(25.0, Some(launched))?, Mirrored::Advanced);
/// assert_eq!(requests.set(3.0, None)?, Mirrored::Reset); // it restarted
/// assert_eq!(requests.get(), 3.0);
/// assert!(requests.set(-1.0, None).is_err()); // refused, nothing changes
/// assert_eq!(requests.get(), 3.0);
/// # Ok::<(), promhttp::source::MirrorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MirroredCounter {
    inner: Arc<Mutex<Mirror>>,
}

#[derive(Debug, Clone, Copy)]
struct Mirror {
    value: f64,
    /// Seconds since the Unix epoch.
    created: f64,
    /// The other system's start time as it last reported it.
    launched: Option<f64>,
}

/// What [`MirroredCounter::set`] made of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    /// The value went up or stayed.
    Advanced,
    /// The other system restarted: new value, new `_created`.
    Reset,
}

/// A value a counter cannot take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MirrorError {
    /// The value refused.
    pub value: f64,
}

impl fmt::Display for MirrorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a counter cannot be {}: it must be finite and not negative",
            self.value
        )
    }
}

impl std::error::Error for MirrorError {}

impl Default for MirroredCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl MirroredCounter {
    /// A counter at 0, created now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Mirror {
                value: 0.0,
                created: now_seconds(),
                launched: None,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the other system's current `value` and, if known, when it started
    /// counting; see the type's docs.
    ///
    /// # Errors
    /// [`MirrorError`] for a negative, infinite or NaN value; nothing changes then.
    pub fn set(&self, value: f64, created: Option<SystemTime>) -> Result<Mirrored, MirrorError> {
        if !value.is_finite() || value < 0.0 {
            return Err(MirrorError { value });
        }
        let given = created.map(unix_seconds);
        let mut m = self.lock();
        let relaunched = matches!((given, m.launched), (Some(g), Some(l)) if g != l);
        let outcome = if value < m.value || relaunched {
            // A start time we have not seen is the reset's own; otherwise the
            // reset happened some time since the last read: now is the best bound.
            m.created = given.filter(|_| relaunched).unwrap_or_else(now_seconds);
            Mirrored::Reset
        } else {
            if let (Some(g), None) = (given, m.launched) {
                m.created = g;
            }
            Mirrored::Advanced
        };
        m.value = value;
        m.launched = given.or(m.launched);
        Ok(outcome)
    }

    /// The current value.
    #[must_use]
    pub fn get(&self) -> f64 {
        self.lock().value
    }

    /// When the current count started, in seconds since the Unix epoch (the `_created`
    /// sample).
    #[must_use]
    pub fn created(&self) -> f64 {
        self.lock().created
    }
}

impl FamilySource for MirroredCounter {
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn encode(&self, descriptor: &Descriptor<'_>, out: &mut Encoder) {
        let m = *self.lock();
        out.family(descriptor);
        out.counter(&(), m.value, Some(m.created), None);
    }
}

/// A labelled gauge family whose series follow the source: [`replace`] sets exactly
/// the series given, so one that is no longer reported (a pod that is gone) is
/// removed rather than left behind with its last value.
///
/// [`replace`]: SyncedGaugeFamily::replace
#[derive(Debug, Clone)]
pub struct SyncedGaugeFamily {
    inner: Arc<SyncedInner>,
}

#[derive(Debug)]
struct SyncedInner {
    label_names: Vec<String>,
    series: RwLock<BTreeMap<Vec<String>, f64>>,
}

/// Label values that do not fit a [`SyncedGaugeFamily`]'s label names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelCountError {
    /// How many label names the family has.
    pub expected: usize,
    /// How many values were given.
    pub got: usize,
}

impl fmt::Display for LabelCountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} label values given for a family with {} label names",
            self.got, self.expected
        )
    }
}

impl std::error::Error for LabelCountError {}

impl SyncedGaugeFamily {
    /// An empty family with these label names.
    ///
    /// # Errors
    /// A label name that breaks the naming rules, or repeats.
    pub fn new<S: Into<String>>(
        label_names: impl IntoIterator<Item = S>,
    ) -> Result<Self, LabelError> {
        let label_names: Vec<String> = label_names.into_iter().map(Into::into).collect();
        for (i, name) in label_names.iter().enumerate() {
            check_label(name)?;
            if label_names[..i].contains(name) {
                return Err(LabelError {
                    name: name.clone(),
                    reason: "the label name repeats",
                });
            }
        }
        Ok(Self {
            inner: Arc::new(SyncedInner {
                label_names,
                series: RwLock::new(BTreeMap::new()),
            }),
        })
    }

    fn key<S: AsRef<str>>(
        &self,
        values: impl IntoIterator<Item = S>,
    ) -> Result<Vec<String>, LabelCountError> {
        let key: Vec<String> = values.into_iter().map(|v| v.as_ref().to_owned()).collect();
        if key.len() == self.inner.label_names.len() {
            Ok(key)
        } else {
            Err(LabelCountError {
                expected: self.inner.label_names.len(),
                got: key.len(),
            })
        }
    }

    /// Makes the family exactly `series`: (label values, value) pairs in the order of
    /// the label names. Series not among them are removed; a repeated label set keeps
    /// its last value.
    ///
    /// # Errors
    /// [`LabelCountError`] when some label values do not match the label names;
    /// the family is left as it was then.
    pub fn replace<I, L, S>(&self, series: I) -> Result<(), LabelCountError>
    where
        I: IntoIterator<Item = (L, f64)>,
        L: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut next = BTreeMap::new();
        for (values, value) in series {
            next.insert(self.key(values)?, value);
        }
        *self
            .inner
            .series
            .write()
            .unwrap_or_else(PoisonError::into_inner) = next;
        Ok(())
    }

    /// Sets one series, adding it if new.
    ///
    /// # Errors
    /// [`LabelCountError`] when the label values do not match the label names.
    pub fn set<S: AsRef<str>>(
        &self,
        values: impl IntoIterator<Item = S>,
        value: f64,
    ) -> Result<(), LabelCountError> {
        let key = self.key(values)?;
        self.inner
            .series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, value);
        Ok(())
    }

    /// Removes one series; whether it was there.
    pub fn remove<S: AsRef<str>>(&self, values: impl IntoIterator<Item = S>) -> bool {
        let Ok(key) = self.key(values) else {
            return false;
        };
        self.inner
            .series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .is_some()
    }

    /// Removes every series.
    pub fn clear(&self) {
        self.inner
            .series
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// How many series there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether there are no series.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FamilySource for SyncedGaugeFamily {
    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }

    fn encode(&self, descriptor: &Descriptor<'_>, out: &mut Encoder) {
        out.family(descriptor);
        let series = self
            .inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for (values, &value) in series.iter() {
            let labels = Zipped {
                names: &self.inner.label_names,
                values,
            };
            out.gauge(&labels, value);
        }
    }
}

/// Label names and values side by side.
struct Zipped<'a> {
    names: &'a [String],
    values: &'a [String],
}

impl crate::encode::LabelSet for Zipped<'_> {
    fn visit(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.names.iter().zip(self.values) {
            f(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_counter_registered_with_total_is_written_once_with_it() {
        let registry = crate::Registry::new();
        let c = MirroredCounter::new();
        registry
            .register_family("events_total", "Events.", c.clone())
            .unwrap();
        c.set(5.0, None).unwrap();
        let text = registry.encode(crate::Format::OpenMetrics).unwrap();
        assert!(text.contains("# TYPE events counter\n"), "{text}");
        assert!(text.contains("events_total 5\n"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn mirrored_counter_resets() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let t1 = UNIX_EPOCH + Duration::from_secs(2000);
        let c = MirroredCounter::new();
        assert_eq!(c.set(5.0, Some(t0)).unwrap(), Mirrored::Advanced);
        assert_eq!(c.created(), 1000.0);
        // A new start time is a reset even though the value went up.
        assert_eq!(c.set(9.0, Some(t1)).unwrap(), Mirrored::Reset);
        assert_eq!(c.created(), 2000.0);
        // Down with the same start time: a reset all the same; created moves to now.
        assert_eq!(c.set(1.0, Some(t1)).unwrap(), Mirrored::Reset);
        assert!(c.created() > 2000.0);
        let reset_at = c.created();
        assert_eq!(c.set(4.0, Some(t1)).unwrap(), Mirrored::Advanced);
        assert_eq!(c.created(), reset_at);
        // Down without a start time.
        assert_eq!(c.set(2.0, None).unwrap(), Mirrored::Reset);
        for bad in [f64::NAN, f64::INFINITY, -0.5] {
            assert!(c.set(bad, None).is_err());
        }
        assert_eq!(c.get(), 2.0);
    }

    #[test]
    fn state_set_refuses_unknown_states() {
        let s = StateSet::new(["a", "b"]);
        assert_eq!(s.get(), None);
        s.set("b").unwrap();
        let err = s.set("c").unwrap_err();
        assert!(err.to_string().contains("\"c\""));
        assert_eq!(s.get(), Some("b"));
    }

    #[test]
    fn synced_family_refuses_wrong_label_counts_and_keeps_its_series() {
        let f = SyncedGaugeFamily::new(["pod", "namespace"]).unwrap();
        f.replace([(["a", "x"], 1.0)]).unwrap();
        let err = f
            .replace([(vec!["b", "y"], 1.0), (vec!["c"], 2.0)])
            .unwrap_err();
        assert_eq!(
            err,
            LabelCountError {
                expected: 2,
                got: 1
            }
        );
        assert_eq!(f.len(), 1);
        assert!(f.remove(["a", "x"]));
        assert!(f.is_empty());
        assert!(SyncedGaugeFamily::new(["le", "le"]).is_err());
        assert!(SyncedGaugeFamily::new(["__x"]).is_err());
        assert!(Info::new([("a-b", "x")]).is_err());
    }
}
