//! A server for the HTTP load comparison (`scripts/load.sh`): the demo routes
//! (`GET /`, `GET /users/{id}`, `POST /echo`) on one worker thread, bare or with
//! a metrics middleware.
//!
//! `load_target <variant> <addr>` where variant is one of `axum-bare`,
//! `axum-promhttp`, `axum-prometheus`, `actix-bare`, `actix-promhttp`,
//! `actix-web-prom`.

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use promhttp::{HttpMetrics, Registry};

fn axum_routes() -> Router {
    Router::new()
        .route("/", get(|| async { "index" }))
        .route(
            "/users/{id}",
            get(|axum::extract::Path(id): axum::extract::Path<String>| async move { id }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
}

fn actix_routes(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web;
    cfg.route("/", web::get().to(|| async { "index" }))
        .route(
            "/users/{id}",
            web::get().to(|id: web::Path<String>| async move { id.into_inner() }),
        )
        .route(
            "/echo",
            web::post().to(|body: web::Bytes| async move { body }),
        );
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (variant, addr) = match args.as_slice() {
        [_, variant, addr] => (variant.clone(), addr.clone()),
        _ => return Err(std::io::Error::other("usage: load_target <variant> <addr>")),
    };
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .build()
        .map_err(std::io::Error::other)?;
    if let Some(framework) = variant.strip_prefix("axum-") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let app = match framework {
                "bare" => axum_routes(),
                "promhttp" => axum_routes().layer(promhttp::axum::MetricsLayer::new(&metrics)),
                "prometheus" => {
                    let (layer, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
                    axum_routes().layer(layer)
                }
                other => {
                    return Err(std::io::Error::other(format!(
                        "unknown variant axum-{other}"
                    )))
                }
            };
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!("{variant} listening on {addr}");
            axum::serve(listener, app).await
        })
    } else {
        actix_web::rt::System::new().block_on(async move {
            use actix_web::{App, HttpServer};
            let server = match variant.as_str() {
                "actix-bare" => HttpServer::new(|| App::new().configure(actix_routes))
                    .workers(1)
                    .bind(&addr)?
                    .run(),
                "actix-promhttp" => HttpServer::new(move || {
                    App::new()
                        .wrap(promhttp::actix::Metrics::new(&metrics))
                        .configure(actix_routes)
                })
                .workers(1)
                .bind(&addr)?
                .run(),
                "actix-web-prom" => {
                    let peer = actix_web_prom::PrometheusMetricsBuilder::new("api")
                        .registry(prometheus::Registry::new())
                        .build()
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    HttpServer::new(move || App::new().wrap(peer.clone()).configure(actix_routes))
                        .workers(1)
                        .bind(&addr)?
                        .run()
                }
                other => return Err(std::io::Error::other(format!("unknown variant {other}"))),
            };
            println!("{variant} listening on {addr}");
            server.await
        })
    }
}
