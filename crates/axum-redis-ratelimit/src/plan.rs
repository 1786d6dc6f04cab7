//! What one request is checked against: the policy's limits (after adaptive
//! shrinking), the Redis keys that hold them, and the verdict that comes back.

use redis_ratelimit::algorithm::Outcome;

use crate::config::Policy;
use crate::forms::Charge;
use redis_ratelimit::args::Algorithm;

/// The limits one request is checked against, all or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub policy: String,
    pub algorithm: Algorithm,
    /// One per limit, in the policy's order.
    pub keys: Vec<String>,
    /// (limit, window in seconds), in the same order.
    pub limits: Vec<(u64, u64)>,
}

impl Plan {
    /// The plan for a client `id` under `policy`, each limit multiplied by `factor`
    /// (1.0 unless adaptive limiting shrinks them; never below 1).
    ///
    /// Keys follow the rule every client of the project follows (the Python package's
    /// `limit_key`), with `<policy>:<id>` as the subject: `rl:{<subject>}:<limit>/<window
    /// in ms>ms`, one key per limit. The hash tag keeps one client's limits in one Redis
    /// Cluster slot, as MCHECK needs; the limit named is the policy's own, so that
    /// adaptive shrinking changes the limit checked but not where it is counted; the
    /// length is bounded because `policy` and `id` are.
    pub fn new(policy: &Policy, id: &str, factor: f64) -> Plan {
        let keys = policy
            .limits
            .iter()
            .map(|l| {
                let mut key = String::with_capacity(32 + policy.name.len() + id.len());
                for part in ["rl:{", &policy.name, ":", id, "}:"] {
                    key.push_str(part);
                }
                key.push_str(&format!("{}/{}ms", l.limit, l.window_s * 1000));
                key
            })
            .collect();
        let limits = policy
            .limits
            .iter()
            .map(|l| (shrink(l.limit, factor), l.window_s))
            .collect();
        Plan {
            policy: policy.name.clone(),
            algorithm: policy.algorithm,
            keys,
            limits,
        }
    }
}

impl Plan {
    /// The charges that count `amounts` on the plan's limits: one amount for every
    /// limit, or one per limit (zero amounts are left out).
    pub fn charges(&self, amounts: &[i64]) -> Vec<Charge> {
        let every = |i: usize| match amounts {
            [one] => *one,
            many => many.get(i).copied().unwrap_or(0),
        };
        self.keys
            .iter()
            .zip(&self.limits)
            .enumerate()
            .filter(|&(i, _)| every(i) != 0)
            .map(|(i, (key, &(limit, window_s)))| Charge {
                key: key.clone(),
                limit,
                window_s,
                amount: every(i),
                algorithm: self.algorithm,
            })
            .collect()
    }
}

fn shrink(limit: u64, factor: f64) -> u64 {
    if factor >= 1.0 {
        return limit;
    }
    ((limit as f64 * factor).floor() as u64).max(1)
}

/// The answer for one request: allowed or not, and each limit's numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub outcomes: Vec<Outcome>,
}

impl Verdict {
    /// The wait before the request could pass: the longest among the limits that
    /// deny it, -1 when one of them never allows it, 0 when none denies.
    pub fn retry_after_ms(&self) -> i64 {
        let mut longest = 0;
        for o in self.outcomes.iter().filter(|o| !o.allowed) {
            if o.retry_after_ms < 0 {
                return -1;
            }
            longest = longest.max(o.retry_after_ms);
        }
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LimitSpec;

    fn policy(limits: &[(u64, u64)]) -> Policy {
        Policy {
            name: "anon".into(),
            route: "/api/data".into(),
            tier: "anonymous".into(),
            algorithm: Algorithm::Fixed,
            limits: limits
                .iter()
                .map(|&(limit, window_s)| LimitSpec { limit, window_s })
                .collect(),
        }
    }

    #[test]
    fn one_key_per_limit_named_by_the_limit_under_one_hash_tag() {
        let p = Plan::new(&policy(&[(10, 60)]), "ip:192.0.2.1", 1.0);
        assert_eq!(p.keys, ["rl:{anon:ip:192.0.2.1}:10/60000ms"]);
        assert_eq!(p.limits, [(10, 60)]);
        let p = Plan::new(&policy(&[(10, 1), (1000, 3600)]), "key:demo", 1.0);
        assert_eq!(
            p.keys,
            [
                "rl:{anon:key:demo}:10/1000ms",
                "rl:{anon:key:demo}:1000/3600000ms"
            ]
        );
        // Shrunk by load, the limits change but not their keys.
        let shrunk = Plan::new(&policy(&[(10, 1), (1000, 3600)]), "key:demo", 0.5);
        assert_eq!(shrunk.limits, [(5, 1), (500, 3600)]);
        assert_eq!(shrunk.keys, p.keys);
    }

    #[test]
    fn adaptive_factor_shrinks_every_limit_but_never_to_zero() {
        let p = Plan::new(&policy(&[(10, 60), (1, 1)]), "x", 0.5);
        assert_eq!(p.limits, [(5, 60), (1, 1)]);
        assert_eq!(Plan::new(&policy(&[(7, 60)]), "x", 0.1).limits, [(1, 60)]);
    }
}
