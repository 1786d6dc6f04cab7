//! The limiter: who is asking, which policy applies, one Redis call (or a cached
//! denial, or the failure mode), and the answer: the `RateLimit` fields to add, or
//! the error to answer with.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::backend::{Backend, Failure};
use crate::circuit::Circuit;
use crate::config::{Config, OnFailure};
use crate::deny_cache::{self, DenyCache};
use crate::error::{Denial, RateLimitError};
use crate::headers;
use crate::key::{ApiKeyOrPeerIp, KeyExtractor, Subject};
use crate::load::LoadSource;
use crate::local::LocalLimiter;
use crate::log_throttle::LogThrottle;
use crate::plan::{Plan, Verdict};
use redis_ratelimit::algorithm::Outcome;

/// After a failed Redis call, how long requests skip Redis before it is tried again.
/// Short, so that limiting returns to Redis soon after it answers again; long enough
/// that a dead Redis does not add a timeout to every request.
const REDIS_RETRY_AFTER: Duration = Duration::from_millis(500);

/// A request the limiter let through: the `RateLimit` fields to add, and the plan it
/// was counted on (none for a route without a policy, or with Redis failing in the
/// `open` mode).
#[derive(Default)]
pub(crate) struct Checked {
    pub fields: Option<HeaderMap>,
    pub plan: Option<Plan>,
}

/// Where a decision came from, as the metrics label it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Redis answered.
    Redis,
    /// A denial Redis gave moments ago, answered from memory until its retry time.
    DenyCache,
    /// The failure mode, while Redis does not answer.
    Fallback,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Redis => "redis",
            Source::DenyCache => "deny_cache",
            Source::Fallback => "fallback",
        }
    }
}

/// What decided a request: a verdict and where it came from, or the failure mode
/// without one (`open`: let it through; `closed`: 503).
enum Decided {
    Verdict(Verdict, Source),
    Open,
    Closed,
}

/// The route a request is limited as: the router's template (`/users/{id}`) when the
/// layer runs inside a router, else the request's path.
fn route_of(request: &Parts) -> &str {
    request
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str())
        .unwrap_or_else(|| request.uri.path())
}

/// The rate limiter behind `RateLimitLayer`; share it as an `Arc` (the layer takes
/// one) and ask it about Redis's health with `redis_up`.
pub struct RateLimiter {
    config: Config,
    keys: Box<dyn KeyExtractor>,
    backend: Backend,
    local: LocalLimiter,
    deny_cache: Option<DenyCache>,
    load: Option<Arc<dyn LoadSource>>,
    circuit: Circuit,
    log: LogThrottle,
    /// Registered on first use, under `metrics_prefix`: registering in `new` would
    /// leave the default names exported at zero beside an app's own prefix.
    metrics: std::sync::OnceLock<Metrics>,
    metrics_prefix: String,
    /// (policy, decision, source, counter); a policy has one route.
    counters: Mutex<Vec<(String, &'static str, Source, metrics::Counter)>>,
}

/// The metric names, under a prefix of the app's choosing, and the handles that need
/// no labels (registered once: a labelled key built per request costs allocations).
pub(crate) struct Metrics {
    requests: String,
    redis_call_seconds: metrics::Histogram,
    redis_errors: metrics::Counter,
    fallback_active: metrics::Gauge,
}

impl Metrics {
    fn new(prefix: &str) -> Metrics {
        let m = Metrics {
            requests: format!("{prefix}_requests_total"),
            redis_call_seconds: metrics::histogram!(format!("{prefix}_redis_call_seconds")),
            redis_errors: metrics::counter!(format!("{prefix}_redis_errors_total")),
            fallback_active: metrics::gauge!(format!("{prefix}_fallback_active")),
        };
        m.fallback_active.set(0.0);
        m
    }
}

impl RateLimiter {
    /// A limiter for `config` (checked here), talking to Redis at `redis_url`
    /// (`redis://host:port`, or `redis+cluster://a:port,b:port` for a cluster).
    /// Clients are keyed by API key or address (`ApiKeyOrPeerIp`), limits do not adapt
    /// to load, and metrics are named `ratelimit_*`, until the `with_` methods say
    /// otherwise.
    pub fn new(config: Config, redis_url: &str) -> Result<RateLimiter, String> {
        config.validate()?;
        let keys = ApiKeyOrPeerIp::from_config(&config)?;
        let backend = Backend::new(
            redis_url,
            Duration::from_millis(config.redis.timeout_ms),
            Duration::from_millis(config.redis.module_probe_ms),
        )?;
        let deny_cache = config
            .deny_cache
            .enabled
            .then(|| DenyCache::new(config.deny_cache.max_entries));
        Ok(RateLimiter {
            local: LocalLimiter::new(config.deny_cache.max_entries),
            keys: Box::new(keys),
            backend,
            deny_cache,
            load: None,
            circuit: Circuit::new(REDIS_RETRY_AFTER),
            log: LogThrottle::new(10),
            metrics: std::sync::OnceLock::new(),
            metrics_prefix: "ratelimit".into(),
            counters: Mutex::new(Vec::new()),
            config,
        })
    }

