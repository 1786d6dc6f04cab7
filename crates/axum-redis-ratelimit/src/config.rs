//! What the limiter enforces: policies per route and tier, API keys, trusted proxies,
//! the Redis call's timeout and failure mode, the deny cache and adaptive limits.
//!
//! Plain data with `serde::Deserialize`, so an app reads it from whatever file format
//! it likes; `Config::validate` checks it once at start, so that a mistake stops the
//! app with a clear message instead of surfacing on some later request.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use redis_ratelimit::args::{Algorithm, MAX_LIMITS, MAX_WINDOW_MS};
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
    /// On the function library or the script, how often to ask whether the module has
    /// been loaded since (and after a lost connection): 60 s unless set.
    #[serde(default = "default_module_probe_ms")]
    pub module_probe_ms: u64,
}

fn default_module_probe_ms() -> u64 {
    60_000
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

/// An algorithm by name, in any case (`"gcra"`), as the module's `ALGORITHM` reads it.
fn algorithm<'de, D: serde::Deserializer<'de>>(names: D) -> Result<Algorithm, D::Error> {
    let name = String::deserialize(names)?;
    Algorithm::from_name(&name).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown algorithm {name:?}: fixed, sliding, gcra or log"
        ))
    })
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub route: String,
    pub tier: String,
    #[serde(default = "fixed", deserialize_with = "algorithm")]
    pub algorithm: Algorithm,
    pub limits: Vec<LimitSpec>,
}

fn fixed() -> Algorithm {
    Algorithm::Fixed
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

/// The longest window the module accepts, in whole seconds (its bound is in ms).
const MAX_WINDOW_S: u64 = MAX_WINDOW_MS / 1000;
/// The longest policy or API key name: names go into response fields and logs.
const MAX_NAME_LEN: usize = 64;

impl Policy {
    /// Checks the policy against the module's own bounds (`redis_ratelimit::args`),
    /// so that a policy the module would refuse stops the app at start instead of
    /// every request being refused and taken for an outage.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['"', '\\']) {
            return Err(format!(
                "policy name {name:?}: 1 to {MAX_NAME_LEN} characters, without quotes or backslashes"
            ));
        }
        if !self.route.starts_with('/') {
            return Err(format!("policy {name:?}: route must start with /"));
        }
        if self.limits.is_empty() || self.limits.len() > MAX_LIMITS {
            return Err(format!("policy {name:?}: 1 to {MAX_LIMITS} limits"));
        }
        let max_limit = self.algorithm.max_limit();
        for l in &self.limits {
            if !(1..=max_limit).contains(&l.limit) {
                return Err(format!(
                    "policy {name:?}: a limit must be 1 to {max_limit} for the {} algorithm, not {}",
                    self.algorithm.name(),
                    l.limit
                ));
            }
            if !(1..=MAX_WINDOW_S).contains(&l.window_s) {
                return Err(format!(
                    "policy {name:?}: window_s must be 1 to {MAX_WINDOW_S}, not {}",
                    l.window_s
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Checks every value; the error says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.redis.timeout_ms == 0 {
            return Err("redis.timeout_ms must be at least 1".into());
        }
        if self.redis.module_probe_ms == 0 {
            return Err("redis.module_probe_ms must be at least 1".into());
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
            if k.key.is_empty() || k.name.is_empty() || k.name.len() > MAX_NAME_LEN {
                return Err(format!(
                    "api key {:?}: name (1 to {MAX_NAME_LEN} characters) and key are required",
                    k.name
                ));
            }
            if !names.insert(&k.name) {
                return Err(format!("api key name {:?} appears twice", k.name));
            }
        }
        let mut routes = HashSet::new();
        for p in &self.policies {
            p.validate()?;
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
                module_probe_ms: default_module_probe_ms(),
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
            algorithm: Algorithm::Fixed,
            limits: limits
                .iter()
                .map(|&(limit, window_s)| LimitSpec { limit, window_s })
                .collect(),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_ratelimit::args::{MAX_LIMIT, MAX_LOG_LIMIT};

    fn one_policy(algorithm: Algorithm, limit: u64, window_s: u64) -> Config {
        let mut config = Config::default().limit_route("/x", &[(limit, window_s)]);
        config.policies[0].algorithm = algorithm;
        config
    }

    #[test]
    fn a_log_policy_above_the_modules_cap_is_refused_with_the_bound() {
        let err = one_policy(Algorithm::Log, 5000, 60).validate().unwrap_err();
        assert!(err.contains(&MAX_LOG_LIMIT.to_string()), "{err}");
        assert!(err.contains("log"), "{err}");
        assert!(one_policy(Algorithm::Log, MAX_LOG_LIMIT, 60)
            .validate()
            .is_ok());
        // The other algorithms take the module's general bound.
        assert!(one_policy(Algorithm::Fixed, 5000, 60).validate().is_ok());
        assert!(one_policy(Algorithm::Gcra, MAX_LIMIT, 60)
            .validate()
            .is_ok());
        let err = one_policy(Algorithm::Gcra, MAX_LIMIT + 1, 60)
            .validate()
            .unwrap_err();
        assert!(err.contains(&MAX_LIMIT.to_string()), "{err}");
        // The limiter refuses it at start, not on every request.
        let refused =
            crate::RateLimiter::new(one_policy(Algorithm::Log, 5000, 60), "redis://127.0.0.1:1");
        assert!(refused.is_err());
    }

    #[test]
    fn windows_and_limit_counts_take_the_modules_bounds() {
        let max_s = MAX_WINDOW_MS / 1000;
        assert!(one_policy(Algorithm::Fixed, 1, max_s).validate().is_ok());
        let err = one_policy(Algorithm::Fixed, 1, max_s + 1)
            .validate()
            .unwrap_err();
        assert!(err.contains(&max_s.to_string()), "{err}");
        let many: Vec<(u64, u64)> = (1..=MAX_LIMITS as u64 + 1).map(|w| (1, w)).collect();
        let err = Config::default()
            .limit_route("/x", &many)
            .validate()
            .unwrap_err();
        assert!(err.contains(&MAX_LIMITS.to_string()), "{err}");
        let enough = &many[..MAX_LIMITS];
        assert!(Config::default()
            .limit_route("/x", enough)
            .validate()
            .is_ok());
    }

    #[test]
    fn algorithms_are_read_by_name_in_any_case() {
        for (text, want) in [("\"gcra\"", Algorithm::Gcra), ("\"LOG\"", Algorithm::Log)] {
            let mut de = serde_json::Deserializer::from_str(text);
            assert_eq!(algorithm(&mut de).unwrap(), want);
        }
        let mut de = serde_json::Deserializer::from_str("\"leaky\"");
        let err = algorithm(&mut de).unwrap_err().to_string();
        assert!(err.contains("unknown algorithm \"leaky\""), "{err}");
    }
}
