//! Slow and idle clients against the servers promhttp runs or shows: the
//! metrics-only listener (`promhttp::axum::serve`, `MetricsServer`), both demos and
//! the exporter examples (which serve with `promhttp::axum::serve_app`).
//! Each must close a connection that takes too long to send its request head
//! (slowloris) or sits idle after a response. The limits are configured short
//! (a fifth of a second) and real clients on loopback keep sending until the
//! server closes them; a server that never does fails the test after `GUARD`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use promhttp::axum::MetricsServer;
use promhttp::collect::Families;
use promhttp::family::MetricFamily;
use promhttp::Registry;

/// The header read timeout the servers under test are given.
const LIMIT: Duration = Duration::from_millis(200);

/// How often a slow client sends one more byte of its head: well within `LIMIT`,
/// so that only a bound on the time to read the whole head can stop it (one byte
/// at a time, so that no bound on the head's size or number of lines does).
const PACE: Duration = Duration::from_millis(40);

/// How long a client holds on before the test gives up on the server closing it:
/// far above `LIMIT`, reached only by a server that does not bound connections.
const GUARD: Duration = Duration::from_secs(30);

/// Concurrent slow clients per server.
const CLIENTS: usize = 50;

/// How a client's connection ended.
#[derive(Debug)]
struct Ended {
    /// The server closed it (rather than `GUARD` running out).
    closed_by_server: bool,
    /// Bytes of a header line sent one at a time after the request line.
    bytes_dripped: usize,
    /// What the server sent before closing.
    answer: Vec<u8>,
}

impl Ended {
    fn status_line(&self) -> String {
        String::from_utf8_lossy(&self.answer)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }
}

/// Reads what the server sends for up to `wait`: `Ok(true)` once it has closed
/// the connection (end of stream or reset), `Ok(false)` if it is still open.
fn read_for(stream: &mut TcpStream, wait: Duration, answer: &mut Vec<u8>) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A slowloris client: sends `GET target`, starts a header line and then sends
/// one more byte of it every `PACE`, never ending the head, until the server
/// closes the connection.
fn slowloris(addr: SocketAddr, target: &str) -> Ended {
    let mut stream = TcpStream::connect(addr).unwrap();
    let start = Instant::now();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: slow\r\nX-Slow: ").unwrap();
    let mut ended = Ended {
        closed_by_server: false,
        bytes_dripped: 0,
        answer: Vec::new(),
    };
    while start.elapsed() < GUARD {
        if read_for(&mut stream, PACE, &mut ended.answer) || stream.write_all(b"z").is_err() {
            ended.closed_by_server = true;
            break;
        }
        ended.bytes_dripped += 1;
    }
    ended
}

/// A client that sends one whole request on a kept-alive connection, reads the
/// answer and then says nothing; returns how that ended and the answer.
fn idle_after_a_request(addr: SocketAddr, target: &str) -> Ended {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: idle\r\n\r\n").unwrap();
    silent(stream)
}

/// Holds `stream` without sending anything until the server closes it.
fn silent(mut stream: TcpStream) -> Ended {
    let mut answer = Vec::new();
    let closed_by_server = read_for(&mut stream, GUARD, &mut answer);
    Ended {
        closed_by_server,
        bytes_dripped: 0,
        answer,
    }
}

/// Runs `CLIENTS` slowloris clients, an idle client after one request, and a
/// silent one against `addr` at once, and checks that the server closed every
/// connection. A well-behaved request is sent meanwhile: returns its status with
/// the status lines the slow clients got (empty where none).
fn check_slow_and_idle_clients_are_closed(addr: SocketAddr, target: &str) -> (u16, Vec<String>) {
    std::thread::scope(|scope| {
        let slow: Vec<_> = (0..CLIENTS)
            .map(|_| scope.spawn(move || slowloris(addr, target)))
            .collect();
        let idle = scope.spawn(move || idle_after_a_request(addr, target));
        let quiet = scope.spawn(move || silent(TcpStream::connect(addr).unwrap()));
        let meanwhile = common::http(addr, "GET", target, &[], b"").unwrap();

        let mut statuses = Vec::new();
        for client in slow {
            let ended = client.join().unwrap();
            assert!(
                ended.closed_by_server,
                "a slow head was still being read after {GUARD:?} ({} bytes dripped)",
                ended.bytes_dripped
            );
            assert!(
                ended.bytes_dripped >= 1,
                "closed before it sent anything slowly"
            );
            statuses.push(ended.status_line());
        }
        let idle = idle.join().unwrap();
        assert!(
            idle.closed_by_server,
            "an idle kept-alive connection was still open after {GUARD:?}"
        );
        assert!(
            idle.status_line().starts_with("HTTP/1.1 200"),
            "{:?}",
            idle.status_line()
        );
        let quiet = quiet.join().unwrap();
        assert!(
            quiet.closed_by_server,
            "a connection that never sent a byte was still open after {GUARD:?}"
        );
        (meanwhile.status, statuses)
    })
}

