//! The route table: route template to [`RouteEntry`], read without locks.
//!
//! An open-addressing table of write-once slots probed in a fixed order, so a
//! lookup of a known route is a hash and a few atomic loads. A route is placed in
//! the first slot of its probe sequence that was free when it was first seen; as
//! slots never change once set, no route can ever occupy two slots. When every
//! slot of a probe sequence is taken, the route goes to a map behind a
//! read-mostly lock. Each new route takes a ticket from the set's [`Limits`].

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use super::series::{Limits, RouteEntry};

const SLOTS: usize = 512;
const PROBES: usize = 16;

pub(crate) struct RouteTable {
    slots: Box<[OnceLock<Arc<RouteEntry>>]>,
    more: RwLock<HashMap<Box<str>, Arc<RouteEntry>>>,
}

impl Default for RouteTable {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            more: RwLock::default(),
        }
    }
}

impl RouteTable {
    /// The entry for `route`, made by `new` the first time the route is seen if
    /// `limits` has room for one more route; `None` when it has not.
    #[inline]
    pub(crate) fn get_or_insert(
        &self,
        route: &str,
        limits: &Limits,
        new: impl Fn() -> RouteEntry,
    ) -> Option<Arc<RouteEntry>> {
        let start = hash(route.as_bytes());
        for probe in 0..PROBES {
            let slot = &self.slots[(start.wrapping_add(probe)) % SLOTS];
            let entry = match slot.get() {
                Some(entry) => entry,
                None => {
                    if !limits.take_route() {
                        return slot.get().filter(|e| *e.route == *route).cloned();
                    }
                    let mut created = false;
                    let entry = slot.get_or_init(|| {
                        created = true;
                        Arc::new(new())
                    });
                    if !created {
                        limits.give_back_route();
                    }
                    entry
                }
            };
            if *entry.route == *route {
                return Some(Arc::clone(entry));
            }
        }
        self.more_entry(route, limits, new)
    }

    #[cold]
    fn more_entry(
        &self,
        route: &str,
        limits: &Limits,
        new: impl Fn() -> RouteEntry,
    ) -> Option<Arc<RouteEntry>> {
        if let Some(entry) = self
            .more
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return Some(Arc::clone(entry));
        }
        let mut more = self.more.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = more.get(route) {
            return Some(Arc::clone(entry));
        }
        if !limits.take_route() {
            return None;
        }
        let entry = Arc::new(new());
        more.insert(route.into(), Arc::clone(&entry));
        Some(entry)
    }

    /// Every entry, in no particular order.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> Vec<Arc<RouteEntry>> {
        let mut out = Vec::new();
        self.entries_into(&mut out);
        out
    }

    /// Appends every entry to `out`, in no particular order.
    pub(crate) fn entries_into(&self, out: &mut Vec<Arc<RouteEntry>>) {
        out.extend(self.slots.iter().filter_map(OnceLock::get).cloned());
        out.extend(
            self.more
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
    }
}

/// FxHash over the bytes, eight at a time: fast for short keys, and the table
/// needs no resistance to chosen collisions (a full probe sequence only moves a
/// route to the overflow map).
#[inline]
fn hash(bytes: &[u8]) -> usize {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    (h >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_has_one_entry_also_in_the_overflow() {
        let table = RouteTable::default();
        let limits = Arc::new(Limits::new(
            10_000,
            Arc::from([1u64]),
            "x".into(),
            false,
            None,
        ));
        let routes: Vec<String> = (0..2000).map(|i| format!("/r/{i}")).collect();
        for _ in 0..2 {
            for route in &routes {
                let entry = table
                    .get_or_insert(route, &limits, || {
                        RouteEntry::new(route.as_str().into(), false, Arc::clone(&limits))
                    })
                    .unwrap();
                assert_eq!(&*entry.route, route.as_str());
            }
        }
        let mut seen: Vec<String> = table
            .entries()
            .iter()
            .map(|e| e.route.to_string())
            .collect();
        seen.sort();
        let mut expected = routes.clone();
        expected.sort();
        assert_eq!(seen, expected);
    }
    #[test]
    fn routes_spread_over_the_slots() {
        // A realistic service's routes are all found by their hash in the
        // lock-free slots; none needs the locked map.
        let table = RouteTable::default();
        let limits = Arc::new(Limits::new(
            10_000,
            Arc::from([1u64]),
            "x".into(),
            false,
            None,
        ));
        for i in 0..256 {
            let route = format!("/api/v1/resource{i}/{{id}}");
            let entry = table
                .get_or_insert(&route, &limits, || {
                    RouteEntry::new(route.as_str().into(), false, Arc::clone(&limits))
                })
                .unwrap();
            assert_eq!(&*entry.route, route.as_str());
        }
        let in_map = table.more.read().unwrap().len();
        assert_eq!(in_map, 0);
        assert_eq!(table.entries().len(), 256);
        // Routes of every length hash apart: the bytes past the last whole word
        // count too.
        let hashes: std::collections::HashSet<usize> =
            (1..=17).map(|n| hash(&b"abcdefghijklmnopq"[..n])).collect();
        assert_eq!(hashes.len(), 17);
        assert_ne!(hash(b"/a/b/c/d/x"), hash(b"/a/b/c/d/y"));
        assert_ne!(hash(b"/users/1"), hash(b"/users/2"));
    }

    #[test]
    fn past_the_route_limit_there_is_no_entry() {
        let table = RouteTable::default();
        let limits = Arc::new(Limits::new(3, Arc::from([1u64]), "x".into(), false, None));
        let new = |route: &str| {
            let limits = Arc::clone(&limits);
            let route: Arc<str> = route.into();
            move || RouteEntry::new(Arc::clone(&route), false, Arc::clone(&limits))
        };
        for route in ["/a", "/b", "/c"] {
            assert!(table.get_or_insert(route, &limits, new(route)).is_some());
        }
        assert!(table.get_or_insert("/d", &limits, new("/d")).is_none());
        // Known routes are still found.
        let a = table.get_or_insert("/a", &limits, new("/a")).unwrap();
        assert_eq!(&*a.route, "/a");
        assert_eq!(table.entries().len(), 3);
    }
}
