//! The metric set end to end: what requests leave in the exposition, compared
//! line for line. Durations are the machine's, so the histograms have one bound
//! (an hour) that every request here stays under, and each `_sum` is checked to
//! be a duration in that range and then written as `S`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;
use crate::Format;

fn set(registry: &Registry) -> HttpMetricsBuilder {
    HttpMetrics::builder().registry(registry).buckets([3600.0])
}

/// The OpenMetrics exposition, with each `_sum` value checked and replaced by
/// `S`, and each `_created` value checked (a time of this test's run) and
/// replaced by `C`.
fn scrape(registry: &Registry) -> String {
    let text = registry.encode(Format::OpenMetrics).unwrap();
    let now = crate::family::unix_now();
    let mut out = String::new();
    for line in text.lines() {
        match line.rsplit_once(' ') {
            Some((series, value)) if series.contains("_sum") => {
                let seconds: f64 = value.parse().unwrap();
                assert!((0.0..3600.0).contains(&seconds), "{line}");
                out.push_str(series);
                out.push_str(" S\n");
            }
            Some((series, value)) if series.contains("_created") => {
                let at: f64 = value.parse().unwrap();
                assert!(at <= now && at > now - 3600.0, "{line}");
                out.push_str(series);
                out.push_str(" C\n");
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn lines(text: &str, family: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

const H: &str = "app_http_server_request_duration_seconds";

#[test]
fn requests_leave_exactly_these_series() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .prefix("app")
        .const_label("svc", "api")
        .ignore_route("/healthz")
        .ignore_route("/static/{file}")
        .build()
        .unwrap();
    let users = metrics.route(Some("/users/{id}"));
    assert_eq!(users.label(), "/users/{id}");
    for _ in 0..2 {
        let mut guard = users.start(HttpMethod::Get).unwrap();
        assert_eq!(guard.status(), None);
        guard.set_status(200);
        assert_eq!(guard.status(), Some(200));
    }
    // A request whose client went away: no status.
    drop(users.start(HttpMethod::Get).unwrap());
    drop(users.start(HttpMethod::Post).unwrap().with_status(201));
    drop(
        metrics
            .route(None)
            .start(HttpMethod::Get)
            .unwrap()
            .with_status(404),
    );
    // Ignored routes are not recorded, before routing or after.
    assert!(metrics
        .route(Some("/healthz"))
        .start(HttpMethod::Get)
        .is_none());
    assert!(metrics
        .start_unrouted(HttpMethod::Get, "/healthz")
        .is_none());
    let mut file = metrics
        .start_unrouted(HttpMethod::Get, "/static/app.js")
        .unwrap();
    file.set_route(metrics.route(Some("/static/{file}")));
    drop(file.with_status(200));
    // Routed after it started: in flight by method alone, counted by route.
    let mut put = metrics.start_unrouted(HttpMethod::Put, "/users/7").unwrap();
    put.set_route(metrics.route(Some("/users/{id}")));
    put.set_status(204);
    let held = users.start(HttpMethod::Get).unwrap();

    let text = scrape(&registry);
    let with = |labels: &str| format!("{{{labels},svc=\"api\"}}");
    assert_eq!(
        lines(&text, "app_http_server_requests_total"),
        [
            format!(
                "app_http_server_requests_total{} 2",
                with("method=\"GET\",route=\"/users/{id}\",status=\"200\"")
            ),
            format!(
                "app_http_server_requests_total{} 1",
                with("method=\"GET\",route=\"/users/{id}\",status=\"499\"")
            ),
            format!(
                "app_http_server_requests_total{} 1",
                with("method=\"POST\",route=\"/users/{id}\",status=\"201\"")
            ),
            format!(
                "app_http_server_requests_total{} 1",
                with("method=\"GET\",route=\"unmatched\",status=\"404\"")
            ),
        ]
    );
    assert_eq!(
        lines(&text, "app_http_server_requests_in_flight"),
        [
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"GET\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 1",
                with("method=\"PUT\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 1",
                with("method=\"GET\",route=\"/users/{id}\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"POST\",route=\"/users/{id}\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"GET\",route=\"unmatched\"")
            ),
        ]
    );
    drop(held.with_status(200));
    drop(put);
    let text = scrape(&registry);
    let series = |labels: &str, n: u64| {
        [
            format!("{H}_bucket{{{labels},svc=\"api\",le=\"3600.0\"}} {n}"),
            format!("{H}_bucket{{{labels},svc=\"api\",le=\"+Inf\"}} {n}"),
            format!("{H}_sum{{{labels},svc=\"api\"}} S"),
            format!("{H}_count{{{labels},svc=\"api\"}} {n}"),
        ]
    };
    let expected: Vec<String> = [
        series("method=\"GET\",route=\"/users/{id}\",status=\"200\"", 3),
        series("method=\"GET\",route=\"/users/{id}\",status=\"499\"", 1),
        series("method=\"POST\",route=\"/users/{id}\",status=\"201\"", 1),
        series("method=\"PUT\",route=\"/users/{id}\",status=\"204\"", 1),
        series("method=\"GET\",route=\"unmatched\",status=\"404\"", 1),
    ]
    .concat();
    assert_eq!(lines(&text, H), expected);
    assert_eq!(
        lines(&text, "app_http_server_requests_in_flight"),
        [
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"GET\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"PUT\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"GET\",route=\"/users/{id}\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"POST\",route=\"/users/{id}\"")
            ),
            format!(
                "app_http_server_requests_in_flight{} 0",
                with("method=\"GET\",route=\"unmatched\"")
            ),
        ]
    );
    // The families, their metadata and order, and the overflow counters at 0.
    let meta: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        meta,
        [
            "# HELP app_http_server_requests Number of HTTP requests whose response ended, by method, route template and status code.",
            "# TYPE app_http_server_requests counter",
            "# HELP app_http_server_requests_in_flight Number of HTTP requests that entered the service and whose response has not ended yet.",
            "# TYPE app_http_server_requests_in_flight gauge",
            "# HELP app_http_server_request_duration_seconds Time from a request entering the service until its response body ended, in seconds.",
            "# TYPE app_http_server_request_duration_seconds histogram",
            "# UNIT app_http_server_request_duration_seconds seconds",
            "# HELP app_promhttp_series_overflow Observations recorded in a family's overflow series because a new series would have passed the series limit.",
            "# TYPE app_promhttp_series_overflow counter",
            "# EOF",
        ]
    );
    assert_eq!(
        lines(&text, "app_promhttp_series_overflow"),
        [
            "app_promhttp_series_overflow_total{metric=\"app_http_server_requests_total\",svc=\"api\"} 0",
            "app_promhttp_series_overflow_total{metric=\"app_http_server_requests_in_flight\",svc=\"api\"} 0",
            "app_promhttp_series_overflow_total{metric=\"app_http_server_request_duration_seconds\",svc=\"api\"} 0",
        ]
    );
    // A second scrape reads the same: the buffers it reuses start empty.
    assert_eq!(scrape(&registry), text);
}

#[test]
fn past_the_limit_everything_is_folded_and_counted() {
    let registry = Registry::new();
    let metrics = set(&registry).max_series(1).build().unwrap();
    let a = metrics.route(Some("/a"));
    drop(a.start(HttpMethod::Get).unwrap().with_status(200));
    // A second status, a second method, a second route: each past the limit.
    drop(a.start(HttpMethod::Get).unwrap().with_status(500));
    drop(a.start(HttpMethod::Post).unwrap().with_status(200));
    let b = metrics.route(Some("/b"));
    assert_eq!(b.label(), OVERFLOW_ROUTE);
    drop(b.start(HttpMethod::Get).unwrap().with_status(200));
    let held = b.start(HttpMethod::Get).unwrap();
    let text = scrape(&registry);
    let overflow = "method=\"_OTHER\",route=\"overflow\"";
    assert_eq!(
        lines(&text, "http_server_requests"),
        [
            "http_server_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 1".to_owned(),
            format!("http_server_requests_total{{{overflow},status=\"overflow\"}} 3"),
            "http_server_requests_in_flight{method=\"GET\",route=\"/a\"} 0".to_owned(),
            format!("http_server_requests_in_flight{{{overflow}}} 1"),
        ]
    );
    assert_eq!(
        lines(&text, "http_server_request_duration_seconds_count"),
        [
            "http_server_request_duration_seconds_count{method=\"GET\",route=\"/a\",status=\"200\"} 1".to_owned(),
            format!("http_server_request_duration_seconds_count{{{overflow},status=\"overflow\"}} 3"),
        ]
    );
    assert_eq!(
        lines(&text, "promhttp_series_overflow_total"),
        [
            "promhttp_series_overflow_total{metric=\"http_server_requests_total\"} 3",
            "promhttp_series_overflow_total{metric=\"http_server_requests_in_flight\"} 3",
            "promhttp_series_overflow_total{metric=\"http_server_request_duration_seconds\"} 3",
        ]
    );
    drop(held);
    let text = scrape(&registry);
    assert!(text.contains(&format!("http_server_requests_in_flight{{{overflow}}} 0\n")));
    assert!(text.contains(&format!(
        "http_server_requests_total{{{overflow},status=\"overflow\"}} 4\n"
    )));
}

#[test]
fn a_set_with_room_for_exactly_its_series() {
    // Two series allowed, two made: nothing folds.
    let registry = Registry::new();
    let metrics = set(&registry).max_series(2).build().unwrap();
    for route in ["/a", "/b"] {
        drop(
            metrics
                .route(Some(route))
                .start(HttpMethod::Get)
                .unwrap()
                .with_status(200),
        );
    }
    let text = scrape(&registry);
    assert_eq!(
        lines(&text, "http_server_requests_total"),
        [
            "http_server_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 1",
            "http_server_requests_total{method=\"GET\",route=\"/b\",status=\"200\"} 1",
        ]
    );
    assert!(
        text.contains("promhttp_series_overflow_total{metric=\"http_server_requests_total\"} 0\n")
    );
}

#[test]
fn a_panic_in_the_handler_is_a_500_and_a_dropped_future_a_499() {
    let registry = Registry::new();
    let metrics = set(&registry).build().unwrap();
    let route = metrics.route(Some("/r"));
    // The poll panics; whoever catches it drops the guard later.
    let mut guard = route.start(HttpMethod::Get);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        RequestGuard::poll_scope(&mut guard, || panic!("handler"))
    }));
    assert!(caught.is_err());
    drop(guard);
    // A poll that returns leaves the guard to be dropped as cancelled.
    let mut guard = route.start(HttpMethod::Get);
    assert_eq!(RequestGuard::poll_scope(&mut guard, || 7), 7);
    drop(guard);
    // Dropped while the thread unwinds.
    let guard = route.start(HttpMethod::Post);
    let caught = catch_unwind(AssertUnwindSafe(move || {
        let _guard = guard;
        panic!("handler");
    }));
    assert!(caught.is_err());
    // With no guard the poll just runs.
    assert_eq!(RequestGuard::poll_scope(&mut None, || 8), 8);
    let text = scrape(&registry);
    assert_eq!(
        lines(&text, "http_server_requests_total"),
        [
            "http_server_requests_total{method=\"GET\",route=\"/r\",status=\"499\"} 1",
            "http_server_requests_total{method=\"GET\",route=\"/r\",status=\"500\"} 1",
            "http_server_requests_total{method=\"POST\",route=\"/r\",status=\"500\"} 1",
        ]
    );
    assert_eq!((STATUS_CLIENT_CLOSED, STATUS_PANICKED), (499, 500));
}