    /// Keys requests with `keys` instead of by API key or address.
    pub fn with_key_extractor(mut self, keys: impl KeyExtractor) -> RateLimiter {
        self.keys = Box::new(keys);
        self
    }

    /// Shrinks limits under load, as `config.adaptive` says, reading load from `load`.
    pub fn with_load_source(mut self, load: Arc<dyn LoadSource>) -> RateLimiter {
        self.load = Some(load);
        self
    }

    /// Names the metrics `<prefix>_requests_total` and so on.
    pub fn with_metrics_prefix(mut self, prefix: &str) -> RateLimiter {
        self.metrics_prefix = prefix.to_string();
        self
    }

    /// The metric handles, registered under the prefix on first use (a layer made
    /// of the limiter registers them at once, so the series exist from the start).
    pub(crate) fn metrics(&self) -> &Metrics {
        self.metrics
            .get_or_init(|| Metrics::new(&self.metrics_prefix))
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
            self.metrics().requests.clone(),
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

    /// The form the server answers in (the module, the function library or the
    /// script), once a request has found one.
    pub fn redis_form(&self) -> Option<crate::Form> {
        self.backend.form()
    }

    /// Whether the failure mode is in force because Redis did not answer.
    pub fn fallback_active(&self) -> bool {
        self.circuit.active()
    }

    fn adaptive_factor(&self) -> f64 {
        let a = &self.config.adaptive;
        if !a.enabled {
            return 1.0;
        }
        match self.load.as_ref().and_then(|l| l.load_per_cpu()) {
            Some(load) if a.enabled && load > a.threshold => a.factor,
            _ => 1.0,
        }
    }

    /// Charges (positive) or refunds (negative) the limits of `route`'s policy for
    /// `subject`: one amount for every limit, or one per limit. Past a limit the
    /// client is in debt, which its next requests wait out. Answers each changed
    /// limit's state after the change.
    pub async fn charge(
        &self,
        route: &str,
        subject: &Subject,
        amounts: &[i64],
    ) -> Result<Vec<Outcome>, RateLimitError> {
        let Some(policy) = self.config.policy(route, &subject.tier) else {
            return Ok(Vec::new());
        };
        self.charge_plan(&Plan::new(policy, &subject.id, 1.0), amounts)
            .await
    }

    /// Charges a plan's limits, through Redis or, while it fails, the failure mode.
    pub(crate) async fn charge_plan(
        &self,
        plan: &Plan,
        amounts: &[i64],
    ) -> Result<Vec<Outcome>, RateLimitError> {
        if amounts.iter().any(|&a| a < 0) {
            // A denial cached for this client may no longer hold.
            if let (Some(cache), Some(key)) = (self.deny_cache.as_ref(), plan.keys.first()) {
                cache.remove(key);
            }
        }
        let mut outcomes = Vec::new();
        for charge in plan.charges(amounts) {
            let outcome = match self.redis_charge(&charge).await {
                Some(outcome) => outcome,
                None if self.config.redis.on_failure == OnFailure::Local => {
                    self.local.charge(&charge)
                }
                None => return Err(RateLimitError::Unavailable),
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// One charge in Redis, unless it failed moments ago.
    async fn redis_charge(&self, charge: &crate::forms::Charge) -> Option<Outcome> {
        if self.redis_down() {
            return None;
        }
        match self.backend.charge(charge).await {
            Ok(outcome) => {
                self.redis_answered();
                Some(outcome)
            }
            Err(failure) => {
                self.redis_failed(failure);
                None
            }
        }
    }

    fn redis_down(&self) -> bool {
        self.circuit.open(Instant::now())
    }

    /// Redis, unless it failed moments ago.
    async fn ask_redis(&self, plan: &Plan) -> Option<Verdict> {
        if self.redis_down() {
            return None;
        }
        let started = Instant::now();
        let result = self.backend.check(plan).await;
        self.metrics()
            .redis_call_seconds
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(verdict) => {
                self.redis_answered();
                Some(verdict)
            }
            Err(failure) => {
                self.redis_failed(failure);
                None
            }
        }
    }

    /// A Redis call that answered: the end of an outage is logged once.
    fn redis_answered(&self) {
        if self.circuit.succeeded() {
            tracing::info!("Redis answers again: limiting through Redis");
            self.metrics().fallback_active.set(0.0);
        }
    }

    /// A failed Redis call: Redis is left alone for a moment, the failure mode takes
    /// over, and the first failure of an outage is logged.
    fn redis_failed(&self, failure: Failure) {
        self.metrics().redis_errors.increment(1);
        if self.circuit.failed(Instant::now()) {
            // A server that offers no form was logged at ERROR, with the fix.
            if let Failure::Unavailable(error) = failure {
                tracing::warn!(
                    %error,
                    mode = ?self.config.redis.on_failure,
                    "Redis unavailable: failure mode in force until it answers"
                );
            }
            self.metrics().fallback_active.set(1.0);
        }
    }
}

/// The request path, as steps: who is asking and which policy applies (`plan_for`),
/// what the deny cache, Redis or the failure mode says (`decide`), and what the
/// response carries (`answer`).
impl RateLimiter {
    /// Decides one request from its parts: `Ok(None)` when no policy limits it (or
    /// Redis failed and the failure mode is `open`), `Ok(Some(fields))` when it may go
    /// on with these `RateLimit` fields, `Err` with the answer to give instead.
    pub async fn check(&self, request: &Parts) -> Result<Option<HeaderMap>, RateLimitError> {
        Ok(self.check_request(request).await?.fields)
    }

    /// `check`, and the plan an allowed request was counted on (for its reservation).
    pub(crate) async fn check_request(&self, request: &Parts) -> Result<Checked, RateLimitError> {
        let route = route_of(request);
        let Some((client, plan)) = self.plan_for(route, request)? else {
            return Ok(Checked::default());
        };
        let decided = self.decide(&plan).await;
        self.answer(route, &client, plan, decided)
    }

    /// Who is asking, and the plan of the policy for them on this route: `None` when
    /// no policy limits the route for their tier (the extractor is not asked when
    /// none limits the route at all).
    fn plan_for(
        &self,
        route: &str,
        request: &Parts,
    ) -> Result<Option<(Subject, Plan)>, RateLimitError> {
        if !self.config.is_limited(route) {
            return Ok(None);
        }
        let client = self.keys.extract(request)?;
        let Some(policy) = self.config.policy(route, &client.tier) else {
            return Ok(None);
        };
        let plan = Plan::new(policy, &client.id, self.adaptive_factor());
        Ok(Some((client, plan)))
    }

    /// A denial still cached, else Redis, else the failure mode.
    async fn decide(&self, plan: &Plan) -> Decided {
        let cached = self
            .deny_cache
            .as_ref()
            .and_then(|c| c.get(&plan.keys[0], Instant::now()));
        if let Some(verdict) = cached {
            return Decided::Verdict(verdict, Source::DenyCache);
        }
        if let Some(verdict) = self.ask_redis(plan).await {
            return Decided::Verdict(verdict, Source::Redis);
        }
        match self.config.redis.on_failure {
            OnFailure::Local => Decided::Verdict(self.local.check(plan), Source::Fallback),
            OnFailure::Open => Decided::Open,
            OnFailure::Closed => Decided::Closed,
        }
    }

    /// What the response carries, counted in the metrics: the `RateLimit` fields of an
    /// allowed request, or the refusal.
    fn answer(
        &self,
        route: &str,
        client: &Subject,
        plan: Plan,
        decided: Decided,
    ) -> Result<Checked, RateLimitError> {
        let count = |source: Source, decision: &'static str| {
            self.counter(route, &plan.policy, decision, source)
                .increment(1);
        };
        let (verdict, source) = match decided {
            Decided::Verdict(verdict, source) => (verdict, source),
            Decided::Open => {
                count(Source::Fallback, "allowed");
                return Ok(Checked::default());
            }
            Decided::Closed => {
                count(Source::Fallback, "unavailable");
                return Err(RateLimitError::Unavailable);
            }
        };
        let fields = headers::fields(&plan, &verdict);
        if verdict.allowed {
            count(source, "allowed");
            return Ok(Checked {
                fields: Some(fields),
                plan: Some(plan),
            });
        }
        count(source, "denied");
        Err(self.refuse(route, client, &plan, &verdict, source, fields))
    }

    /// A denial: cached when Redis gave it, logged (throttled), answered 429.
    fn refuse(
        &self,
        route: &str,
        client: &Subject,
        plan: &Plan,
        verdict: &Verdict,
        source: Source,
        fields: HeaderMap,
    ) -> RateLimitError {
        // Only Redis's denials are worth caching: the fallback limiter is in-process
        // already, and caching its denials would keep Redis out after it comes back.
        if source == Source::Redis {
            if let (Some(cache), Some(wait)) =
                (self.deny_cache.as_ref(), deny_cache::cache_for(verdict))
            {
                cache.insert(&plan.keys[0], Instant::now() + wait, verdict);
            }
        }
        let retry_after_ms = verdict.retry_after_ms();
        if let Some(suppressed) = self.log.admit(Instant::now()) {
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
        RateLimitError::TooManyRequests(Box::new(Denial {
            policy: plan.policy.clone(),
            retry_after_ms,
            retry_after_s: headers::retry_after_s(retry_after_ms),
            fields,
        }))
    }
}
