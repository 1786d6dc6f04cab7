//! The rate limiter as an axum middleware layer: who is asking, which policy applies,
//! one Redis call (or a cached denial, or the failure mode), then either the request
//! goes on with the `RateLimit` headers or a 429 comes back.
//!
//! Apply it to the routes to limit, and handlers know nothing of it:
//!
//! ```ignore
//! let api = Router::new()
//!     .route("/api/data", get(data))
//!     .route_layer(axum::middleware::from_fn_with_state(limiter, limiter::limit));
//! ```
//!
//! The server must provide the peer address
//! (`into_make_service_with_connect_info::<SocketAddr>()`).

pub mod backend;
pub mod deny_cache;
pub mod headers;
pub mod identity;
pub mod local;
mod log_throttle;
pub mod plan;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ipnet::IpNet;
use serde_json::json;

use crate::config::{Config, OnFailure, ANONYMOUS};
use crate::load::LoadSource;
use backend::Backend;
use deny_cache::DenyCache;
use headers::LimitView;
use local::LocalLimiter;
use log_throttle::LogThrottle;
use plan::{Plan, Verdict};

/// After a failed Redis call, how long requests skip Redis before it is tried again.
/// Short, so that limiting returns to Redis soon after it answers again; long enough
/// that a dead Redis does not add a timeout to every request.
const REDIS_RETRY_AFTER: Duration = Duration::from_millis(500);

/// The header that carries an API key.
pub const API_KEY: &str = "x-api-key";

/// Where a decision came from, as the metrics label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Redis,
    LocalCache,
    Fallback,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Redis => "redis",
            Source::LocalCache => "local_cache",
            Source::Fallback => "fallback",
        }
    }
}

pub struct RateLimiter {
    config: Config,
    trusted: Vec<IpNet>,
    /// API key -> (name, tier).
    api_keys: HashMap<String, (String, String)>,
    backend: Backend,
    local: LocalLimiter,
    deny_cache: Option<DenyCache>,
    load: Arc<dyn LoadSource>,
    redis_down_until: Mutex<Option<Instant>>,
    fallback_active: AtomicBool,
    log: LogThrottle,
    /// (policy, decision, source, counter); a policy has one route.
    counters: Mutex<Vec<(String, &'static str, Source, metrics::Counter)>>,
}

/// Who is asking: the tier that selects the policy and the id that selects the key.
struct Client {
    tier: String,
    id: String,
}

impl RateLimiter {
    pub fn new(
        config: Config,
        redis_url: &str,
        load: Arc<dyn LoadSource>,
    ) -> Result<RateLimiter, String> {
        let trusted = config.trusted_proxies()?;
        let api_keys = config
            .api_keys
            .iter()
            .map(|k| (k.key.clone(), (k.name.clone(), k.tier.clone())))
            .collect();
        let backend = Backend::new(redis_url, Duration::from_millis(config.redis.timeout_ms))?;
        let deny_cache = config
            .deny_cache
            .enabled
            .then(|| DenyCache::new(config.deny_cache.max_entries));
        Ok(RateLimiter {
            local: LocalLimiter::new(config.deny_cache.max_entries),
            trusted,
            api_keys,
            backend,
            deny_cache,
            load,
            redis_down_until: Mutex::new(None),
            fallback_active: AtomicBool::new(false),
            log: LogThrottle::new(10),
            counters: Mutex::new(Vec::new()),
            config,
        })
    }

    /// The request counter for one set of labels. Handles are registered once and
    /// kept: building a labelled metric key on every request costs allocations.
    fn counter(
        &self,
        route: &str,
        policy: &str,
        decision: &'static str,
        source: Source,
    ) -> metrics::Counter {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        // A handful of entries (policies x decisions x sources): a scan without
        // allocating beats hashing an owned key.
        let found = counters
            .iter()
            .find(|(p, d, s, _)| p == policy && *d == decision && *s == source);
        if let Some((_, _, _, c)) = found {
            return c.clone();
        }
        let c = metrics::counter!(
            "ratelimit_demo_requests_total",
            "route" => route.to_string(),
            "policy" => policy.to_string(),
            "decision" => decision,
            "source" => source.label(),
        );
        counters.push((policy.to_string(), decision, source, c.clone()));
        c
    }

    /// Whether Redis answers now (for /healthz).
    pub async fn redis_up(&self) -> bool {
        self.backend.ping().await
    }

    /// Whether the failure mode is in force because Redis did not answer.
    pub fn fallback_active(&self) -> bool {
        self.fallback_active.load(Ordering::Relaxed)
    }

    /// Who is asking; `None` for an unknown API key.
    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> Option<Client> {
        if let Some(key) = headers.get(API_KEY) {
            let (name, tier) = key.to_str().ok().and_then(|k| self.api_keys.get(k))?;
            return Some(Client {
                tier: tier.clone(),
                id: format!("key:{name}"),
            });
        }
        let ip = identity::client_ip(peer.ip(), headers, &self.trusted);
        Some(Client {
            tier: ANONYMOUS.to_string(),
            id: identity::client_id(ip),
        })
    }