#[test]
fn route_handles_know_their_route() {
    let metrics = set(&Registry::new()).build().unwrap();
    let users = metrics.route(Some("/users"));
    assert!(users.is_for(Some("/users")));
    assert!(!users.is_for(Some("/user")));
    assert!(!users.is_for(None));
    assert!(!users.is_for(Some(UNMATCHED_ROUTE)));
    for unmatched in [metrics.route(None), metrics.route(Some(UNMATCHED_ROUTE))] {
        assert_eq!(unmatched.label(), UNMATCHED_ROUTE);
        assert!(unmatched.is_for(None));
        assert!(unmatched.is_for(Some(UNMATCHED_ROUTE)));
        assert!(!unmatched.is_for(Some("/users")));
    }
    // A route spelled like the unmatched one's label is still not it.
    let overflow = metrics.route(Some(OVERFLOW_ROUTE));
    assert_eq!(overflow.label(), OVERFLOW_ROUTE);
    assert!(!overflow.is_for(None));
    // Routed guards keep their route.
    let mut guard = users.start(HttpMethod::Get).unwrap();
    guard.set_route(metrics.route(Some("/other")));
    guard.set_status(200);
    let registry = metrics.registry().clone();
    drop(guard);
    let text = scrape(&registry);
    assert!(text.contains(
        "http_server_requests_total{method=\"GET\",route=\"/users\",status=\"200\"} 1\n"
    ));
    assert!(!text.contains("/other"));
}

