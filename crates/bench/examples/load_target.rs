//! A server for the HTTP load comparison (`scripts/load.sh`): the 20-route app of
//! `promhttp_bench` (the one the in-process benchmarks measure) on one worker
//! thread, bare or with a metrics middleware.
//!
//! `load_target <variant> <addr>` where variant is one of `axum-bare`,
//! `axum-promhttp`, `axum-prometheus`, `actix-bare`, `actix-promhttp`,
//! `actix-web-prom`.

use promhttp::{HttpMetrics, Registry};
use promhttp_bench::{actix_app as actix_routes, axum_app as axum_routes};

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
