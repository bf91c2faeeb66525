//! Native histograms: the protobuf exposition carries the sparse buckets
//! beside the classic ones (decoded here), exactly where the observations fall;
//! OpenMetrics and text keep the classic buckets alone.

mod common;
mod proto;

use std::time::Duration;

use promhttp::{
    BuildError, DurationHistogram, Format, HttpMethod, HttpMetrics, NativeHistogram, Registry,
};

/// The (index, count) of the positive buckets, from the spans and deltas.
fn positive(h: &proto::Histogram) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    let (mut index, mut count, mut deltas) = (0i32, 0i64, h.positive_delta.iter());
    for (n, span) in h.positive_span.iter().enumerate() {
        let offset = span.offset.unwrap_or(0);
        index = if n == 0 { offset } else { index + offset };
        for _ in 0..span.length.unwrap_or(0) {
            count += deltas.next().expect("a delta per bucket");
            out.push((index, u64::try_from(count).unwrap()));
            index += 1;
        }
    }
    assert!(deltas.next().is_none(), "more deltas than buckets");
    out
}

/// The bucket of `seconds` at `schema`, from its definition: the smallest `i`
/// with `seconds <= 2^(i * 2^-schema)`.
fn index_of(seconds: f64, schema: i32) -> i32 {
    let scale = f64::from(schema).exp2();
    #[allow(clippy::cast_possible_truncation)]
    let i = (seconds.log2() * scale).ceil() as i32;
    i
}

fn histogram_of(registry: &Registry, name: &str) -> Vec<(Vec<(String, String)>, proto::Histogram)> {
    let mut body = Vec::new();
    registry.encode_to(Format::Protobuf, &mut body).unwrap();
    proto::decode(&body)
        .into_iter()
        .filter(|f| f.name.as_deref() == Some(name))
        .flat_map(|f| f.metric)
        .map(|m| {
            let labels = m
                .label
                .iter()
                .map(|l| (l.name.clone().unwrap(), l.value.clone().unwrap()))
                .collect();
            (labels, m.histogram.unwrap())
        })
        .collect()
}

#[test]
fn a_duration_histogram_keeps_each_observation_in_its_native_bucket() {
    let registry = Registry::new();
    let h = DurationHistogram::new([0.01, 1.0])
        .unwrap()
        .with_native(NativeHistogram::new())
        .unwrap();
    registry
        .register_family("job_seconds", "Job time.", h.clone())
        .unwrap();
    let seconds = [0.001, 0.001, 0.001, 1.5, 10.0, 0.25];
    for s in seconds {
        h.observe(Duration::from_secs_f64(s));
    }
    h.observe(Duration::ZERO);

    let histograms = histogram_of(&registry, "job_seconds");
    let [(_, native)] = histograms.as_slice() else {
        panic!("one series: {histograms:?}");
    };
    assert_eq!(native.schema, Some(3));
    assert_eq!(native.zero_count, Some(1));
    assert_eq!(
        native.zero_threshold,
        Some(NativeHistogram::DEFAULT_ZERO_THRESHOLD)
    );
    assert_eq!(native.sample_count, Some(7));
    let mut expected: Vec<(i32, u64)> = Vec::new();
    let mut indexes: Vec<i32> = seconds.iter().map(|&s| index_of(s, 3)).collect();
    indexes.sort_unstable();
    for i in indexes {
        match expected.last_mut() {
            Some((last, n)) if *last == i => *n += 1,
            _ => expected.push((i, 1)),
        }
    }
    assert_eq!(positive(native), expected);
    // The classic buckets are still there, and OpenMetrics has them alone.
    assert_eq!(native.bucket.len(), 2);
    let text = registry.encode(Format::OpenMetrics).unwrap();
    let m = common::parse_openmetrics(&text);
    assert_eq!(m.value("job_seconds_count", &[]), 7.0);
    assert_eq!(m.value("job_seconds_bucket", &[("le", "1.0")]), 5.0);
}

#[test]
fn past_the_most_buckets_neighbours_merge_and_nothing_is_lost() {
    let registry = Registry::new();
    let h = DurationHistogram::new([1.0])
        .unwrap()
        .with_native(NativeHistogram::new().max_buckets(3))
        .unwrap();
    registry
        .register_family("job_seconds", "Job time.", h.clone())
        .unwrap();
    let seconds: Vec<f64> = (0..40).map(|i| 1e-4 * 1.3_f64.powi(i)).collect();
    for &s in &seconds {
        h.observe(Duration::from_secs_f64(s));
    }
    let histograms = histogram_of(&registry, "job_seconds");
    let native = &histograms[0].1;
    let schema = native.schema.unwrap();
    let buckets = positive(native);
    assert!(buckets.len() <= 3, "{buckets:?}");
    assert!(schema < 3);
    // Where the definition puts them at the schema it came down to.
    for (index, count) in &buckets {
        let here = seconds
            .iter()
            .filter(|&&s| index_of(Duration::from_secs_f64(s).as_secs_f64(), schema) == *index)
            .count();
        assert_eq!(*count, here as u64, "bucket {index} at schema {schema}");
    }
    assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 40);
}