#[test]
fn methods_are_the_nine_standard_ones_and_other() {
    let tokens = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    for (i, token) in tokens.iter().enumerate() {
        let method = HttpMethod::from_token(token);
        assert_eq!(method, HttpMethod::ALL[i]);
        assert_eq!(method.as_str(), *token);
        assert_eq!(method.to_string(), *token);
        assert_eq!(method.index(), i);
    }
    for token in ["get", "PROPFIND", ""] {
        assert_eq!(HttpMethod::from_token(token), HttpMethod::Other);
    }
    assert_eq!(HttpMethod::Other.to_string(), "_OTHER");
    assert_eq!(HttpMethod::Other.index(), 9);
}

#[test]
fn each_method_has_its_series() {
    let registry = Registry::new();
    let metrics = set(&registry).build().unwrap();
    let route = metrics.route(Some("/r"));
    for method in HttpMethod::ALL {
        drop(route.start(method).unwrap().with_status(200));
        drop(metrics.start_unrouted(method, "/x").unwrap());
    }
    let text = scrape(&registry);
    let expected: Vec<String> = HttpMethod::ALL
        .iter()
        .map(|m| {
            format!(
                "http_server_requests_total{{method=\"{}\",route=\"/r\",status=\"200\"}} 1",
                m.as_str()
            )
        })
        .chain(HttpMethod::ALL.iter().map(|m| {
            format!(
                "http_server_requests_total{{method=\"{}\",route=\"unmatched\",status=\"499\"}} 1",
                m.as_str()
            )
        }))
        .collect();
    assert_eq!(lines(&text, "http_server_requests_total"), expected);
}

