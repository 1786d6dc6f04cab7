//! A bounded map whose entries expire: the deny cache and the in-process limiter keep
//! their per-client state in one. When it is full, expired entries are swept; if it
//! is still full, a new key is not taken (an entry is a cache or a fallback, never
//! worth growing without bound for).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Keys to values that expire at a time `T` (an `Instant`, or milliseconds).
pub struct ExpiringMap<T, V> {
    entries: Mutex<HashMap<String, (T, V)>>,
    max_entries: usize,
}

impl<T: Copy + Ord, V> ExpiringMap<T, V> {
    pub fn new(max_entries: usize) -> ExpiringMap<T, V> {
        ExpiringMap {
            entries: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// The map, held for several reads and writes that must agree.
    pub fn lock(&self) -> Locked<'_, T, V> {
        Locked {
            entries: self.entries.lock().unwrap_or_else(|p| p.into_inner()),
            max_entries: self.max_entries,
        }
    }
}

/// The map while it is held.
pub struct Locked<'a, T, V> {
    entries: MutexGuard<'a, HashMap<String, (T, V)>>,
    max_entries: usize,
}

impl<T: Copy + Ord, V> Locked<'_, T, V> {
    /// The value of `key` and when it expires, unless it has (then it is dropped).
    pub fn live(&mut self, key: &str, now: T) -> Option<(T, &V)> {
        if self
            .entries
            .get(key)
            .is_some_and(|(until, _)| *until <= now)
        {
            self.entries.remove(key);
        }
        self.entries.get(key).map(|(until, v)| (*until, v))
    }

    /// Keeps `value` for `key` until `until`. A full map is swept of what expired by
    /// `now`; if it is still full, a new key is not taken and `false` is answered.
    pub fn insert(&mut self, key: &str, until: T, value: V, now: T) -> bool {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(key) {
            self.entries.retain(|_, (until, _)| *until > now);
            if self.entries.len() >= self.max_entries {
                return false;
            }
        }
        self.entries.insert(key.to_string(), (until, value));
        true
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Entries held, live or not yet swept (for tests of the bound).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether `key` is held, live or not yet swept.
    #[cfg(test)]
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_until_their_time() {
        let map: ExpiringMap<u64, &str> = ExpiringMap::new(10);
        let mut m = map.lock();
        assert!(m.insert("a", 100, "x", 0));
        assert_eq!(m.live("a", 99), Some((100, &"x")));
        assert_eq!(m.live("a", 100), None);
        assert_eq!(m.live("a", 0), None, "an expired entry is dropped");
        assert!(m.insert("b", 100, "y", 0));
        m.remove("b");
        assert_eq!(m.live("b", 0), None);
    }

    #[test]
    fn a_full_map_sweeps_then_refuses_new_keys() {
        let map: ExpiringMap<u64, u8> = ExpiringMap::new(2);
        let mut m = map.lock();
        assert!(m.insert("a", 10, 1, 0));
        assert!(m.insert("b", 50, 2, 0));
        // Full of live entries: a new key is refused, a present one replaced.
        assert!(!m.insert("c", 50, 3, 5));
        assert!(m.insert("a", 60, 4, 5));
        assert_eq!(m.live("a", 5), Some((60, &4)));
        // Once "b" has expired, the sweep makes room.
        assert!(m.insert("c", 90, 3, 55));
        assert_eq!(m.live("b", 55), None);
        assert_eq!(m.live("c", 55), Some((90, &3)));
    }
}
