//! ratelimit-demo: a web API limited by the redis-ratelimit module, one call per
//! request. `limiter` is the reusable part (an axum middleware layer); `app` wires it to
//! a few routes and a page that shows it at work.

pub mod app;
pub mod config;
pub mod limiter;
pub mod load;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use app::{router, AppState};
pub use config::Config;
pub use limiter::RateLimiter;

/// Builds the app and serves it on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    redis_url: &str,
    load: Arc<dyn load::LoadSource>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let metrics = app::metrics_handle();
    let limiter = Arc::new(RateLimiter::new(config, redis_url, load)?);
    metrics::gauge!("ratelimit_demo_fallback_active").set(0.0);
    let state = AppState { limiter, metrics };
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| e.to_string())
}