fn trace(n: u8) -> TraceContext {
    TraceContext::new([n; 16], [n; 8]).unwrap()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The trace id of an exemplar, as the parser read it.
fn trace_of(exemplar: &crate::family::Exemplar) -> (&str, &str) {
    let get = |k: &str| {
        exemplar
            .labels
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    (get("trace_id"), get("span_id"))
}

#[test]
fn exemplars_carry_the_trace_of_the_latest_request_of_each_bucket_and_series() {
    let registry = Registry::new();
    // A bound no request stays under (1 ns) and one every request does: where a
    // request lands is the machine's, where its exemplar goes must follow.
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .buckets([1e-9, 3600.0])
        .exemplars(true)
        .build()
        .unwrap();
    assert!(metrics.exemplars());
    let route = metrics.route(Some("/r"));
    let before = unix_now();
    for (n, status) in [(1, 200), (2, 200), (3, 500)] {
        let mut guard = route.start(HttpMethod::Get).unwrap();
        guard.set_trace(trace(n));
        drop(guard.with_status(status));
    }
    // A request without a trace leaves the exemplars as they are.
    drop(route.start(HttpMethod::Get).unwrap().with_status(200));
    drop(route.start(HttpMethod::Get).unwrap().with_status(404));
    let families =
        crate::parse::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap()).unwrap();
    let after = unix_now();
    let family = |name: &str| families.iter().find(|f| f.name == name).unwrap();
    let hex = |n: u8| (format!("{n:02x}").repeat(16), format!("{n:02x}").repeat(8));

    // requests_total: the latest traced request of each series, value 1.
    let counters = &family("http_server_requests").samples;
    let exemplar_of = |status: &str| {
        counters
            .iter()
            .find(|s| s.label("status") == Some(status))
            .unwrap()
            .exemplar
            .as_ref()
    };
    for (status, n) in [("200", 2), ("500", 3)] {
        let e = exemplar_of(status).unwrap();
        let (t, s) = trace_of(e);
        assert_eq!((t.to_owned(), s.to_owned()), hex(n));
        assert_eq!(e.value, 1.0);
        let ts = e.timestamp.unwrap();
        assert!(
            ts >= before - 1.0 && ts <= after + 1.0,
            "{ts} not in [{before}, {after}]"
        );
    }
    assert!(exemplar_of("404").is_none());

    // The histogram: every exemplar sits in the bucket its value falls in, and
    // each traced request of status 200 is the exemplar of its bucket unless a
    // later one landed there.
    let buckets: Vec<_> = family("http_server_request_duration_seconds")
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket") && s.label("status") == Some("200"))
        .collect();
    assert_eq!(buckets.len(), 3);
    let mut lower = f64::NEG_INFINITY;
    let mut seen = Vec::new();
    for b in &buckets {
        let upper: f64 = match b.label("le").unwrap() {
            "+Inf" => f64::INFINITY,
            le => le.parse().unwrap(),
        };
        if let Some(e) = &b.exemplar {
            assert!(e.value > lower && e.value <= upper, "{e:?} in le={upper}");
            // A duration in seconds, no longer than the test has run.
            assert!(e.value <= after - before, "{e:?}");
            seen.push(trace_of(e).0.to_owned());
        }
        lower = upper;
    }
    let (one, two) = (hex(1).0, hex(2).0);
    assert!(
        seen == [two.clone()] || seen == [one.clone(), two.clone()] || seen == [two, one],
        "{seen:?}"
    );

    // Text 0.0.4 has no exemplars.
    assert!(!registry.encode(Format::Text).unwrap().contains(" # {"));
}

#[test]
fn without_exemplars_a_trace_is_ignored() {
    let registry = Registry::new();
    let metrics = set(&registry).build().unwrap();
    assert!(!metrics.exemplars());
    let mut guard = metrics.route(Some("/r")).start(HttpMethod::Get).unwrap();
    guard.set_trace(trace(7));
    drop(guard.with_status(200));
    let text = registry.encode(Format::OpenMetrics).unwrap();
    assert!(
        text.contains("http_server_requests_total{method=\"GET\",route=\"/r\",status=\"200\"} 1\n")
    );
    assert!(!text.contains(" # {"), "{text}");
}

#[test]
fn the_overflow_series_keeps_exemplars_too() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .max_series(1)
        .exemplars(true)
        .build()
        .unwrap();
    // The first series takes the one ticket; the next status overflows.
    drop(
        metrics
            .route(Some("/r"))
            .start(HttpMethod::Get)
            .unwrap()
            .with_status(200),
    );
    let mut guard = metrics.route(Some("/r")).start(HttpMethod::Get).unwrap();
    guard.set_trace(trace(9));
    drop(guard.with_status(500));
    let families =
        crate::parse::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap()).unwrap();
    let counters = &families
        .iter()
        .find(|f| f.name == "http_server_requests")
        .unwrap()
        .samples;
    let overflow = counters
        .iter()
        .find(|s| s.label("route") == Some(OVERFLOW_ROUTE))
        .unwrap();
    assert_eq!(
        trace_of(overflow.exemplar.as_ref().unwrap()).0,
        "09".repeat(16)
    );
}

/// The `_created` value of the sample `name` whose text contains `labels`.
fn created_of(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(labels))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
}

#[test]
fn each_series_starts_when_it_first_counts() {
    let before_build = unix_now();
    let registry = Registry::new();
    let metrics = set(&registry)
        .max_series(2)
        .created_samples(true)
        .build()
        .unwrap();
    let route = metrics.route(Some("/r"));
    let after_build = unix_now();
    drop(route.start(HttpMethod::Get).unwrap().with_status(200));
    let after_first = unix_now();
    drop(route.start(HttpMethod::Get).unwrap().with_status(201));
    let after_second = unix_now();
    // The third status is past the limit: the overflow series starts now.
    drop(route.start(HttpMethod::Get).unwrap().with_status(202));
    let text = registry.encode(Format::OpenMetrics).unwrap();
    let after_all = unix_now();

    let first = created_of(&text, "http_server_requests_created", "status=\"200\"").unwrap();
    let second = created_of(&text, "http_server_requests_created", "status=\"201\"").unwrap();
    let overflow =
        created_of(&text, "http_server_requests_created", "status=\"overflow\"").unwrap();
    // Kept to the millisecond, as Prometheus keeps times.
    let ms = |t: f64| (t * 1000.0).floor() / 1000.0;
    for t in [first, second, overflow] {
        assert_eq!(ms(t), t);
    }
    assert!(ms(after_build) <= first && first <= after_first, "{first}");
    assert!(
        ms(after_first) <= second && second <= after_second,
        "{second}"
    );
    assert!(
        ms(after_second) <= overflow && overflow <= after_all,
        "{overflow}"
    );
    // The histogram of a series starts with its counter.
    assert_eq!(
        created_of(
            &text,
            "http_server_request_duration_seconds_created",
            "status=\"201\""
        ),
        Some(second)
    );
    // The overflow counters count from the set's build.
    let folded = created_of(&text, "promhttp_series_overflow_created", "requests_total").unwrap();
    assert!(
        ms(before_build) <= folded && folded <= after_build,
        "{folded}"
    );

    // By default no `_created` sample of the set in OpenMetrics.
    let registry = Registry::new();
    let metrics = set(&registry).build().unwrap();
    drop(
        metrics
            .route(Some("/r"))
            .start(HttpMethod::Get)
            .unwrap()
            .with_status(200),
    );
    let text = registry.encode(Format::OpenMetrics).unwrap();
    assert!(
        text.contains("http_server_requests_total{method=\"GET\",route=\"/r\",status=\"200\"} 1\n")
    );
    assert!(!text.contains("_created"), "{text}");
}

