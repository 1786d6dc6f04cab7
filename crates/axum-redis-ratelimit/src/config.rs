//! What the limiter enforces: policies per route and tier, API keys, trusted proxies,
//! the Redis call's timeout and failure mode, the deny cache and adaptive limits.
//!
//! Plain data with `serde::Deserialize`, so an app reads it from whatever file format
//! it likes; `Config::validate` checks it once at start, so that a mistake stops the
//! app with a clear message instead of surfacing on some later request.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// What the app does when a Redis call fails or times out.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// An in-process limiter with the same policies takes over until Redis answers.
    Local,
    /// Every request is allowed.
    Open,
    /// Every limited request is answered 503.
    Closed,
}

impl std::str::FromStr for OnFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "local" => Ok(OnFailure::Local),
            "open" => Ok(OnFailure::Open),
            "closed" => Ok(OnFailure::Closed),
            other => Err(format!(
                "on_failure must be local, open or closed, not {other:?}"
            )),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub timeout_ms: u64,
    pub on_failure: OnFailure,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clients {
    /// Addresses or CIDR ranges, as written.
    pub trusted_proxies: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyCache {
    pub enabled: bool,
    pub max_entries: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adaptive {
    pub enabled: bool,
    /// Load average per CPU above which limits shrink.
    pub threshold: f64,
    /// What limits are multiplied by under load (0 < factor <= 1).
    pub factor: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub name: String,
    pub key: String,
    pub tier: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    pub limit: u64,
    pub window_s: u64,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AlgorithmName {
    Fixed,
    Sliding,
    Gcra,
    Log,
}

impl AlgorithmName {
    pub fn as_str(self) -> &'static str {
        match self {
            AlgorithmName::Fixed => "FIXED",
            AlgorithmName::Sliding => "SLIDING",
            AlgorithmName::Gcra => "GCRA",
            AlgorithmName::Log => "LOG",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub route: String,
    pub tier: String,
    #[serde(default = "fixed")]
    pub algorithm: AlgorithmName,
    pub limits: Vec<LimitSpec>,
}

fn fixed() -> AlgorithmName {
    AlgorithmName::Fixed
}

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub redis: RedisSettings,
    pub clients: Clients,
    pub deny_cache: DenyCache,
    pub adaptive: Adaptive,
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    pub policies: Vec<Policy>,
}

/// The tier of clients without an API key, limited per IP address.
pub const ANONYMOUS: &str = "anonymous";

/// Largest limit and window the module accepts (10^12; ten years in seconds).
const MAX_LIMIT: u64 = 1_000_000_000_000;
const MAX_WINDOW_S: u64 = 315_576_000;

impl Config {
    /// Checks every value; the error says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.redis.timeout_ms == 0 {
            return Err("redis.timeout_ms must be at least 1".into());
        }
        self.trusted_proxies()?;
        if !(self.adaptive.factor > 0.0 && self.adaptive.factor <= 1.0) {
            return Err("adaptive.factor must be in (0, 1]".into());
        }
        if self.adaptive.threshold.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return Err("adaptive.threshold must be above 0".into());
        }
        let mut names = HashSet::new();
        for k in &self.api_keys {
            if k.key.is_empty() || k.name.is_empty() || k.name.len() > 64 {
                return Err(format!(
                    "api key {:?}: name (1 to 64 characters) and key are required",
                    k.name
                ));
            }
            if !names.insert(&k.name) {
                return Err(format!("api key name {:?} appears twice", k.name));
            }
        }
        let mut routes = HashSet::new();
        for p in &self.policies {
            if p.name.is_empty() || p.name.len() > 64 || p.name.contains(['"', '\\']) {
                return Err(format!(
                    "policy name {:?}: 1 to 64 characters, without quotes or backslashes",
                    p.name
                ));
            }
            if !p.route.starts_with('/') {
                return Err(format!("policy {:?}: route must start with /", p.name));
            }
            if p.limits.is_empty() || p.limits.len() > 64 {
                return Err(format!("policy {:?}: 1 to 64 limits", p.name));
            }
            for l in &p.limits {
                if !(1..=MAX_LIMIT).contains(&l.limit) || !(1..=MAX_WINDOW_S).contains(&l.window_s)
                {
                    return Err(format!(
                        "policy {:?}: limit must be 1 to 10^12 and window_s 1 to {MAX_WINDOW_S}",
                        p.name
                    ));
                }
            }
            if !routes.insert((&p.route, &p.tier)) {
                return Err(format!(
                    "two policies for route {} and tier {}",
                    p.route, p.tier
                ));
            }
        }
        Ok(())
    }

    /// The trusted proxies as networks (a bare address is a /32 or /128).
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, String> {
        self.clients
            .trusted_proxies
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("trusted proxy {s:?} is not an address or CIDR range"))
            })
            .collect()
    }

    /// The policy for a route and tier, if the route is limited for that tier.
    pub fn policy(&self, route: &str, tier: &str) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| p.route == route && p.tier == tier)
    }

    /// Whether any policy limits this route.
    pub fn is_limited(&self, route: &str) -> bool {
        self.policies.iter().any(|p| p.route == route)
    }
}

impl Default for Config {
    /// No policies yet; Redis calls time out after 100 ms and the in-process limiter
    /// takes over when they fail; denials are cached; limits do not adapt to load.
    fn default() -> Config {
        Config {
            redis: RedisSettings {
                timeout_ms: 100,
                on_failure: OnFailure::Local,
            },
            clients: Clients {
                trusted_proxies: vec![],
            },
            deny_cache: DenyCache {
                enabled: true,
                max_entries: 10_000,
            },
            adaptive: Adaptive {
                enabled: false,
                threshold: 1.0,
                factor: 0.5,
            },
            api_keys: vec![],
            policies: vec![],
        }
    }
}

impl Config {
    /// Adds a policy for clients without an API key: `limits` as (limit, window in
    /// seconds) pairs, all or nothing, per client address; named after the route.
    pub fn limit_route(mut self, route: &str, limits: &[(u64, u64)]) -> Config {
        let name = route.trim_matches('/').replace('/', "-");
        self.policies.push(Policy {
            name: if name.is_empty() { "root".into() } else { name },
            route: route.to_string(),
            tier: ANONYMOUS.to_string(),
            algorithm: AlgorithmName::Fixed,
            limits: limits
                .iter()
                .map(|&(limit, window_s)| LimitSpec { limit, window_s })
                .collect(),
        });
        self
    }
}
