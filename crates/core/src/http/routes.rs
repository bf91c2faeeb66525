//! The route table: route template to [`RouteEntry`], read without locks.
//!
//! An open-addressing table of write-once slots probed in a fixed order, so a
//! lookup of a known route is a hash and a few atomic loads. A route is placed in
//! the first slot of its probe sequence that was free when it was first seen; as
//! slots never change once set, no route can ever occupy two slots. When every
//! slot of a probe sequence is taken, the route goes to an overflow map behind a
//! read-mostly lock.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use super::series::RouteEntry;

const SLOTS: usize = 512;
const PROBES: usize = 16;

pub(crate) struct RouteTable {
    slots: Box<[OnceLock<Arc<RouteEntry>>]>,
    overflow: RwLock<HashMap<Box<str>, Arc<RouteEntry>>>,
}

impl Default for RouteTable {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: RwLock::default(),
        }
    }
}

impl RouteTable {
    /// The entry for `route`, made by `new` the first time the route is seen.
    #[inline]
    pub(crate) fn get_or_insert(
        &self,
        route: &str,
        new: impl Fn() -> RouteEntry,
    ) -> Arc<RouteEntry> {
        let start = hash(route.as_bytes());
        for probe in 0..PROBES {
            let slot = &self.slots[(start.wrapping_add(probe)) % SLOTS];
            let entry = match slot.get() {
                Some(entry) => entry,
                None => slot.get_or_init(|| Arc::new(new())),
            };
            if *entry.route == *route {
                return Arc::clone(entry);
            }
        }
        self.overflow_entry(route, new)
    }

    #[cold]
    fn overflow_entry(&self, route: &str, new: impl Fn() -> RouteEntry) -> Arc<RouteEntry> {
        if let Some(entry) = self
            .overflow
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return Arc::clone(entry);
        }
        let mut overflow = self
            .overflow
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            overflow
                .entry(route.into())
                .or_insert_with(|| Arc::new(new())),
        )
    }

    /// Every entry, in no particular order.
    pub(crate) fn entries(&self) -> Vec<Arc<RouteEntry>> {
        let mut out: Vec<_> = self
            .slots
            .iter()
            .filter_map(OnceLock::get)
            .cloned()
            .collect();
        out.extend(
            self.overflow
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
        out
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
        let bounds: Arc<[u64]> = Arc::from([1u64]);
        let routes: Vec<String> = (0..2000).map(|i| format!("/r/{i}")).collect();
        for _ in 0..2 {
            for route in &routes {
                let entry = table.get_or_insert(route, || {
                    RouteEntry::new(route.as_str().into(), false, Arc::clone(&bounds))
                });
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
}