#[test]
fn a_prefix_ending_in_an_underscore_gets_no_second_one() {
    for prefix in ["shop", "shop_", "shop__"] {
        let registry = Registry::new();
        let metrics = set(&registry).prefix(prefix).build().unwrap();
        drop(
            metrics
                .route(Some("/r"))
                .start(HttpMethod::Get)
                .unwrap()
                .with_status(200),
        );
        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert!(
            text.contains(
                "shop_http_server_requests_total{method=\"GET\",route=\"/r\",status=\"200\"} 1\n"
            ),
            "{prefix}: {text}"
        );
        assert!(!text.contains("__"), "{prefix}: {text}");
    }
    for prefix in ["_", "__", "1shop"] {
        let err = set(&Registry::new()).prefix(prefix).build().unwrap_err();
        assert!(
            matches!(err, BuildError::InvalidPrefix { .. }),
            "{prefix}: {err}"
        );
    }
}

#[test]
fn a_request_past_the_last_bound_leaves_its_exemplar_on_inf() {
    let registry = Registry::new();
    // One bound of a nanosecond: a request lands in `+Inf` unless it took none.
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .buckets([1e-9])
        .exemplars(true)
        .build()
        .unwrap();
    let mut guard = metrics.route(Some("/r")).start(HttpMethod::Get).unwrap();
    guard.set_trace(trace(4));
    drop(guard.with_status(200));
    let families =
        crate::parse::parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap()).unwrap();
    let buckets: Vec<_> = families
        .iter()
        .find(|f| f.name == "http_server_request_duration_seconds")
        .unwrap()
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket"))
        .collect();
    let [first, inf] = buckets.as_slice() else {
        panic!("{buckets:?}");
    };
    let (holder, other) = if inf.value > first.value {
        (inf, first)
    } else {
        (first, inf)
    };
    let exemplar = holder
        .exemplar
        .as_ref()
        .expect("the exemplar of the request's bucket");
    assert_eq!(trace_of(exemplar).0, "04".repeat(16));
    assert!(other.exemplar.is_none());
}

#[test]
fn native_histograms_are_kept_only_when_asked_for() {
    let registry = Registry::new();
    let plain = set(&registry).build().unwrap();
    assert!(plain.shared.limits.native.is_none());
    let native = set(&Registry::new())
        .native_histograms(crate::NativeHistogram::new().factor(1.5))
        .build()
        .unwrap();
    assert_eq!(native.shared.limits.native.map(|n| n.schema()), Some(1));
}

/// One finished request through `metrics` on `route`.
fn finish(route: RouteHandle, method: HttpMethod, status: u16) {
    let mut guard = route.start(method).unwrap();
    guard.set_status(status);
}

#[test]
fn unmatched_requests_go_to_the_group_the_function_names_if_declared() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .group_unmatched(["static", "docs"], |method, path| {
            if method == HttpMethod::Post || path.starts_with("/docs/") {
                Some("docs")
            } else if path.starts_with("/assets/") {
                Some("static")
            } else {
                Some(path)
            }
        })
        .build()
        .unwrap();
    assert!(metrics.groups_unmatched());
    let label = |method, path| metrics.unmatched_route(method, path).label().to_owned();
    assert_eq!(label(HttpMethod::Get, "/docs/a"), "docs");
    assert_eq!(label(HttpMethod::Get, "/assets/a"), "static");
    assert_eq!(
        label(HttpMethod::Post, "/assets/a"),
        "docs",
        "the method counts"
    );
    assert_eq!(label(HttpMethod::Get, "/other"), UNMATCHED_ROUTE);
    // A group is a route of the set: the same handle by its name.
    assert!(metrics
        .unmatched_route(HttpMethod::Get, "/docs/x")
        .is_for(Some("docs")));
    finish(
        metrics.unmatched_route(HttpMethod::Get, "/docs/x"),
        HttpMethod::Get,
        404,
    );
    let text = scrape(&registry);
    assert!(text
        .contains("http_server_requests_total{method=\"GET\",route=\"docs\",status=\"404\"} 1\n"));

    // Without groups: always `unmatched`.
    let plain = set(&Registry::new()).build().unwrap();
    assert!(!plain.groups_unmatched());
    assert!(plain
        .unmatched_route(HttpMethod::Get, "/docs/a")
        .is_for(None));
}

#[test]
fn statuses_are_keyed_by_code_class_or_invalid() {
    for (classes, status, label) in [
        (false, 99, "invalid"),
        (false, 100, "100"),
        (false, 999, "999"),
        (false, 1000, "invalid"),
        (true, 100, "1xx"),
        (true, 204, "2xx"),
        (true, 599, "5xx"),
        (true, 0, "invalid"),
    ] {
        let registry = Registry::new();
        let metrics = set(&registry).status_classes(classes).build().unwrap();
        finish(metrics.route(Some("/")), HttpMethod::Get, status);
        let text = scrape(&registry);
        let want = format!(
            "http_server_requests_total{{method=\"GET\",route=\"/\",status=\"{label}\"}} 1\n"
        );
        assert!(text.contains(&want), "{classes} {status}:\n{text}");
    }
}

