//! Recording into an existing series allocates nothing: counted with a global
//! allocator that counts, per request, with and without the middleware.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt as _;
use promhttp::{HttpMetrics, Registry};
use tower::Service as _;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

fn run<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn routes() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

/// What `axum::serve` does once: builds every route's service now, so that
/// layers are applied once and not on every request.
fn finished(router: Router) -> Router {
    router.with_state(())
}

fn per_request(router: &mut Router) -> u64 {
    let one = |router: &mut Router| {
        let req = Request::get("/users/42").body(Body::empty()).unwrap();
        let res = run(router.call(req)).unwrap();
        let mut body = pin!(res.into_body());
        while let Some(frame) = run(body.as_mut().frame()) {
            frame.unwrap();
        }
    };
    one(router); // create the series
    let before = allocations();
    for _ in 0..100 {
        one(router);
    }
    (allocations() - before) / 100
}

#[test]
fn axum_router_allocations() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();
    let bare = per_request(&mut finished(routes()));
    let identity = per_request(&mut finished(
        routes().layer(tower::layer::util::Identity::new()),
    ));
    let wrapper = per_request(&mut finished(routes().layer(
        tower::util::MapResponseLayer::new(|res: axum::response::Response| {
            res.map(|body| body.map_frame(|frame| frame))
        }),
    )));
    let ours = per_request(&mut finished(
        routes().layer(promhttp::axum::MetricsLayer::new(&metrics)),
    ));
    println!("bare {bare} identity {identity} wrapper {wrapper} promhttp {ours}");
}
