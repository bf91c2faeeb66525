//! The `/metrics` route as the README sets it up, in both demos, over real
//! HTTP: `HEAD` gets the status and headers a `GET` gets (its
//! `Content-Length` included, with or without gzip) and no body; other methods
//! get `405` naming the ones allowed.

mod common;

use std::net::SocketAddr;

fn header<'a>(res: &'a common::HttpResponse, name: &str) -> Option<&'a str> {
    res.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn check(addr: SocketAddr, app: &str) {
    for encoding in [None, Some("gzip")] {
        let headers: Vec<(&str, &str)> = encoding
            .map(|e| ("accept-encoding", e))
            .into_iter()
            .collect();
        let head = common::http(addr, "HEAD", "/metrics", &headers, b"").unwrap();
        let get = common::http(addr, "GET", "/metrics", &headers, b"").unwrap();
        assert_eq!(head.status, 200, "{app} {encoding:?}");
        assert!(head.body.is_empty(), "{app}: HEAD sent a body");
        for name in ["content-type", "content-encoding", "vary"] {
            assert_eq!(
                header(&head, name),
                header(&get, name),
                "{app} {encoding:?}: {name}"
            );
        }
        let length: usize = header(&head, "content-length")
            .unwrap_or_else(|| panic!("{app} {encoding:?}: HEAD has no content-length"))
            .parse()
            .unwrap();
        // The exposition moves between the two scrapes (the scrape counters,
        // the process' figures), by a few bytes at most.
        let got = get.body.len();
        assert!(
            length > 100 && length.abs_diff(got) < 64,
            "{app} {encoding:?}: HEAD {length}, GET {got}"
        );
    }
    let post = common::http(addr, "POST", "/metrics", &[], b"x").unwrap();
    assert_eq!(post.status, 405, "{app}");
    let allow = header(&post, "allow").unwrap_or_default().replace(' ', "");
    assert_eq!(allow, "GET,HEAD", "{app}");
}

#[test]
fn head_and_other_methods_are_answered_as_the_readme_says() {
    let (_axum, axum_line) = common::start_example("axum", &[("BIND", "127.0.0.1:0")], &[]);
    let (_actix, actix_line) = common::start_example("actix", &[("BIND", "127.0.0.1:0")], &[]);
    check(common::served_addr(&axum_line), "axum");
    check(common::served_addr(&actix_line), "actix");
}

#[test]
fn the_demos_serve_opentelemetry_names_with_promhttp_naming_otel() {
    for name in ["axum", "actix"] {
        let (_demo, line) = common::start_example(
            name,
            &[("BIND", "127.0.0.1:0"), ("PROMHTTP_NAMING", "otel")],
            &[],
        );
        let addr = common::served_addr(&line);
        let res = common::http(addr, "GET", "/users/7", &[], b"").unwrap();
        assert_eq!(res.status, 200, "{name}");
        let m = common::scrape_parsed(addr);
        assert_eq!(
            m.value(
                "http_server_request_duration_seconds_count",
                &[
                    ("http_request_method", "GET"),
                    ("http_route", "/users/{id}"),
                    ("http_response_status_code", "200"),
                    ("url_scheme", "http"),
                ]
            ),
            1.0,
            "{name}"
        );
        assert_eq!(m.samples("http_server_requests_total").count(), 0, "{name}");
        assert!(
            m.samples("http_server_active_requests").count() > 0,
            "{name}"
        );
        // Both formats still pass every reader and promtool.
        common::check_outputs(addr);
    }
    // A value that is neither is refused, naming the variable.
    for name in ["axum", "actix"] {
        let out = std::process::Command::new(common::example_binary(name))
            .env("BIND", "127.0.0.1:0")
            .env("PROMHTTP_NAMING", "opentelemetry")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("PROMHTTP_NAMING")
                && stderr.contains("opentelemetry")
                && stderr.contains("is not valid: `otel` or `promhttp`"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn the_demos_record_body_sizes_with_promhttp_body_sizes() {
    for name in ["axum", "actix"] {
        let (_demo, line) = common::start_example(
            name,
            &[
                ("BIND", "127.0.0.1:0"),
                ("PROMHTTP_BODY_SIZES", "1"),
                ("PROMHTTP_FIRST_BYTE", "true"),
            ],
            &[],
        );
        let addr = common::served_addr(&line);
        let res = common::http(addr, "POST", "/echo", &[], &[b'e'; 3_000]).unwrap();
        assert_eq!((res.status, res.body.len()), (200, 3_000), "{name}");
        let echo = [("method", "POST"), ("route", "/echo"), ("status", "200")];
        let m = common::wait_until("the echo to be counted", common::HANG, || {
            let m = common::scrape_parsed(addr);
            m.get("http_server_requests_total", &echo)
                .map(|_| m)
                .ok_or_else(|| "not yet".to_owned())
        });
        for family in [
            "http_server_request_body_size_bytes",
            "http_server_response_body_size_bytes",
        ] {
            assert_eq!(
                m.value(&format!("{family}_sum"), &echo),
                3_000.0,
                "{name} {family}"
            );
        }
        assert_eq!(
            m.value("http_server_time_to_first_byte_seconds_count", &echo),
            1.0,
            "{name}"
        );
        common::check_outputs(addr);
    }
    // Off by default; a value that is neither is refused, naming the variable.
    for name in ["axum", "actix"] {
        let (_demo, line) = common::start_example(name, &[("BIND", "127.0.0.1:0")], &[]);
        let m = common::scrape_parsed(common::served_addr(&line));
        assert!(
            m.family("http_server_request_body_size_bytes").is_none(),
            "{name}"
        );
        let out = std::process::Command::new(common::example_binary(name))
            .env("BIND", "127.0.0.1:0")
            .env("PROMHTTP_BODY_SIZES", "yes")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("PROMHTTP_BODY_SIZES=")
                && stderr.contains("yes")
                && stderr.contains("is not valid: `1` (or `true`) turns it on"),
            "{name}: {stderr}"
        );
    }
}