    fn adaptive_factor(&self) -> f64 {
        let a = &self.config.adaptive;
        if !a.enabled {
            return 1.0;
        }
        match self.load.load_per_cpu() {
            Some(load) if a.enabled && load > a.threshold => a.factor,
            _ => 1.0,
        }
    }

    /// Redis, unless it failed moments ago.
    async fn ask_redis(&self, plan: &Plan) -> Option<Verdict> {
        let skip = self
            .redis_down_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| Instant::now() < until);
        if skip {
            return None;
        }
        let started = Instant::now();
        let result = self.backend.check(plan).await;
        metrics::histogram!("ratelimit_demo_redis_call_seconds")
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(verdict) => {
                *self
                    .redis_down_until
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
                if self.fallback_active.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: limiting through Redis");
                    metrics::gauge!("ratelimit_demo_fallback_active").set(0.0);
                }
                Some(verdict)
            }
            Err(error) => {
                metrics::counter!("ratelimit_demo_redis_errors_total").increment(1);
                *self
                    .redis_down_until
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + REDIS_RETRY_AFTER);
                if !self.fallback_active.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        mode = ?self.config.redis.on_failure,
                        "Redis unavailable: failure mode in force until it answers"
                    );
                    metrics::gauge!("ratelimit_demo_fallback_active").set(1.0);
                }
                None
            }
        }
    }
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The middleware: for `axum::middleware::from_fn_with_state(limiter, limit)`.
pub async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let route = req.uri().path().to_string();
    if !limiter.config.is_limited(&route) {
        return next.run(req).await;
    }
    let Some(client) = limiter.client(peer, req.headers()) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Unauthorized", "detail": "unknown API key"})),
        )
            .into_response();
    };
    let Some(policy) = limiter.config.policy(&route, &client.tier) else {
        return next.run(req).await;
    };
    let plan = Plan::new(policy, &client.id, limiter.adaptive_factor());
    let count = |source: Source, decision: &'static str| {
        limiter
            .counter(&route, &plan.policy, decision, source)
            .increment(1);
    };

    let cached = limiter
        .deny_cache
        .as_ref()
        .and_then(|c| c.get(&plan.keys[0], Instant::now()));
    let (verdict, source) = match cached {
        Some(v) => (v, Source::LocalCache),
        None => match limiter.ask_redis(&plan).await {
            Some(v) => (v, Source::Redis),
            None => match limiter.config.redis.on_failure {
                OnFailure::Local => (limiter.local.check(&plan), Source::Fallback),
                OnFailure::Open => {
                    count(Source::Fallback, "allowed");
                    return next.run(req).await;
                }
                OnFailure::Closed => {
                    count(Source::Fallback, "unavailable");
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(json!({
                            "error": "Service Unavailable",
                            "detail": "the rate limiter cannot be reached; try again shortly",
                        })),
                    )
                        .into_response();
                }
            },
        },
    };

    let views: Vec<LimitView> = verdict
        .outcomes
        .iter()
        .zip(&plan.limits)
        .map(|(o, &(_, window_s))| LimitView::new(window_s, o))
        .collect();
    let fields = [
        (
            HeaderName::from_static("ratelimit-policy"),
            header(&headers::policy_field(&plan.policy, &views)),
        ),
        (
            HeaderName::from_static("ratelimit"),
            header(&headers::ratelimit_field(&plan.policy, &views)),
        ),
    ];

    if verdict.allowed {
        count(source, "allowed");
        let mut response = next.run(req).await;
        response.headers_mut().extend(fields);
        return response;
    }

    count(source, "denied");
    let denying = || verdict.outcomes.iter().filter(|o| !o.allowed);
    let retry_after_ms = denying().map(|o| o.retry_after_ms).max().unwrap_or(0);
    let retry_after_ms = if denying().any(|o| o.retry_after_ms < 0) {
        -1
    } else {
        retry_after_ms
    };
    // Only Redis's denials are worth caching: the fallback limiter is in-process
    // already, and caching its denials would keep Redis out after it comes back.
    if source == Source::Redis {
        if let (Some(cache), Some(wait)) =
            (limiter.deny_cache.as_ref(), deny_cache::cache_for(&verdict))
        {
            cache.insert(&plan.keys[0], Instant::now() + wait, &verdict);
        }
    }
    if let Some(suppressed) = limiter.log.admit(Instant::now()) {
        tracing::info!(
            client = %client.id,
            route = %route,
            policy = %plan.policy,
            retry_after_ms,
            source = source.label(),
            suppressed_since_last = suppressed,
            "rate limited"
        );
    }
    // Written directly rather than through serde_json::Value: this is the path a
    // flood takes. Policy names cannot hold quotes or backslashes (checked at load).
    let body = format!(
        r#"{{"error":"Too Many Requests","retry_after_ms":{retry_after_ms},"policy":"{}"}}"#,
        plan.policy
    );
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    let h = response.headers_mut();
    h.extend(fields);
    if let Some(s) = headers::retry_after_s(denying().map(|o| o.retry_after_ms)) {
        h.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(s));
    }
    response
}