#[test]
fn the_http_set_serves_native_buckets_that_agree_with_its_classic_ones() {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .buckets([0.000_001, 0.000_01, 0.000_1, 0.001, 1.0])
        .native_histograms(NativeHistogram::new())
        .build()
        .unwrap();
    let route = metrics.route(Some("/users/{id}"));
    for i in 0..500u32 {
        let guard = route.start(HttpMethod::Get).unwrap();
        // Some requests do a little work, so the durations spread.
        std::hint::black_box((0..i * 10).sum::<u32>());
        drop(guard.with_status(200));
    }
    let histograms = histogram_of(&registry, "http_server_request_duration_seconds");
    let [(_, h)] = histograms.as_slice() else {
        panic!("one series: {histograms:?}");
    };
    let schema = h.schema.expect("native buckets");
    let buckets = positive(h);
    let count = h.sample_count.unwrap();
    assert_eq!(count, 500);
    assert_eq!(
        h.zero_count.unwrap() + buckets.iter().map(|(_, n)| n).sum::<u64>(),
        count
    );
    // For each classic bound b: the native buckets wholly at or below b hold at
    // most the classic cumulative count, those that start below b at least.
    let upper = |i: i32| (f64::from(i) * (-f64::from(schema)).exp2()).exp2();
    for b in &h.bucket {
        let bound = b.upper_bound.unwrap();
        let cumulative = b.cumulative_count.unwrap();
        let below: u64 = buckets
            .iter()
            .filter(|(i, _)| upper(*i) <= bound)
            .map(|(_, n)| n)
            .sum();
        let reaching: u64 = buckets
            .iter()
            .filter(|(i, _)| upper(*i - 1) < bound)
            .map(|(_, n)| n)
            .sum();
        assert!(
            below <= cumulative && cumulative <= reaching + h.zero_count.unwrap(),
            "le={bound}: {below} <= {cumulative} <= {reaching}"
        );
    }
    // Not in OpenMetrics: the classic histogram as before.
    let text = registry.encode(Format::OpenMetrics).unwrap();
    let m = common::parse_openmetrics(&text);
    assert_eq!(
        m.value(
            "http_server_request_duration_seconds_count",
            &[
                ("method", "GET"),
                ("route", "/users/{id}"),
                ("status", "200")
            ]
        ),
        500.0
    );
}

#[test]
fn unusable_settings_are_refused() {
    for native in [
        NativeHistogram::new().factor(1.0),
        NativeHistogram::new().factor(f64::INFINITY),
        NativeHistogram::new().zero_threshold(-0.5),
        NativeHistogram::new().max_buckets(0),
    ] {
        let err = HttpMetrics::builder()
            .registry(&Registry::new())
            .native_histograms(native)
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::InvalidNative { .. }), "{err}");
        assert!(err
            .to_string()
            .starts_with("invalid native histogram settings"));
        assert!(DurationHistogram::new([1.0])
            .unwrap()
            .with_native(native)
            .is_err());
    }
}

#[test]
fn native_buckets_can_replace_the_classic_ones() {
    // No classic bounds: protobuf carries the native buckets alone, the text
    // formats the count and sum (and the `+Inf` bucket they imply).
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .buckets([])
        .native_histograms(NativeHistogram::new())
        .build()
        .unwrap();
    for _ in 0..3 {
        drop(
            metrics
                .route(Some("/r"))
                .start(HttpMethod::Get)
                .unwrap()
                .with_status(200),
        );
    }
    let histograms = histogram_of(&registry, "http_server_request_duration_seconds");
    let [(_, h)] = histograms.as_slice() else {
        panic!("one series: {histograms:?}");
    };
    assert!(h.bucket.is_empty(), "{h:?}");
    assert_eq!(h.sample_count, Some(3));
    assert_eq!(
        h.zero_count.unwrap() + positive(h).iter().map(|(_, n)| n).sum::<u64>(),
        3
    );
    let m = common::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let labels = [("method", "GET"), ("route", "/r"), ("status", "200")];
    let buckets: Vec<_> = m
        .samples("http_server_request_duration_seconds_bucket")
        .collect();
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].labels["le"], "+Inf");
    assert_eq!(
        m.value("http_server_request_duration_seconds_count", &labels),
        3.0
    );
}
