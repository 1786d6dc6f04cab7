//! The demo's configuration: a TOML file (a default one is bundled), with a few
//! environment overrides, checked once at start so that a mistake stops the app with a
//! clear message instead of surfacing on some later request. The settings themselves
//! are the limiter crate's `Config`.

pub use axum_redis_ratelimit::config::*;

/// The configuration bundled into the binary, used without `--config`.
pub const DEFAULT: &str = include_str!("../config/default.toml");

/// Reading a `Config` from the demo's file and environment.
pub trait ConfigFile: Sized {
    /// Parses and checks a configuration file's text.
    fn parse(text: &str) -> Result<Self, String>;

    /// Applies the environment overrides `RATELIMIT_ON_FAILURE`,
    /// `RATELIMIT_REDIS_TIMEOUT_MS`, `RATELIMIT_TRUSTED_PROXIES` (comma-separated),
    /// `RATELIMIT_DENY_CACHE` and `RATELIMIT_ADAPTIVE` (true/false).
    fn with_env(self, env: impl Fn(&str) -> Option<String>) -> Result<Self, String>;
}

impl ConfigFile for Config {
    fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
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