/// A registry whose one collector takes `delay` to answer.
fn slow_registry(delay: Duration) -> Registry {
    let registry = Registry::new();
    registry
        .collector("slow")
        .family(MetricFamily::gauge("slow_answer", "Answered slowly."))
        .register(move |out: &mut Families| {
            std::thread::sleep(delay);
            out.family("slow_answer")?
                .add_gauge(promhttp::family::NO_LABELS, 1.0);
            Ok(())
        })
        .unwrap();
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listener_closes_slow_heads_and_idle_connections() {
    let registry = Registry::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        MetricsServer::new(&registry)
            .header_read_timeout(LIMIT)
            .serve_on(listener),
    );
    let (meanwhile, slow) = tokio::task::spawn_blocking(move || {
        check_slow_and_idle_clients_are_closed(addr, "/metrics")
    })
    .await
    .unwrap();
    assert_eq!(meanwhile, 200);
    // hyper closes a connection whose head is late without answering it.
    assert!(slow.iter().all(String::is_empty), "{slow:?}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listener_answers_a_scrape_slower_than_the_header_read_timeout() {
    // The bound is on the request head: a scrape that takes longer to encode
    // than it is answered (its own limit is `MetricsEndpoint::timeout`).
    let registry = slow_registry(3 * LIMIT);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        MetricsServer::new(&registry)
            .header_read_timeout(LIMIT)
            .serve_on(listener),
    );
    let res = tokio::task::spawn_blocking(move || common::http(addr, "GET", "/metrics", &[], b""))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status, 200);
    assert!(res.text().contains("slow_answer 1\n"), "{}", res.text());
    server.abort();
}

#[tokio::test]
async fn metrics_listener_refuses_a_zero_header_read_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = MetricsServer::new(Registry::new())
        .header_read_timeout(Duration::ZERO)
        .serve_on(listener)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("header_read_timeout"), "{err}");
}

#[tokio::test]
async fn serve_app_refuses_a_zero_header_read_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = promhttp::axum::serve_app(listener, axum::Router::new(), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("header_read_timeout"), "{err}");
}

/// Starts a demo with the short limit; returns it and its address.
fn start_demo(name: &str) -> (common::Running, SocketAddr) {
    let seconds = LIMIT.as_secs_f64().to_string();
    let (running, line) = common::start_example(
        name,
        &[
            ("BIND", "127.0.0.1:0"),
            ("HEADER_READ_TIMEOUT_SECONDS", &seconds),
        ],
        &[],
    );
    (running, common::served_addr(&line))
}

#[test]
fn axum_demo_closes_slow_heads_and_idle_connections() {
    let (_demo, addr) = start_demo("axum");
    let (meanwhile, slow) = check_slow_and_idle_clients_are_closed(addr, "/users/7");
    assert_eq!(meanwhile, 200);
    assert!(slow.iter().all(String::is_empty), "{slow:?}");
}

#[test]
fn actix_demo_closes_slow_heads_with_408_and_idle_connections() {
    let (_demo, addr) = start_demo("actix");
    let (meanwhile, slow) = check_slow_and_idle_clients_are_closed(addr, "/users/7");
    assert_eq!(meanwhile, 200);
    assert!(
        slow.iter().all(|s| s.starts_with("HTTP/1.1 408")),
        "{slow:?}"
    );
}

#[test]
fn examples_refuse_a_header_read_timeout_that_is_not_a_positive_number() {
    for (demo, _, args) in EXAMPLES {
        for bad in ["0", "-1", "soon"] {
            let out = std::process::Command::new(common::example_binary(demo))
                .env("BIND", "127.0.0.1:0")
                .env("EXPORTER_HOST", "127.0.0.1")
                .env("EXPORTER_PORT", "0")
                .env("HEADER_READ_TIMEOUT_SECONDS", bad)
                .args(args)
                .output()
                .unwrap();
            assert!(!out.status.success(), "{demo} accepted {bad:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("HEADER_READ_TIMEOUT_SECONDS"),
                "{demo} {bad:?}: {stderr}"
            );
        }
    }
}

/// An example's name, environment and arguments.
type Example = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

/// Every example that serves HTTP, with what starts it on a port of the
/// system's choosing: an upstream on a port nothing listens on (9, discard)
/// is enough, as their `/metrics` answers whether or not the upstream does.
const EXAMPLES: [Example; 6] = [
    ("axum", &[("BIND", "127.0.0.1:0")], &[]),
    ("actix", &[("BIND", "127.0.0.1:0")], &[]),
    (
        "relay",
        &[],
        &[
            "--service",
            "s",
            "--url",
            "http://127.0.0.1:9/metrics",
            "--port",
            "0",
        ],
    ),
    (
        "api_poller",
        &[],
        &["--url", "http://127.0.0.1:9/", "--bind", "127.0.0.1:0"],
    ),
    (
        "status_sidecar",
        &[
            ("APP_HOST", "127.0.0.1"),
            ("APP_PORT", "9"),
            ("EXPORTER_HOST", "127.0.0.1"),
            ("EXPORTER_PORT", "0"),
        ],
        &[],
    ),
    ("app_registry", &[("BIND", "127.0.0.1:0")], &[]),
];

#[test]
fn exporter_examples_close_slow_heads_and_idle_connections() {
    let seconds = LIMIT.as_secs_f64().to_string();
    for (name, env, args) in &EXAMPLES[2..] {
        let mut env = env.to_vec();
        env.push(("HEADER_READ_TIMEOUT_SECONDS", &seconds));
        let (_example, line) = common::start_example(name, &env, args);
        let addr = common::served_addr(&line);
        let (meanwhile, slow) = check_slow_and_idle_clients_are_closed(addr, "/metrics");
        assert_eq!(meanwhile, 200, "{name}");
        assert!(slow.iter().all(String::is_empty), "{name}: {slow:?}");
    }
}
