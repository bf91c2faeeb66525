//! The toolkit's fetch: against a local axum upstream, every outcome a
//! poller meets, each an error value naming the URL and its cause, and every
//! call recorded in the client metrics (read back by the parsers).

mod common;

use std::error::Error;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use common::parse_openmetrics;
use promhttp::fetch::{Fetch, FetchErrorKind};
use promhttp::{Format, HttpClientMetrics, Registry};

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Status {
    current_requests: u64,
    auth: Option<String>,
}

async fn upstream() -> SocketAddr {
    let app = Router::new()
        .route(
            "/json",
            get(|headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (
                    [("content-type", "application/json")],
                    serde_json::json!({ "current_requests": 5, "auth": auth }).to_string(),
                )
            }),
        )
        .route("/big", get(|| async { "x".repeat(2_000) }))
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops") }),
        )
        .route("/bad", get(|| async { "{\"current_requests\": " }))
        .route("/hang", get(std::future::pending::<()>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    addr
}

/// The error and every cause below it, as a poller's log shows them.
fn chain(err: &dyn Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

#[tokio::test]
async fn a_poller_fetch_meets_every_outcome_with_a_clear_error_and_metrics() {
    let addr = upstream().await;
    let registry = Registry::new();
    let calls = HttpClientMetrics::builder()
        .registry(&registry)
        .build()
        .unwrap();
    let fetch = Fetch::new()
        .timeout(Duration::from_millis(300))
        .max_body(1_000)
        .header("authorization", "Bearer s3cret")
        .unwrap()
        .metrics(&calls);
    // A host name, resolved; the header sent.
    let port = addr.port();
    let status: Status = fetch
        .get_json(&format!("http://localhost:{port}/json"))
        .await
        .unwrap();
    assert_eq!(
        status,
        Status {
            current_requests: 5,
            auth: Some("Bearer s3cret".to_owned())
        }
    );

    let url = |path: &str| format!("http://{addr}{path}");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let refused = format!("http://{closed}/json");
    for (target, kind, words) in [
        (
            url("/fail"),
            FetchErrorKind::Status(500),
            "answered HTTP 500",
        ),
        (
            url("/bad"),
            FetchErrorKind::Json,
            "sent JSON of the wrong shape: EOF while parsing",
        ),
        (
            url("/big"),
            FetchErrorKind::BodyTooLarge,
            "sent a body larger than 1000 bytes",
        ),
        // The handler never answers: the timeout fires whatever the machine.
        (
            url("/hang"),
            FetchErrorKind::Timeout,
            "no complete answer within 300ms",
        ),
        (
            refused.clone(),
            FetchErrorKind::Connect,
            "cannot connect to 127.0.0.1",
        ),
        (
            "ftp://example.com/".to_owned(),
            FetchErrorKind::UnsupportedScheme,
            "only http:// and https:// URLs are supported",
        ),
        (
            "http://".to_owned(),
            FetchErrorKind::InvalidUrl,
            "invalid URL",
        ),
    ] {
        let err = fetch.get_json::<Status>(&target).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{target}: {}", chain(&err));
        assert_eq!(err.url(), target);
        let text = chain(&err);
        assert!(
            text.starts_with(&format!("GET {target}: ")) && text.contains(words),
            "{target}: {text}"
        );
    }
    // The refusal's cause is the system's own words.
    let err = fetch.get(&refused, "*/*").await.unwrap_err();
    assert!(
        chain(&err).to_lowercase().contains("connection refused"),
        "{}",
        chain(&err)
    );

    // A bad header is refused without its value.
    let err = Fetch::new().header("x-key", "line\nbreak").unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::InvalidHeader);
    assert!(!err.to_string().contains("break"), "{err}");
    assert!(Fetch::new().header("bad header", "v").is_err());

    let m = parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let count = |server: &str, status: &str| {
        m.value(
            "http_client_requests_total",
            &[
                ("method", "GET"),
                ("server_address", server),
                ("status", status),
            ],
        )
    };
    let here = addr.to_string();
    assert_eq!(count(&format!("localhost:{port}"), "200"), 1.0);
    assert_eq!(count(&here, "500"), 1.0);
    // /bad and /big answered 200 before their bodies failed the fetch.
    assert_eq!(count(&here, "200"), 2.0);
    assert_eq!(count(&here, "error"), 1.0, "the timeout");
    assert_eq!(count(&closed.to_string(), "error"), 2.0, "refused twice");
    // The URLs refused before any request were not calls.
    assert_eq!(m.sum("http_client_requests_total"), 7.0);
    for s in m.samples("http_client_requests_in_flight") {
        assert_eq!(s.value, 0.0, "{:?}", s.labels);
    }
}

/// What the HTTPS upstream answers.
const STATUS_JSON: &[u8] = br#"{"current_requests": 9, "auth": null}"#;

/// A test CA, and a server certificate it signs for `names`.
struct TestPki {
    ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestPki {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "promhttp test CA");
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Self {
            ca_pem,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server certificate for `names`, signed by this CA, and its key.
    fn server(&self, names: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

/// An HTTPS server on loopback presenting `cert`, answering every request with
/// the status JSON.
async fn https_upstream((cert, key): (Vec<u8>, Vec<u8>), body: &'static [u8]) -> SocketAddr {
    use tokio_rustls::rustls;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![rustls::pki_types::CertificateDer::from(cert)],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_req| async move {
                    Ok::<_, std::convert::Infallible>(
                        axum::http::Response::builder()
                            .header("content-type", "application/json")
                            .body(http_body_util::Full::new(bytes::Bytes::from_static(body)))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_is_verified_against_the_roots_and_a_ca_file() {
    let pki = TestPki::new();
    let good = https_upstream(pki.server(&["localhost"]), STATUS_JSON).await;
    let wrong_name = https_upstream(pki.server(&["elsewhere.example"]), STATUS_JSON).await;
    let dir = common::TempDir::new("fetch-ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let url = |addr: SocketAddr| format!("https://localhost:{}/status", addr.port());

    // Mozilla's roots alone do not know the test CA.
    let err = Fetch::new()
        .get_json::<Status>(&url(good))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::Tls, "{}", chain(&err));
    assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));

    // With the CA file: verified, read.
    let registry = Registry::new();
    let calls = HttpClientMetrics::builder()
        .registry(&registry)
        .build()
        .unwrap();
    let trusting = Fetch::new().ca_file(&ca_file).unwrap().metrics(&calls);
    let status: Status = trusting.get_json(&url(good)).await.unwrap();
    assert_eq!(status.current_requests, 9);

    // A certificate for another name is refused, saying so.
    let err = trusting
        .get_json::<Status>(&url(wrong_name))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::Tls);
    assert!(
        chain(&err).contains("not valid for name"),
        "{}",
        chain(&err)
    );

    // Plain HTTP to a TLS port is an error, not a hang or a panic.
    let err = trusting
        .get_json::<Status>(&format!("http://127.0.0.1:{}/status", good.port()))
        .await
        .unwrap_err();
    assert!(!chain(&err).is_empty());

    // A CA file that is not one is refused with its path.
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = Fetch::new().ca_file(&not_pem).unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::InvalidCa);
    assert!(err.to_string().contains("not.pem"), "{err}");
    let err = Fetch::new().ca_file(dir.join("missing.pem")).unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::InvalidCa);

    let m = parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap());
    let server = format!("localhost:{}", good.port());
    assert_eq!(
        m.value(
            "http_client_requests_total",
            &[
                ("method", "GET"),
                ("server_address", &server),
                ("status", "200")
            ]
        ),
        1.0
    );
}

/// The api_poller example, as a user runs it against a real HTTPS API with an
/// internal CA: `--url https://...` and `--ca-file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_poller_polls_an_https_api_with_a_ca_file() {
    let pki = TestPki::new();
    let api = https_upstream(
        pki.server(&["localhost"]),
        br#"{"shop": {"eu-1": {"web": [{"name": "web-1", "energy_consumed": [4.5]}]}}}"#,
    )
    .await;
    let dir = common::TempDir::new("poller-ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let url = format!("https://localhost:{}/energy", api.port());
    let ca = ca_file.to_str().unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        let args = [
            "--url",
            &url,
            "--interval",
            "100ms",
            "--bind",
            "127.0.0.1:0",
        ];
        let (_poller, line) = common::start_example(
            "api_poller",
            &[],
            &[&args[..], &["--ca-file", &ca]].concat(),
        );
        let addr = common::served_addr(&line);
        let m = common::wait_until("an HTTPS poll", common::HANG, || {
            let m = common::scrape_parsed(addr);
            (m.get("energy_api_up", &[]) == Some(1.0))
                .then_some(m)
                .ok_or_else(|| "not yet".to_owned())
        });
        assert_eq!(
            m.value(
                "pod_energy_consumed",
                &[
                    ("app", "shop"),
                    ("cluster", "eu-1"),
                    ("namespace", "web"),
                    ("pod_name", "web-1")
                ]
            ),
            4.5
        );
        // Without the CA file the certificate does not verify: every poll fails.
        let (_poller, line) = common::start_example("api_poller", &[], &args);
        let addr = common::served_addr(&line);
        let m = common::wait_until("a refused certificate", common::HANG, || {
            let m = common::scrape_parsed(addr);
            m.get("energy_api_poll_errors_total", &[])
                .filter(|e| *e >= 1.0)
                .map(|_| m)
                .ok_or_else(|| "not yet".to_owned())
        });
        assert_eq!(m.get("energy_api_up", &[]), Some(0.0));
    })
    .await
    .unwrap();
}

