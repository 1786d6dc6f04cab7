//! Property tests: each algorithm, with its state round-tripped through the stored
//! bytes, against a brute-force reference model written independently of it.

use proptest::prelude::*;

use super::{decide, peek, Decision, Now};
use crate::args::{Algorithm, Limit, Options};
use crate::state::decode;

/// Runs one call through the real path: decode the stored bytes, decide, keep the
/// written bytes when there are any.
fn call(
    stored: &mut Option<Vec<u8>>,
    limit: Limit,
    alg: Algorithm,
    burst: Option<u64>,
    cost: u64,
    now: Now,
) -> Decision {
    let options = Options {
        algorithm: alg,
        burst,
        cost,
    };
    let state = stored
        .as_deref()
        .map(|b| decode(b).expect("stored bytes decode"));
    let d = decide(state, limit, &options, now).expect("same algorithm");
    // PEEK reports the state before the call (a CHECK of cost 0, a second path
    // through the algorithm): an allowed CHECK leaves exactly `cost` fewer units, a
    // denied one leaves the state as PEEK sees it.
    let p = peek(state, limit, &options, now).unwrap();
    let counted = if d.outcome.allowed { cost } else { 0 };
    assert_eq!(
        p.remaining,
        d.outcome.remaining + counted,
        "{alg:?} {d:?} {p:?}"
    );
    if let Some(u) = &d.update {
        *stored = Some(u.value.as_bytes().to_vec());
    }
    d
}

fn arrivals(max_gap: u64) -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((0..=max_gap, 0u64..=6), 1..120)
}

struct FixedModel {
    start: Option<u64>,
    count: u64,
}

impl FixedModel {
    fn admit(&mut self, limit: Limit, t: u64, cost: u64) -> bool {
        if self.start.is_some_and(|s| t >= s + limit.window_ms) {
            self.start = None;
            self.count = 0;
        }
        if self.count + cost > limit.limit {
            return false;
        }
        if cost > 0 {
            self.start.get_or_insert(t);
            self.count += cost;
        }
        true
    }
}

/// Debt formulation of a token bucket: a different way to write GCRA.
struct BucketModel {
    debt: u128,
    last: u64,
}

impl BucketModel {
    fn admit(&mut self, interval: u128, burst: u64, t: u64, cost: u64) -> bool {
        self.debt = self.debt.saturating_sub(u128::from(t - self.last));
        self.last = t;
        let cap = u128::from(burst) * interval;
        if cost > burst || self.debt + u128::from(cost) * interval > cap {
            return false;
        }
        self.debt += u128::from(cost) * interval;
        true
    }
}

/// Every admitted unit's timestamp, never pruned.
fn log_admits(log: &[u64], limit: Limit, t: u64, cost: u64) -> bool {
    let live = log.iter().filter(|&&ts| ts + limit.window_ms > t).count() as u64;
    cost <= limit.limit && live + cost <= limit.limit
}

/// The sliding counter from the whole history on the anchored grid.
struct SlidingModel {
    anchor: Option<u64>,
    events: Vec<(u64, u64)>,
}

impl SlidingModel {
    fn used(&mut self, w: u64, t: u64) -> u64 {
        let Some(anchor) = self.anchor else { return 0 };
        let k = (t - anchor) / w;
        let last = (self.events.last().unwrap().0 - anchor) / w;
        if k >= last + 2 {
            self.anchor = None;
            self.events.clear();
            return 0;
        }
        let sum = |idx: u64| -> u64 {
            self.events
                .iter()
                .filter(|(ts, _)| (ts - anchor) / w == idx)
                .map(|(_, c)| c)
                .sum()
        };
        let cur = sum(k);
        let prev = if k > 0 { sum(k - 1) } else { 0 };
        let e = t - (anchor + k * w);
        (u128::from(prev) * u128::from(w - e)).div_ceil(u128::from(w)) as u64 + cur
    }

