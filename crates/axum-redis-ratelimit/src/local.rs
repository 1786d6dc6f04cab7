//! The in-process limiter that takes over while Redis is unavailable (failure mode
//! `local`). It runs the module's own algorithms on state kept in memory, so a client
//! sees the same limits, per instance of the app instead of shared.

use std::time::{SystemTime, UNIX_EPOCH};

use redis_ratelimit::algorithm::{charge, decide_all, Now, Outcome, Value};
use redis_ratelimit::args::{Limit, Options};
use redis_ratelimit::state;

use super::expiring_map::ExpiringMap;
use super::plan::{Plan, Verdict};
use crate::forms::Charge;

/// Keys and their state (the bytes the module would store), until the expiry the
/// module would give them; bounded.
pub struct LocalLimiter {
    entries: ExpiringMap<u64, Vec<u8>>,
}

fn now() -> Now {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Now::from_ns(ns)
}

impl LocalLimiter {
    pub fn new(max_entries: usize) -> LocalLimiter {
        LocalLimiter {
            entries: ExpiringMap::new(max_entries),
        }
    }

    /// Checks a plan, all or nothing, as RATELIMIT.MCHECK would.
    pub fn check(&self, plan: &Plan) -> Verdict {
        self.check_at(plan, now())
    }

    /// Charges or refunds one limit, as RATELIMIT.CHARGE would.
    pub fn charge(&self, c: &Charge) -> Outcome {
        self.charge_at(c, now())
    }

    fn charge_at(&self, c: &Charge, now: Now) -> Outcome {
        let options = Options {
            algorithm: c.algorithm,
            burst: None,
            cost: 1,
        };
        let limit = Limit {
            limit: c.limit,
            window_ms: c.window_s * 1000,
        };
        let mut entries = self.entries.lock();
        let now_ms = now.ms();
        let stored = entries
            .live(&c.key, now_ms)
            .and_then(|(_, bytes)| state::decode(bytes).ok())
            .filter(|s| s.algorithm() == options.algorithm);
        let decision = charge(stored, limit, &options, c.amount, now)
            .or_else(|_| charge(None, limit, &options, c.amount, now))
            .expect("fresh state is never refused");
        match decision.update {
            Some(u) if u.value == Value::Gone => entries.remove(&c.key),
            Some(u) => {
                let value = u.value.as_bytes().to_vec();
                entries.insert(&c.key, u.expire_at_ms, value, now_ms);
            }
            None => {}
        }
        decision.outcome
    }

    fn check_at(&self, plan: &Plan, now: Now) -> Verdict {
        let options = Options {
            algorithm: plan.algorithm,
            burst: None,
            cost: 1,
        };
        let limits: Vec<Limit> = plan
            .limits
            .iter()
            .map(|&(limit, window_s)| Limit {
                limit,
                window_ms: window_s * 1000,
            })
            .collect();
        let mut entries = self.entries.lock();
        let now_ms = now.ms();
        // Expired state is gone, as it would be in Redis; state of another algorithm
        // (after a configuration change) is dropped rather than refused. The map's
        // bytes are copied out: a key may be read and then written in one call.
        let stored_bytes: Vec<Option<Vec<u8>>> = plan
            .keys
            .iter()
            .map(|k| entries.live(k, now_ms).map(|(_, bytes)| bytes.clone()))
            .collect();
        let stored: Vec<_> = stored_bytes
            .iter()
            .map(|b| {
                b.as_deref()
                    .and_then(|b| state::decode(b).ok())
                    .filter(|s| s.algorithm() == options.algorithm)
            })
            .collect();
        let joint = match decide_all(&stored, &limits, &options, None, now) {
            Ok(j) => j,
            Err(_) => decide_all(&vec![None; limits.len()], &limits, &options, None, now)
                .expect("fresh state is never refused"),
        };
        for (key, update) in plan.keys.iter().zip(joint.updates) {
            // A map full of live clients does not remember a new one: it is allowed
            // now, as the decision says, rather than the map growing without bound.
            if let Some(update) = update {
                let value = update.value.as_bytes().to_vec();
                entries.insert(key, update.expire_at_ms, value, now_ms);
            }
        }
        Verdict {
            allowed: joint.allowed,
            outcomes: joint.outcomes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_ratelimit::args::Algorithm;

    fn plan(keys: &[&str], limits: &[(u64, u64)]) -> Plan {
        Plan {
            policy: "p".into(),
            algorithm: Algorithm::Fixed,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            limits: limits.to_vec(),
        }
    }

    #[test]
    fn counts_like_the_module_and_forgets_expired_windows() {
        let l = LocalLimiter::new(100);
        let p = plan(&["a"], &[(2, 60)]);
        let t = Now::from_ms(1_700_000_000_000);
        let r: Vec<_> = (0..3).map(|_| l.check_at(&p, t).allowed).collect();
        assert_eq!(r, [true, true, false]);
        assert!(l.check_at(&p, Now::from_ms(1_700_000_060_000)).allowed);
    }

    #[test]
    fn several_limits_are_all_or_nothing() {
        let l = LocalLimiter::new(100);
        let p = plan(&["m", "h"], &[(1, 60), (5, 3600)]);
        let t = Now::from_ms(1_700_000_000_000);
        assert!(l.check_at(&p, t).allowed);
        let v = l.check_at(&p, t);
        assert!(!v.allowed);
        assert_eq!(
            v.outcomes[1].remaining, 4,
            "the hourly limit was not charged"
        );
    }

    #[test]
    fn charges_and_refunds_like_the_module() {
        let l = LocalLimiter::new(100);
        let p = plan(&["c"], &[(10, 60)]);
        let t = Now::from_ms(1_700_000_000_000);
        l.check_at(&p, t);
        let c = |amount| Charge {
            key: "c".into(),
            limit: 10,
            window_s: 60,
            amount,
            algorithm: Algorithm::Fixed,
        };
        assert_eq!(l.charge_at(&c(15), t).remaining, 0, "in debt");
        assert!(!l.check_at(&p, t).allowed);
        assert_eq!(l.charge_at(&c(-100), t).remaining, 10);
        assert!(!l.entries.lock().contains_key("c"), "nothing left counted");
        assert!(l.check_at(&p, t).allowed);
    }

    #[test]
    fn memory_is_bounded() {
        let l = LocalLimiter::new(3);
        let t = Now::from_ms(1_700_000_000_000);
        for i in 0..10 {
            assert!(
                l.check_at(&plan(&[&format!("k{i}")], &[(1, 60)]), t)
                    .allowed
            );
        }
        assert_eq!(l.entries.lock().len(), 3);
        // After the windows end, expired entries make room again.
        let later = Now::from_ms(1_700_000_061_000);
        l.check_at(&plan(&["new"], &[(1, 60)]), later);
        assert!(l.entries.lock().contains_key("new"));
    }
}