#[test]
fn exclusion_sees_the_code_and_the_route_label() {
    let registry = Registry::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let metrics = set(&registry)
        .status_classes(true)
        .exclude(move |r| {
            log.lock()
                .unwrap()
                .push((r.method, r.route.to_owned(), r.status));
            r.status == 204
        })
        .build()
        .unwrap();
    finish(metrics.route(Some("/a")), HttpMethod::Put, 204);
    finish(metrics.route(Some("/a")), HttpMethod::Put, 200);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (HttpMethod::Put, "/a".to_owned(), 204),
            (HttpMethod::Put, "/a".to_owned(), 200)
        ]
    );
    let text = scrape(&registry);
    assert!(
        text.contains("http_server_requests_total{method=\"PUT\",route=\"/a\",status=\"2xx\"} 1\n")
    );
}

#[test]
fn request_labels_are_other_until_set() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .label("tier", ["free", "paid"])
        .label("zone", ["a"])
        .build()
        .unwrap();
    assert_eq!(metrics.labels().len(), 2);
    assert_eq!(metrics.labels()[0].values(), ["free", "paid"]);
    finish(metrics.route(Some("/")), HttpMethod::Get, 200);
    let mut guard = metrics.route(Some("/")).start(HttpMethod::Get).unwrap();
    guard.set_labels(metrics.label_values(|i, label| {
        assert_eq!(label.name(), ["tier", "zone"][i]);
        [Some("paid"), Some("a")][i]
    }));
    guard.set_status(200);
    drop(guard);
    let text = scrape(&registry);
    for want in [
        "{method=\"GET\",route=\"/\",status=\"200\",tier=\"other\",zone=\"other\"} 1\n",
        "{method=\"GET\",route=\"/\",status=\"200\",tier=\"paid\",zone=\"a\"} 1\n",
    ] {
        assert!(
            text.contains(&format!("http_server_requests_total{want}")),
            "{want}\n{text}"
        );
    }
    let unlabelled = set(&Registry::new()).build().unwrap();
    assert!(unlabelled.labels().is_empty());
    assert!(unlabelled.label_readers::<u8>(&[]).is_none());
    assert_eq!(metrics.label_readers::<u8>(&[]).map(|r| r.len()), Some(2));
}

#[test]
fn the_opentelemetry_profile_names_labels_and_sums_in_flight_by_method() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .naming(Naming::OpenTelemetry)
        .build()
        .unwrap();
    finish(metrics.route(Some("/a")), HttpMethod::Get, 503);
    finish(metrics.route(Some("/a")), HttpMethod::Get, 200);
    let a = metrics.route(Some("/a")).start(HttpMethod::Get).unwrap();
    let b = metrics.route(Some("/b")).start(HttpMethod::Get).unwrap();
    let c = metrics.start_unrouted(HttpMethod::Get, "/c").unwrap();
    let text = scrape(&registry);
    assert!(!text.contains("http_server_requests_total"), "{text}");
    assert!(text.contains("# TYPE http_server_active_requests gauge\n"));
    assert!(
        text.contains("http_server_active_requests{http_request_method=\"GET\"} 3\n"),
        "{text}"
    );
    assert!(text.contains(
        "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/a\",\
         http_response_status_code=\"503\",error_type=\"503\",url_scheme=\"other\"} 1\n"
    ), "{text}");
    assert!(text.contains(
        "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/a\",\
         http_response_status_code=\"200\",url_scheme=\"other\"} 1\n"
    ), "{text}");
    // The conventions' bounds, 0 first, unless given: here one was given.
    assert!(text.contains("le=\"3600.0\""));
    assert!(!text.contains("le=\"0.0\""));
    drop((a, b, c));
    let text = scrape(&registry);
    assert!(text.contains("http_server_active_requests{http_request_method=\"GET\"} 0\n"));
    // Without buckets given, the advisory ones.
    let registry = Registry::new();
    let _otel = HttpMetrics::builder()
        .registry(&registry)
        .naming(Naming::OpenTelemetry)
        .initial_series([(HttpMethod::Get, "/")], [200])
        .build()
        .unwrap();
    let text = scrape(&registry);
    assert!(text.contains("le=\"0.0\""), "{text}");
    assert!(text.contains("le=\"0.005\""));
}

#[test]
fn in_the_opentelemetry_profile_the_overflow_in_flight_is_an_other_method() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .naming(Naming::OpenTelemetry)
        .max_series(1)
        .build()
        .unwrap();
    let a = metrics.route(Some("/a")).start(HttpMethod::Get).unwrap();
    let b = metrics.route(Some("/b")).start(HttpMethod::Get).unwrap();
    let active = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("http_server_active_requests{"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        active(&scrape(&registry)),
        [
            "http_server_active_requests{http_request_method=\"GET\"} 1",
            "http_server_active_requests{http_request_method=\"_OTHER\"} 1",
        ]
    );
    drop((a, b));
    assert_eq!(
        active(&scrape(&registry)),
        [
            "http_server_active_requests{http_request_method=\"GET\"} 0",
            "http_server_active_requests{http_request_method=\"_OTHER\"} 0",
        ]
    );
}

