//! A scrape allocates the same whatever the number of series: the encoder writes
//! into a reused buffer, the HTTP metric set reads its series into buffers it
//! keeps between scrapes, and nothing is allocated per sample. Counted with dhat's
//! global allocator for 100 and for 10,000 histogram series, in every format.
//!
//! One test function: dhat counts process-wide, so nothing may run beside it.

use promhttp::{Format, HttpMethod, HttpMetrics, Registry};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// A registry whose HTTP metric set has `n` (method, route, status) series.
fn registry_with(n: usize) -> Registry {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .max_series(n)
        .build()
        .unwrap();
    for i in 0..n {
        let route = format!("/api/resource{}/{{id}}", i / 10);
        let mut guard = metrics.route(Some(&route)).start(HttpMethod::Get).unwrap();
        guard.set_status(200 + (i % 10) as u16);
    }
    registry
}

/// Allocations of one scrape into `buffer`, after two that size the buffers:
/// the least of five, since the test harness's own threads allocate now and then.
fn per_scrape(registry: &Registry, format: Format, buffer: &mut Vec<u8>) -> u64 {
    for _ in 0..2 {
        registry.encode_to(format, buffer).unwrap();
    }
    (0..5)
        .map(|_| {
            let before = dhat::HeapStats::get().total_blocks;
            registry.encode_to(format, buffer).unwrap();
            dhat::HeapStats::get().total_blocks - before
        })
        .min()
        .unwrap_or(u64::MAX)
}

#[test]
fn a_scrape_allocates_the_same_for_100_and_10_000_series() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let (small, large) = (registry_with(100), registry_with(10_000));
    let mut buffer = Vec::new();
    for format in [Format::OpenMetrics, Format::Text, Format::Protobuf] {
        let few = per_scrape(&small, format, &mut buffer);
        let many = per_scrape(&large, format, &mut buffer);
        println!("{format:?}: {few} allocations for 100 series, {many} for 10,000");
        assert!(many > 0, "the count does not see the scrape");
        assert_eq!(
            few, many,
            "{format:?}: allocations per scrape grow with the number of series"
        );
    }
}
