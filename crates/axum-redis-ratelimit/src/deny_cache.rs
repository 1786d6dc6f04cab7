//! Clients already denied, answered 429 in-process until their retry time, so that a
//! client hammering the API costs no Redis call until it could pass again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::plan::Verdict;

pub struct DenyCache {
    entries: Mutex<HashMap<String, (Instant, Verdict)>>,
    max_entries: usize,
}

impl DenyCache {
    pub fn new(max_entries: usize) -> DenyCache {
        DenyCache {
            entries: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// Remembers a denial until `until`. A full cache is swept of expired entries; if
    /// it is still full the denial is not cached (Redis will answer instead).
    pub fn insert(&self, key: &str, until: Instant, verdict: &Verdict) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries && !entries.contains_key(key) {
            let now = Instant::now();
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= self.max_entries {
                return;
            }
        }
        entries.insert(key.to_string(), (until, verdict.clone()));
    }

    /// Forgets a client's denial (a refund may have let it through already).
    pub fn remove(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The cached denial, with its times brought up to now, while it lasts.
    pub fn get(&self, key: &str, now: Instant) -> Option<Verdict> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (until, verdict) = entries.get(key)?;
        if *until <= now {
            entries.remove(key);
            return None;
        }
        let left_ms = until.duration_since(now).as_millis();
        let left_ms = u64::try_from(left_ms).unwrap_or(u64::MAX);
        let mut v = verdict.clone();
        for o in v.outcomes.iter_mut().filter(|o| !o.allowed) {
            o.retry_after_ms = i64::try_from(left_ms).unwrap_or(i64::MAX);
        }
        Some(v)
    }
}

/// How long a denial may be cached: its retry time, when it has one.
pub fn cache_for(verdict: &Verdict) -> Option<Duration> {
    let longest = verdict
        .outcomes
        .iter()
        .filter(|o| !o.allowed)
        .map(|o| u64::try_from(o.retry_after_ms).ok())
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .max()?;
    (longest > 0).then(|| Duration::from_millis(longest))
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
