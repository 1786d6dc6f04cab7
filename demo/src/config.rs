//! The demo's configuration: a TOML file (a default one is bundled), with a few
//! environment overrides, checked once at start so that a mistake stops the app with a
//! clear message instead of surfacing on some later request.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// The configuration bundled into the binary, used without `--config`.
pub const DEFAULT: &str = include_str!("../config/default.toml");

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
    /// Parses and checks a configuration file's text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies the environment overrides `RATELIMIT_ON_FAILURE`,
    /// `RATELIMIT_REDIS_TIMEOUT_MS`, `RATELIMIT_TRUSTED_PROXIES` (comma-separated),
    /// `RATELIMIT_DENY_CACHE` and `RATELIMIT_ADAPTIVE` (true/false).
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        if let Some(v) = env("RATELIMIT_ON_FAILURE") {
            self.redis.on_failure = v.parse()?;
        }
        if let Some(v) = env("RATELIMIT_REDIS_TIMEOUT_MS") {
            self.redis.timeout_ms = v
                .parse()
                .map_err(|_| format!("RATELIMIT_REDIS_TIMEOUT_MS: not a number: {v:?}"))?;
        }
        if let Some(v) = env("RATELIMIT_TRUSTED_PROXIES") {
            self.clients.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        let flag = |name: &str, v: String| match v.as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(format!("{name} must be true or false, not {v:?}")),
        };
        if let Some(v) = env("RATELIMIT_DENY_CACHE") {
            self.deny_cache.enabled = flag("RATELIMIT_DENY_CACHE", v)?;
        }
        if let Some(v) = env("RATELIMIT_ADAPTIVE") {
            self.adaptive.enabled = flag("RATELIMIT_ADAPTIVE", v)?;
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_default_has_the_documented_policies() {
        let c = Config::parse(DEFAULT).unwrap();
        let anon = c.policy("/api/data", ANONYMOUS).unwrap();
        assert_eq!(anon.name, "anon");
        assert_eq!(
            anon.limits,
            [LimitSpec {
                limit: 10,
                window_s: 60
            }]
        );
        let pro = c.policy("/api/data", "pro").unwrap();
        assert_eq!(
            pro.limits,
            [LimitSpec {
                limit: 100,
                window_s: 60
            }]
        );
        assert_eq!(c.api_keys[0].key, "demo-pro-key");
        assert_eq!(c.redis.on_failure, OnFailure::Local);
        assert!(c.deny_cache.enabled);
        assert!(!c.adaptive.enabled);
        assert!(c.trusted_proxies().unwrap().is_empty());
    }

    #[test]
    fn environment_overrides_apply_and_are_checked() {
        let env = |name: &str| match name {
            "RATELIMIT_ON_FAILURE" => Some("closed".to_string()),
            "RATELIMIT_TRUSTED_PROXIES" => Some("10.0.0.0/8, 127.0.0.1".to_string()),
            "RATELIMIT_DENY_CACHE" => Some("false".to_string()),
            _ => None,
        };
        let c = Config::parse(DEFAULT).unwrap().with_env(env).unwrap();
        assert_eq!(c.redis.on_failure, OnFailure::Closed);
        assert_eq!(c.trusted_proxies().unwrap().len(), 2);
        assert!(!c.deny_cache.enabled);
        let bad =
            |name: &'static str, v: &'static str| move |n: &str| (n == name).then(|| v.to_string());
        for (name, value) in [
            ("RATELIMIT_ON_FAILURE", "sometimes"),
            ("RATELIMIT_TRUSTED_PROXIES", "proxy.example"),
            ("RATELIMIT_REDIS_TIMEOUT_MS", "0"),
            ("RATELIMIT_ADAPTIVE", "maybe"),
        ] {
            let err = Config::parse(DEFAULT).unwrap().with_env(bad(name, value));
            assert!(err.is_err(), "{name}={value}");
        }
    }

    #[test]
    fn mistakes_in_the_file_are_refused_with_a_reason() {
        let with = |from: &str, to: &str| Config::parse(&DEFAULT.replace(from, to));
        let e = with("limit = 10,", "limit = 0,").unwrap_err();
        assert!(e.contains("limit must be"), "{e}");
        let e = with("on_failure = \"local\"", "on_failure = \"maybe\"").unwrap_err();
        assert!(
            e.contains("on_failure") || e.contains("unknown variant"),
            "{e}"
        );
        let e = with("name = \"pro\"", "name = \"anon\"\nroute2 = 1").unwrap_err();
        assert!(e.contains("route2"), "{e}");
        let e = with(
            "tier = \"pro\"\nalgorithm",
            "tier = \"anonymous\"\nalgorithm",
        )
        .unwrap_err();
        assert!(e.contains("two policies"), "{e}");
        let e = with("algorithm = \"fixed\"", "algorithm = \"leaky\"").unwrap_err();
        assert!(e.contains("leaky"), "{e}");
    }
}