/// A push sends the registry as text 0.0.4 to the group's URL with the
/// method the call says, and basic authentication when given.
#[tokio::test]
async fn a_push_sends_its_method_body_and_basic_auth() {
    use std::sync::{Arc, Mutex};
    /// Method, path, `Authorization` and body of each request seen.
    type Seen = Vec<(String, String, Option<String>, String)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let record = Arc::clone(&seen);
    let app = Router::new().fallback(move |req: axum::extract::Request| {
        let record = Arc::clone(&record);
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            record.lock().unwrap().push((
                parts.method.to_string(),
                parts.uri.path().to_owned(),
                parts
                    .headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned()),
                String::from_utf8(body.to_vec()).unwrap(),
            ));
            ""
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());

    let registry = Registry::new();
    // Something to push: the client metrics, registered.
    let _calls = HttpClientMetrics::builder()
        .registry(&registry)
        .build()
        .unwrap();
    let pusher = promhttp::push::Pusher::new(&format!("http://{addr}"), "job")
        .unwrap()
        .basic_auth("user", "pass")
        .unwrap();
    pusher.push(&registry).await.unwrap();
    pusher.push_add(&registry).await.unwrap();
    pusher.delete().await.unwrap();
    let seen = seen.lock().unwrap();
    let methods: Vec<&str> = seen.iter().map(|(m, ..)| m.as_str()).collect();
    assert_eq!(methods, ["PUT", "POST", "DELETE"]);
    for (_, path, auth, _) in seen.iter() {
        assert_eq!(path, "/metrics/job@base64/am9i");
        // base64("user:pass")
        assert_eq!(auth.as_deref(), Some("Basic dXNlcjpwYXNz"));
    }
    assert!(
        seen[0]
            .3
            .contains("# TYPE http_client_requests_total counter"),
        "{}",
        seen[0].3
    );
    assert!(seen[2].3.is_empty());
}