/// The value of the one sample line that starts with `series` (name and
/// labels, as written).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn body_sizes_and_time_to_first_byte_are_counted_with_the_request() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .prefix("app")
        .body_size_buckets([0, 10, 1000])
        .time_to_first_byte(true)
        .build()
        .unwrap();
    assert!(metrics.body_sizes() && metrics.time_to_first_byte());
    let route = metrics.route(Some("/up"));

    // Read while the body arrives, then answered with 7 bytes.
    let mut a = route.start(HttpMethod::Post).unwrap();
    let counter = a.count_request_body().unwrap();
    counter.add(600);
    a.response_started();
    a.set_status(200);
    a.add_response_bytes(3);
    a.add_response_bytes(4);
    counter.add(5);
    drop(a);
    // No body, no response body.
    let mut b = route.start(HttpMethod::Post).unwrap();
    b.set_request_body_size(0);
    b.response_started();
    drop(b.with_status(200));
    // No size given: left out of the request size histogram alone; cancelled
    // before its head: no time to first byte.
    let c = route.start(HttpMethod::Post).unwrap();
    drop(c);

    let text = registry.encode(Format::OpenMetrics).unwrap();
    let ok = "{method=\"POST\",route=\"/up\",status=\"200\"}";
    let cancelled = "{method=\"POST\",route=\"/up\",status=\"499\"}";
    let req = "app_http_server_request_body_size_bytes";
    let res = "app_http_server_response_body_size_bytes";
    let ttfb = "app_http_server_time_to_first_byte_seconds";
    assert_eq!(sample(&text, &format!("{req}_count{ok}")), Some(2.0));
    assert_eq!(sample(&text, &format!("{req}_sum{ok}")), Some(605.0));
    let bucket = |name: &str, status: &str, le: &str| {
        sample(
            &text,
            &format!(
                "{name}_bucket{{method=\"POST\",route=\"/up\",status=\"{status}\",le=\"{le}\"}}"
            ),
        )
    };
    assert_eq!(bucket(req, "200", "0.0"), Some(1.0));
    assert_eq!(bucket(req, "200", "10.0"), Some(1.0));
    assert_eq!(bucket(req, "200", "1000.0"), Some(2.0));
    assert_eq!(sample(&text, &format!("{res}_sum{ok}")), Some(7.0));
    assert_eq!(bucket(res, "200", "0.0"), Some(1.0));
    assert_eq!(bucket(res, "200", "10.0"), Some(2.0));
    assert_eq!(sample(&text, &format!("{req}_count{cancelled}")), Some(0.0));
    assert_eq!(sample(&text, &format!("{res}_count{cancelled}")), Some(1.0));
    assert_eq!(bucket(res, "499", "0.0"), Some(1.0));
    assert_eq!(sample(&text, &format!("{ttfb}_count{ok}")), Some(2.0));
    assert_eq!(
        sample(&text, &format!("{ttfb}_count{cancelled}")),
        Some(0.0)
    );
    let first = sample(&text, &format!("{ttfb}_sum{ok}")).unwrap();
    let whole = sample(
        &text,
        &format!("app_http_server_request_duration_seconds_sum{ok}"),
    )
    .unwrap();
    assert!(0.0 < first && first <= whole, "{first} {whole}");
    assert!(text.contains("# UNIT app_http_server_request_body_size_bytes bytes\n"));
    assert!(text.contains("# TYPE app_http_server_time_to_first_byte_seconds histogram\n"));
}

#[test]
fn past_the_limit_the_overflow_series_keeps_the_sizes_too() {
    let registry = Registry::new();
    let metrics = set(&registry)
        .max_series(1)
        .body_sizes(true)
        .build()
        .unwrap();
    for route in ["/a", "/b"] {
        let mut guard = metrics.route(Some(route)).start(HttpMethod::Get).unwrap();
        guard.set_request_body_size(0);
        guard.add_response_bytes(150);
        drop(guard.with_status(200));
    }
    let text = registry.encode(Format::OpenMetrics).unwrap();
    let of = |route: &str, status: &str| {
        sample(
            &text,
            &format!(
                "http_server_response_body_size_bytes_sum{{method=\"{}\",route=\"{route}\",status=\"{status}\"}}",
                if route == "overflow" { "_OTHER" } else { "GET" }
            ),
        )
    };
    assert_eq!(of("/a", "200"), Some(150.0));
    assert_eq!(of("overflow", "overflow"), Some(150.0));
    assert!(text.contains(
        "promhttp_series_overflow_total{metric=\"http_server_response_body_size_bytes\"} 1\n"
    ));
    assert!(!text.contains("http_server_time_to_first_byte_seconds"));
}

#[test]
fn without_body_sizes_a_request_counter_is_not_kept() {
    let registry = Registry::new();
    let metrics = set(&registry).build().unwrap();
    assert!(!metrics.body_sizes() && !metrics.time_to_first_byte());
    let mut guard = metrics.route(Some("/")).start(HttpMethod::Get).unwrap();
    assert!(guard.transfer.is_none(), "nothing allocated");
    assert!(guard.count_request_body().is_none());
    guard.response_started();
    guard.add_response_bytes(3);
    drop(guard.with_status(200));
    let text = registry.encode(Format::OpenMetrics).unwrap();
    assert!(!text.contains("body_size"), "{text}");
    // Time to first byte alone: no request counter either.
    let registry = Registry::new();
    let metrics = set(&registry).time_to_first_byte(true).build().unwrap();
    let mut guard = metrics.route(Some("/")).start(HttpMethod::Get).unwrap();
    assert!(guard.count_request_body().is_none());
    guard.response_started();
    drop(guard.with_status(200));
    let text = registry.encode(Format::OpenMetrics).unwrap();
    assert!(!text.contains("body_size"), "{text}");
    assert!(text.contains(
        "http_server_time_to_first_byte_seconds_count{method=\"GET\",route=\"/\",status=\"200\"} 1\n"
    ));
}

