//! Recording into an existing series allocates nothing. Allocations per request
//! are counted with dhat's global allocator, with and without the middleware,
//! once every series exists.
//!
//! One test function: dhat counts process-wide, so nothing may run beside it.

mod common;

use actix_web::dev::Service as _;
use actix_web::{test as actix_test, web, App};
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::Full;
use promhttp::{HttpMetrics, Registry};
use tower::{Service, ServiceBuilder};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const REQUESTS: u64 = 1_000;

/// The most allocations promhttp may add to a request in an axum `Router`: the
/// two that axum's `Router::layer` costs whatever the layer (measured with a
/// layer that does nothing), and the box of axum's `Body::new` around the body
/// it watches.
const AXUM_MAX_ADDED: u64 = 3;

/// Of those, the most beyond what a layer that does nothing costs in a `Router`:
/// the `Body::new` box.
const AXUM_MAX_ADDED_BEYOND_A_LAYER: u64 = 1;

/// The most allocations promhttp may add to a routed request in actix-web: the
/// `String` that `match_pattern` returns.
const ACTIX_MAX_ADDED: u64 = 1;

/// Allocations made by [`REQUESTS`] calls of `one`, after one call that creates
/// the series: the least of five rounds. dhat counts every thread of the
/// process, and the test harness's own threads allocate now and then; what a
/// request allocates is the same in every round.
fn per_request(mut one: impl FnMut()) -> u64 {
    one();
    (0..5)
        .map(|_| {
            let before = dhat::HeapStats::get().total_blocks;
            for _ in 0..REQUESTS {
                one();
            }
            dhat::HeapStats::get().total_blocks - before
        })
        .min()
        .unwrap_or(u64::MAX)
}

fn tower_request<S, B>(svc: &mut S) -> impl FnMut() + '_
where
    S: Service<Request<Full<&'static [u8]>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    move || {
        let req = Request::new(Full::new(&b""[..]));
        let res = common::run(svc.call(req)).unwrap();
        common::drain_body(res.into_body());
    }
}

fn axum_request(router: &mut Router) -> impl FnMut() + '_ {
    move || {
        let req = Request::get("/users/42").body(Body::empty()).unwrap();
        let res = common::run(router.call(req)).unwrap();
        common::drain_body(res.into_body());
    }
}

fn routes() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

