//! Clients already denied, answered 429 in-process until their retry time, so that a
//! client hammering the API costs no Redis call until it could pass again.

use std::time::{Duration, Instant};

use super::expiring_map::ExpiringMap;
use super::plan::Verdict;

pub struct DenyCache {
    entries: ExpiringMap<Instant, Verdict>,
}

impl DenyCache {
    pub fn new(max_entries: usize) -> DenyCache {
        DenyCache {
            entries: ExpiringMap::new(max_entries),
        }
    }

    /// Remembers a denial until `until`; a cache full of live denials does not take
    /// it (Redis will answer instead).
    pub fn insert(&self, key: &str, until: Instant, verdict: &Verdict) {
        self.entries
            .lock()
            .insert(key, until, verdict.clone(), Instant::now());
    }

    /// Forgets a client's denial (a refund may have let it through already).
    pub fn remove(&self, key: &str) {
        self.entries.lock().remove(key);
    }

    /// The cached denial, with its times brought up to now, while it lasts.
    pub fn get(&self, key: &str, now: Instant) -> Option<Verdict> {
        let mut entries = self.entries.lock();
        let (until, verdict) = entries.live(key, now)?;
        let left_ms = u64::try_from(until.duration_since(now).as_millis()).unwrap_or(u64::MAX);
        let mut v = verdict.clone();
        for o in v.outcomes.iter_mut().filter(|o| !o.allowed) {
            o.retry_after_ms = i64::try_from(left_ms).unwrap_or(i64::MAX);
        }
        Some(v)
    }
}

/// How long a denial may be cached: its retry time, when it has one.
pub fn cache_for(verdict: &Verdict) -> Option<Duration> {
    let wait = u64::try_from(verdict.retry_after_ms()).ok()?;
    (wait > 0).then(|| Duration::from_millis(wait))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis_ratelimit::algorithm::Outcome;

    fn denied(retry_after_ms: i64) -> Verdict {
        Verdict {
            allowed: false,
            outcomes: vec![Outcome {
                allowed: false,
                limit: 10,
                remaining: 0,
                retry_after_ms,
                reset_after_ms: 5000,
            }],
        }
    }

    #[test]
    fn a_denial_is_served_until_its_retry_time() {
        let c = DenyCache::new(10);
        let t = Instant::now();
        let v = denied(5000);
        c.insert("k", t + cache_for(&v).unwrap(), &v);
        let hit = c.get("k", t + Duration::from_millis(1000)).unwrap();
        assert_eq!(hit.outcomes[0].retry_after_ms, 4000);
        assert!(c.get("k", t + Duration::from_millis(5000)).is_none());
        assert!(c.get("other", t).is_none());
    }

    #[test]
    fn never_passing_and_zero_waits_are_not_cached_and_size_is_bounded() {
        assert_eq!(cache_for(&denied(-1)), None);
        assert_eq!(cache_for(&denied(0)), None);
        let c = DenyCache::new(2);
        let t = Instant::now() + Duration::from_secs(60);
        for k in ["a", "b", "c"] {
            c.insert(k, t, &denied(1000));
        }
        assert!(c.get("c", Instant::now()).is_none());
        assert!(c.get("a", Instant::now()).is_some());
    }
}