#[test]
fn body_size_buckets_are_checked() {
    for (bounds, reason) in [
        (vec![], "at least one bound is needed"),
        (vec![10, 10], "bounds must be strictly increasing"),
        (vec![100, 10], "bounds must be strictly increasing"),
    ] {
        let err = set(&Registry::new())
            .body_size_buckets(bounds.clone())
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, BuildError::InvalidBuckets { reason: r, .. } if *r == reason),
            "{bounds:?}: {err}"
        );
    }
    // Turned off after the bounds were given: none of it.
    let registry = Registry::new();
    let metrics = set(&registry)
        .body_size_buckets([1, 2])
        .body_sizes(false)
        .build()
        .unwrap();
    assert!(!metrics.body_sizes());
    // Turned on after: the given bounds stay.
    let registry = Registry::new();
    let metrics = set(&registry)
        .body_size_buckets([1, 2])
        .body_sizes(true)
        .build()
        .unwrap();
    let mut guard = metrics.route(Some("/")).start(HttpMethod::Get).unwrap();
    guard.add_response_bytes(2);
    drop(guard.with_status(200));
    let text = registry.encode(Format::OpenMetrics).unwrap();
    assert!(text.contains(
        "http_server_response_body_size_bytes_bucket{method=\"GET\",route=\"/\",status=\"200\",le=\"2.0\"} 1\n"
    ), "{text}");
}

#[test]
#[cfg(feature = "prometheus-client")]
fn the_new_families_take_their_names_in_the_registry() {
    use prometheus_client::metrics::gauge::Gauge;
    for (name, taken) in [
        ("http_server_request_body_size_bytes_sum", "body sizes"),
        ("http_server_response_body_size_bytes_count", "body sizes"),
        (
            "http_server_time_to_first_byte_seconds_bucket",
            "first byte",
        ),
    ] {
        let registry = Registry::new();
        registry
            .register(name, "taken", Gauge::<i64>::default())
            .unwrap();
        // Without the option the name is free; with it, a clash.
        assert!(set(&registry).build().is_ok(), "{name}");
        let registry = Registry::new();
        registry
            .register(name, "taken", Gauge::<i64>::default())
            .unwrap();
        let with = if taken == "body sizes" {
            set(&registry).body_sizes(true)
        } else {
            set(&registry).time_to_first_byte(true)
        };
        assert!(
            matches!(with.build(), Err(BuildError::Registry(_))),
            "{name}"
        );
    }
}

#[test]
fn a_failed_call_is_status_error_with_codes_or_classes() {
    for classes in [false, true] {
        let registry = Registry::new();
        let metrics = set(&registry).status_classes(classes).build().unwrap();
        let mut guard = metrics.route(Some("/")).start(HttpMethod::Get).unwrap();
        guard.set_status(STATUS_FAILED);
        drop(guard);
        let text = registry.encode(Format::OpenMetrics).unwrap();
        assert!(
            text.contains(
                "http_server_requests_total{method=\"GET\",route=\"/\",status=\"error\"} 1\n"
            ),
            "{classes}: {text}"
        );
    }
}

#[test]
fn a_client_set_writes_client_names_and_server_addresses() {
    let registry = Registry::new();
    let client = HttpClientMetrics::builder()
        .registry(&registry)
        .prefix("app")
        .server_addresses(["Up.Example:8080"])
        .build()
        .unwrap();
    assert_eq!(client.server("UP.example", 8080).label(), "up.example:8080");
    assert_eq!(client.server("up.example", 8081).label(), OTHER_SERVER);
    assert_eq!(client.other_server().label(), OTHER_SERVER);
    // A host longer than any host name is `other`, not a panic.
    let long = "h".repeat(300);
    assert_eq!(client.server(&long, 1).label(), OTHER_SERVER);
    drop(
        client
            .start(HttpMethod::Get, "up.example", 8080)
            .unwrap()
            .with_status(200),
    );
    let text = scrape(&registry);
    assert!(text.contains(
        "app_http_client_requests_total{method=\"GET\",server_address=\"up.example:8080\",status=\"200\"} 1\n"
    ), "{text}");
    assert!(text.contains(
        "app_http_client_requests_in_flight{method=\"GET\",server_address=\"up.example:8080\"} 0\n"
    ), "{text}");
    assert!(text
        .contains("# HELP app_http_client_request_duration_seconds Time from an outgoing request"));
    assert!(text.contains("app_promhttp_client_series_overflow_total{metric=\"app_http_client_requests_total\"} 0\n"), "{text}");
    // Undeclared: every server within the limit.
    let registry = Registry::new();
    let any = HttpClientMetrics::builder()
        .registry(&registry)
        .max_series(1)
        .build()
        .unwrap();
    assert_eq!(any.server("a", 1).label(), "a:1");
    drop(any.start(HttpMethod::Get, "a", 1).unwrap().with_status(200));
    drop(any.start(HttpMethod::Get, "b", 2).unwrap().with_status(200));
    let text = registry.encode(Format::OpenMetrics).unwrap();
    assert!(text.contains("server_address=\"overflow\""), "{text}");
}