    fn admit(&mut self, limit: Limit, t: u64, cost: u64) -> bool {
        let used = self.used(limit.window_ms, t);
        if cost > limit.limit || used + cost > limit.limit {
            return false;
        }
        if cost > 0 {
            self.anchor.get_or_insert(t);
            self.events.push((t, cost));
        }
        true
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn fixed_agrees_with_its_model(limit in 1u64..=12, window in 1u64..=500, arr in arrivals(200)) {
        let limit = Limit { limit, window_ms: window };
        let (mut stored, mut model, mut t) = (None, FixedModel { start: None, count: 0 }, 1_000_000u64);
        for (gap, cost) in arr {
            t += gap;
            let d = call(&mut stored, limit, Algorithm::Fixed, None, cost, Now::from_ms(t));
            prop_assert_eq!(d.outcome.allowed, model.admit(limit, t, cost), "at {} cost {}", t, cost);
            prop_assert_eq!(d.outcome.remaining, limit.limit.saturating_sub(model.count));
        }
    }

    #[test]
    fn gcra_agrees_with_its_model(limit in 1u64..=50, window in 1u64..=1000, burst in proptest::option::of(1u64..=20), arr in arrivals(30_000_000)) {
        let lim = Limit { limit, window_ms: window };
        let cap = burst.unwrap_or(limit);
        let interval = (u128::from(window) * 1_000_000).div_ceil(u128::from(limit));
        let (mut stored, mut t) = (None, 5_000_000_000u64);
        let mut model = BucketModel { debt: 0, last: t };
        for (gap, cost) in arr {
            t += gap;
            let d = call(&mut stored, lim, Algorithm::Gcra, burst, cost, Now::from_ns(t));
            prop_assert_eq!(d.outcome.allowed, model.admit(interval, cap, t, cost), "at {} cost {}", t, cost);
            prop_assert_eq!(u128::from(d.outcome.remaining), (u128::from(cap) * interval - model.debt) / interval);
            prop_assert_eq!(d.outcome.limit, cap);
        }
    }

    #[test]
    fn log_agrees_with_its_model_and_retry_is_exact(limit in 1u64..=10, window in 1u64..=500, arr in arrivals(150)) {
        let lim = Limit { limit, window_ms: window };
        let (mut stored, mut log, mut t) = (None, Vec::new(), 1_000_000u64);
        for (gap, cost) in arr {
            t += gap;
            let d = call(&mut stored, lim, Algorithm::Log, None, cost, Now::from_ms(t));
            prop_assert_eq!(d.outcome.allowed, log_admits(&log, lim, t, cost), "at {} cost {}", t, cost);
            if d.outcome.allowed {
                log.extend(std::iter::repeat_n(t, cost as usize));
            } else if d.outcome.retry_after_ms > 0 {
                let at = t + d.outcome.retry_after_ms as u64;
                prop_assert!(log_admits(&log, lim, at, cost));
                prop_assert!(!log_admits(&log, lim, at - 1, cost));
            }
            // Never more than `limit` in any window-length interval ending now.
            prop_assert!(log.iter().filter(|&&ts| ts + window > t).count() as u64 <= limit);
        }
    }

    #[test]
    fn sliding_agrees_with_its_model_and_stays_within_its_bound(limit in 1u64..=12, window in 1u64..=500, arr in arrivals(300)) {
        let lim = Limit { limit, window_ms: window };
        let (mut stored, mut t) = (None, 1_000_000u64);
        let mut model = SlidingModel { anchor: None, events: Vec::new() };
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        for (gap, cost) in arr {
            t += gap;
            let d = call(&mut stored, lim, Algorithm::Sliding, None, cost, Now::from_ms(t));
            prop_assert_eq!(d.outcome.allowed, model.admit(lim, t, cost), "at {} cost {}", t, cost);
            if d.outcome.allowed && cost > 0 {
                admitted.push((t, cost));
            }
            let in_last_window: u64 = admitted.iter().filter(|(ts, _)| ts + window > t).map(|(_, c)| c).sum();
            prop_assert!(in_last_window <= 2 * limit, "{} in the last window", in_last_window);
        }
    }

    /// A clock that jumps backwards: no panic, no negative or oversized times, and the
    /// state stays decodable, for every algorithm.
    #[test]
    fn clock_steps_backwards_safely(alg in prop::sample::select(Algorithm::ALL.to_vec()), limit in 1u64..=10, window in 1u64..=1000,
                                    steps in prop::collection::vec((-5_000i64..=500, 0u64..=4), 1..80)) {
        let lim = Limit { limit, window_ms: window };
        let (mut stored, mut t) = (None, 10_000_000i64);
        // SLIDING's state is full again two windows after its start; GCRA's arrival
        // time may lie one window of debt beyond an empty bucket (CHARGE), so a clock
        // that stepped back waits out up to that.
        let max_reset = match alg { Algorithm::Sliding | Algorithm::Gcra => 2 * window, _ => window };
        for (step, cost) in steps {
            t = (t + step).max(0);
            let d = call(&mut stored, lim, alg, None, cost, Now::from_ms(t as u64));
            prop_assert!(d.outcome.retry_after_ms >= -1);
            prop_assert!(d.outcome.retry_after_ms <= max_reset as i64 + 1);
            prop_assert!(d.outcome.reset_after_ms <= max_reset + 1, "{:?}", d.outcome);
            prop_assert!(d.outcome.remaining <= limit);
        }
    }
}
