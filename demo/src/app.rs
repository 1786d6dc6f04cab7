//! The routes: the page, the limited API, and the never-limited health, metrics and
//! API description.

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use axum_redis_ratelimit::{RateLimitLayer, RateLimiter};

#[derive(Clone)]
pub struct AppState {
    pub limiter: Arc<RateLimiter>,
    pub metrics: PrometheusHandle,
}

/// The process-wide Prometheus recorder (the `metrics` facade has one global recorder,
/// so every app in a process shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// The data the limited endpoint serves.
#[derive(Serialize, ToSchema)]
pub struct Data {
    message: &'static str,
    served_at_ms: u64,
}

/// The body of a 429.
#[derive(Serialize, ToSchema)]
pub struct TooManyRequests {
    #[schema(example = "Too Many Requests")]
    error: String,
    /// Milliseconds until the request could pass; -1 if it never can.
    retry_after_ms: i64,
    /// The policy that denied it.
    policy: String,
}

/// The body of a 401 or 503.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: String,
    detail: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    /// "up" when Redis answers PING, else "down" (the app still serves).
    redis: &'static str,
    /// Whether the failure mode is in force.
    fallback_active: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ratelimit-demo",
        description = "A rate-limited API: every request to /api/data is one RATELIMIT.CHECK call."
    ),
    paths(data, public, healthz),
    components(schemas(Data, TooManyRequests, ErrorBody, Health))
)]
pub struct ApiDoc;

/// Some data, limited per client IP, or per API key tier with `X-API-Key`.
#[utoipa::path(
    get,
    path = "/api/data",
    params(("X-API-Key" = Option<String>, Header, description = "API key; without one the client IP is limited")),
    responses(
        (status = 200, description = "Allowed; RateLimit and RateLimit-Policy headers say what is left", body = Data),
        (status = 401, description = "Unknown API key", body = ErrorBody),
        (status = 429, description = "Limited; Retry-After says when to try again", body = TooManyRequests),
        (status = 503, description = "The limiter is unreachable and the failure mode is `closed`", body = ErrorBody),
    )
)]
async fn data() -> Json<Data> {
    let served_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Json(Data {
        message: "Hello from a rate-limited API",
        served_at_ms,
    })
}

/// The same data, on a route no bundled policy limits (a baseline for benchmarks).
#[utoipa::path(get, path = "/api/public", responses((status = 200, body = Data)))]
async fn public() -> Json<Data> {
    data().await
}

/// Liveness and Redis reachability; never limited.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let up = state.limiter.redis_up().await;
    Json(Health {
        status: "ok",
        redis: if up { "up" } else { "down" },
        fallback_active: state.limiter.fallback_active(),
    })
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The whole app. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`:
/// the limiter needs the peer address.
pub fn router(state: AppState) -> Router {
    // The limiter sees every /api route; the policies decide which are limited, and
    // for whom. /api/public has no policy in the bundled configuration.
    let limited = Router::new()
        .route("/api/data", get(data))
        .route("/api/public", get(public))
        .route_layer(RateLimitLayer::new(state.limiter.clone()));
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("../assets/index.html")) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript", include_str!("../assets/app.js")) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css", include_str!("../assets/style.css")) }),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(SwaggerUi::new("/docs").url("/docs/openapi.json", ApiDoc::openapi()))
        .merge(limited)
        .with_state(state)
}
