//! Every answer the limiter gives instead of the route's, as one typed error.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A request over its limits.
#[derive(Debug)]
pub struct Denial {
    /// The policy that denied it.
    pub policy: String,
    /// The longest wait among the limits that deny; -1 if one never allows it.
    pub retry_after_ms: i64,
    /// `Retry-After`: whole seconds, rounded up; `None` when it can never pass.
    pub retry_after_s: Option<u64>,
    /// `RateLimit-Policy` and `RateLimit`.
    pub fields: HeaderMap,
}

/// Why the limiter answered a request itself.
#[derive(Debug)]
pub enum RateLimitError {
    /// Over a limit: 429 with `Retry-After` (absent when the request can never pass),
    /// the `RateLimit` fields and `{"error", "retry_after_ms", "policy"}`.
    TooManyRequests(Box<Denial>),
    /// An API key the configuration does not know: 401.
    UnknownApiKey,
    /// The server gave no peer address to key the request by: 500, a setup mistake
    /// (serve with `into_make_service_with_connect_info::<SocketAddr>()`).
    NoPeerAddress,
    /// Redis could not be reached and the failure mode is `closed`: 503.
    Unavailable,
    /// A `KeyExtractor` refused the request with an answer of its own.
    Rejected(Box<Response>),
}

impl RateLimitError {
    /// A refusal with its own answer, for a `KeyExtractor`: a status and body
    /// (`(StatusCode::FORBIDDEN, "no such user")`), or any other response.
    pub fn rejected(response: impl IntoResponse) -> RateLimitError {
        RateLimitError::Rejected(Box::new(response.into_response()))
    }
}

impl std::fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateLimitError::TooManyRequests(d) => {
                write!(f, "over the limits of policy {}", d.policy)
            }
            RateLimitError::UnknownApiKey => f.write_str("unknown API key"),
            RateLimitError::NoPeerAddress => f.write_str("the server gave no peer address"),
            RateLimitError::Unavailable => f.write_str("the rate limiter cannot be reached"),
            RateLimitError::Rejected(r) => {
                write!(f, "refused by the key extractor ({})", r.status())
            }
        }
    }
}

impl std::error::Error for RateLimitError {}

impl IntoResponse for RateLimitError {
    fn into_response(self) -> Response {
        match self {
            RateLimitError::TooManyRequests(denial) => {
                let Denial {
                    policy,
                    retry_after_ms,
                    retry_after_s,
                    fields,
                } = *denial;
                // Written directly rather than through serde_json::Value: this is the
                // path a flood takes. Policy names hold no quotes or backslashes
                // (`Config::validate`).
                let body = format!(
                    r#"{{"error":"Too Many Requests","retry_after_ms":{retry_after_ms},"policy":"{policy}"}}"#
                );
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response();
                let h = response.headers_mut();
                h.extend(fields);
                if let Some(s) = retry_after_s {
                    h.insert(RETRY_AFTER, HeaderValue::from(s));
                }
                response
            }
            RateLimitError::UnknownApiKey => (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "Unauthorized", "detail": "unknown API key"})),
            )
                .into_response(),
            RateLimitError::NoPeerAddress => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "Internal Server Error", "detail": "no peer address"})),
            )
                .into_response(),
            RateLimitError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "error": "Service Unavailable",
                    "detail": "the rate limiter cannot be reached; try again shortly",
                })),
            )
                .into_response(),
            RateLimitError::Rejected(response) => *response,
        }
    }
}