#[test]
fn the_middleware_allocates_nothing_per_request_of_its_own() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let registry = Registry::new();
    let metrics = HttpMetrics::builder().registry(&registry).build().unwrap();

    // Any tower HTTP service: promhttp's layer adds no allocation at all.
    let handler = tower::service_fn(|_req: Request<Full<&'static [u8]>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(&b"user"[..])))
    });
    let mut bare = handler;
    let mut layered = ServiceBuilder::new()
        .layer(promhttp::axum::MetricsLayer::new(&metrics))
        .service(handler);
    let tower_bare = per_request(tower_request(&mut bare));
    let tower_ours = per_request(tower_request(&mut layered));

    // In an axum Router, compared with a layer that does nothing: axum turns the
    // wrapped body back into its `Body` with `Body::new`, which boxes it. That
    // box is the one allocation a layer that watches the body costs there.
    let finished = |router: Router| router.with_state(());
    let axum_bare = per_request(axum_request(&mut finished(routes())));
    let mut identity = finished(routes().layer(tower::layer::util::Identity::new()));
    let axum_identity = per_request(axum_request(&mut identity));
    let mut ours = finished(routes().layer(promhttp::axum::MetricsLayer::new(&metrics)));
    let axum_ours = per_request(axum_request(&mut ours));
    // With body sizes and time to first byte on: one allocation more per
    // request, what it transferred (a GET has no body to wrap).
    let sized = HttpMetrics::builder()
        .registry(&Registry::new())
        .body_sizes(true)
        .time_to_first_byte(true)
        .build()
        .unwrap();
    let mut with_sizes = finished(routes().layer(promhttp::axum::MetricsLayer::new(&sized)));
    let axum_sizes = per_request(axum_request(&mut with_sizes));

    // actix-web hands out the matched route template only through
    // `match_pattern`, read after routing: it walks the resource routing
    // recorded and returns a `String`, the one allocation promhttp adds to a
    // routed request. A request nothing matched is not matched again (which
    // would allocate regex captures): it costs no allocation at all.
    let system = actix_web::rt::System::new();
    let configure = |cfg: &mut web::ServiceConfig| {
        cfg.route("/users/{id}", web::get().to(|| async { "user" }))
            .service(web::scope("/api").route("/items/{id}", web::get().to(|| async { "item" })));
    };
    let actix_bare_app = system.block_on(actix_test::init_service(App::new().configure(configure)));
    let actix_ours_app = system.block_on(actix_test::init_service(
        App::new()
            .wrap(promhttp::actix::Metrics::new(&metrics))
            .configure(configure),
    ));
    macro_rules! actix_request {
        ($app:expr, $path:expr) => {
            || {
                let req = actix_test::TestRequest::get().uri($path).to_request();
                let res = common::run($app.call(req)).unwrap();
                common::drain_actix_body(res.into_body());
            }
        };
    }
    let (actix_bare, actix_ours, actix_404_bare, actix_404_ours) = system.block_on(async {
        (
            per_request(actix_request!(actix_bare_app, "/api/items/42")),
            per_request(actix_request!(actix_ours_app, "/api/items/42")),
            per_request(actix_request!(actix_bare_app, "/api/wp-admin/x.php")),
            per_request(actix_request!(actix_ours_app, "/api/wp-admin/x.php")),
        )
    });

    let per = |n: u64| n as f64 / REQUESTS as f64;
    println!("allocations per request (bare -> promhttp):");
    println!(
        "  tower service:  {} -> {}",
        per(tower_bare),
        per(tower_ours)
    );
    println!(
        "  axum Router:    {} -> {} (an Identity layer: {})",
        per(axum_bare),
        per(axum_ours),
        per(axum_identity)
    );
    println!(
        "  actix-web App:  {} -> {} (a 404: {} -> {})",
        per(actix_bare),
        per(actix_ours),
        per(actix_404_bare),
        per(actix_404_ours)
    );
    // What promhttp adds is the difference with and without it, whatever the
    // framework allocates by itself; a framework that allocates less one day
    // passes, one whose adapter costs more fails.
    assert!(
        axum_bare > 0,
        "dhat counted no allocation in an axum Router: the measure does not work"
    );
    let added = |ours: u64, bare: u64| ours.saturating_sub(bare);
    assert_eq!(
        added(tower_ours, tower_bare),
        0,
        "the tower layer allocated per request"
    );
    assert!(
        added(axum_ours, axum_bare) <= AXUM_MAX_ADDED * REQUESTS,
        "the axum layer added {} allocations per request to a Router",
        per(added(axum_ours, axum_bare))
    );
    assert!(
        added(axum_ours, axum_identity) <= AXUM_MAX_ADDED_BEYOND_A_LAYER * REQUESTS,
        "the axum layer added {} allocations per request beyond a layer that does \
         nothing, more than axum's Body::new box",
        per(added(axum_ours, axum_identity))
    );
    assert!(
        added(actix_ours, actix_bare) <= ACTIX_MAX_ADDED * REQUESTS,
        "the actix middleware added {} allocations per request, beyond match_pattern's String",
        per(added(actix_ours, actix_bare))
    );
    assert_eq!(
        added(axum_sizes, axum_ours),
        REQUESTS,
        "body sizes cost other than one allocation per request without a body"
    );
    assert_eq!(
        added(actix_404_ours, actix_404_bare),
        0,
        "the actix middleware allocated for a request nothing matched (a re-match of its path?)"
    );
}
