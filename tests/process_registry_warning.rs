//! The process registry's `/metrics` handler says so, once, when every HTTP
//! metric set of the process was built into another registry (its answers
//! would lack the request metrics).
//!
//! A binary of its own with one test: what it checks is process-wide state
//! (where sets were built), which no other test may touch meanwhile.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use promhttp::{HttpMetrics, Registry};
use tower::ServiceExt as _;

/// A `tracing` writer that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn serving_the_process_registry_beside_a_set_built_elsewhere_warns_once() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let scrape = || {
        runtime.block_on(async {
            let app: Router = Router::new().route("/metrics", get(promhttp::axum::metrics_handler));
            let res = app
                .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
        });
    };
    let warnings = || {
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.matches("every HTTP metric set of this process was built into another registry")
            .count()
    };

    // Nothing built yet: serving the process registry is no mistake.
    assert!(!promhttp::http_sets_elsewhere());
    scrape();
    assert_eq!(warnings(), 0);

    // A set in a registry of its own, none in the process registry.
    let registry = Registry::new();
    let _metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    assert!(promhttp::http_sets_elsewhere());
    scrape();
    scrape();
    assert_eq!(warnings(), 1, "once per process");

    // With a set in the process registry too, nothing is missing.
    let _default = HttpMetrics::default();
    assert!(!promhttp::http_sets_elsewhere());
}
