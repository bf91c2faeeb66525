//! Lock-free storage of the series of one metric set.
//!
//! A route has one lazily created [`MethodSeries`] per method; a method holds the
//! in-flight gauge and one [`Series`] per status. A series is found by a scan of 16
//! write-once slots, so recording into an existing series takes no lock and
//! allocates nothing; a route that sees more than 16 statuses for one method keeps
//! the rest in an overflow list read under a shared lock.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use super::{HttpMethod, UNMATCHED_ROUTE};
use crate::histogram::{Cells, CellsSnapshot};

const INLINE_STATUSES: usize = 16;

pub(crate) struct RouteEntry {
    /// The `route` label value.
    pub(crate) route: Arc<str>,
    pub(crate) unmatched: bool,
    pub(crate) ignored: bool,
    bounds_ns: Arc<[u64]>,
    methods: [OnceLock<Box<MethodSeries>>; 10],
}

impl RouteEntry {
    pub(crate) fn new(route: Arc<str>, ignored: bool, bounds_ns: Arc<[u64]>) -> Self {
        Self {
            unmatched: false,
            route,
            ignored,
            bounds_ns,
            methods: Default::default(),
        }
    }

    pub(crate) fn unmatched(bounds_ns: Arc<[u64]>) -> Self {
        Self {
            unmatched: true,
            ..Self::new(UNMATCHED_ROUTE.into(), false, bounds_ns)
        }
    }

    #[inline]
    pub(crate) fn method(&self, method: HttpMethod) -> MethodRef<'_> {
        let series = self.methods[method.index()].get_or_init(Default::default);
        MethodRef {
            series,
            bounds_ns: &self.bounds_ns,
        }
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
    statuses: [OnceLock<Series>; INLINE_STATUSES],
    overflow: RwLock<Vec<Series>>,
}

impl MethodSeries {
    pub(crate) fn in_flight(&self) -> i64 {
        self.in_flight.load(Relaxed)
    }

    /// Calls `f` with every series, in no particular order.
    pub(crate) fn for_each_series(&self, mut f: impl FnMut(&Series)) {
        self.statuses
            .iter()
            .filter_map(OnceLock::get)
            .for_each(&mut f);
        self.overflow
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .for_each(f);
    }
}

pub(crate) struct MethodRef<'a> {
    series: &'a MethodSeries,
    bounds_ns: &'a Arc<[u64]>,
}

impl MethodRef<'_> {
    #[inline]
    pub(crate) fn request_started(&self) {
        self.series.in_flight.fetch_add(1, Relaxed);
    }

    #[inline]
    pub(crate) fn request_finished(&self, status: u16, nanos: u64) {
        self.with_series(status, |series| series.observe(self.bounds_ns, nanos));
        self.series.in_flight.fetch_sub(1, Relaxed);
    }

    #[inline]
    fn with_series(&self, status: u16, f: impl FnOnce(&Series)) {
        let new = || Series::new(status, self.bounds_ns.len());
        for slot in &self.series.statuses {
            // Slots fill in order and never change once set, so a status can only
            // ever live in the first slot that was free when it was first seen.
            let series = match slot.get() {
                Some(series) => series,
                None => slot.get_or_init(new),
            };
            if series.status == status {
                return f(series);
            }
        }
        self.with_overflow_series(status, f);
    }

    #[cold]
    fn with_overflow_series(&self, status: u16, f: impl FnOnce(&Series)) {
        let overflow = &self.series.overflow;
        {
            let list = overflow.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = list.iter().find(|s| s.status == status) {
                return f(series);
            }
        }
        let mut list = overflow.write().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|s| s.status == status) {
            list.push(Series::new(status, self.bounds_ns.len()));
        }
        if let Some(series) = list.iter().find(|s| s.status == status) {
            f(series);
        }
    }
}

/// One (method, route, status) series: the histogram whose count is also the
/// request counter.
pub(crate) struct Series {
    pub(crate) status: u16,
    cells: Cells,
}

/// One consistent reading of a [`Series`]: `+Inf`, `_count` and
/// `requests_total` are all `cells.count`.
pub(crate) struct SeriesSnapshot {
    pub(crate) status: u16,
    pub(crate) cells: CellsSnapshot,
}

impl Series {
    fn new(status: u16, bounds: usize) -> Self {
        Self {
            status,
            cells: Cells::new(bounds),
        }
    }

    #[inline]
    fn observe(&self, bounds_ns: &[u64], nanos: u64) {
        self.cells.observe(bounds_ns, nanos);
    }

    pub(crate) fn snapshot(&self) -> SeriesSnapshot {
        SeriesSnapshot {
            status: self.status,
            cells: self.cells.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_has_one_series_also_past_the_inline_slots() {
        let entry = RouteEntry::new("/r".into(), false, Arc::from([10u64, 20]));
        let method = entry.method(HttpMethod::Get);
        for round in 0..3 {
            for status in 100..140u16 {
                method.request_started();
                method.request_finished(status, u64::from(status) % 30);
            }
            let mut seen = Vec::new();
            entry.methods[0]
                .get()
                .unwrap()
                .for_each_series(|s| seen.push((s.status, s.snapshot().cells.count)));
            seen.sort_unstable();
            let expected: Vec<_> = (100..140u16).map(|s| (s, round + 1)).collect();
            assert_eq!(seen, expected);
        }
        assert_eq!(entry.methods[0].get().unwrap().in_flight(), 0);
    }
}
