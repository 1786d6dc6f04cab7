//! ratelimit-demo: a web API limited by the redis-ratelimit module, one call per
//! request, through the `axum-redis-ratelimit` layer; `app` wires it to a few routes
//! and a page that shows it at work, `config` reads its policies from a TOML file.

pub mod app;
pub mod config;
pub use axum_redis_ratelimit::load;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use app::{router, AppState};
pub use axum_redis_ratelimit::RateLimiter;
pub use config::Config;

/// Builds the app and serves it on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    redis_url: &str,
    load: Arc<dyn load::LoadSource>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let metrics = app::metrics_handle();
    let limiter = Arc::new(
        RateLimiter::new(config, redis_url)?
            .with_load_source(load)
            .with_metrics_prefix("ratelimit_demo"),
    );
    let state = AppState { limiter, metrics };
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| e.to_string())
}
