//! CHARGE for every algorithm: debt that the next requests wait out, refunds that give
//! back no more than was counted, and a state that stays bounded.

use proptest::prelude::*;

use super::{charge, decide, Decision, Now, Outcome, Value};
use crate::args::{Algorithm, Limit, Options, MAX_LIMIT};
use crate::state::decode;

const TEN_A_MINUTE: Limit = Limit {
    limit: 10,
    window_ms: 60_000,
};
const T0: u64 = 1_700_000_000_000;

/// A key as the module keeps it: the stored bytes, or none.
#[derive(Default)]
struct Key(Option<Vec<u8>>);

impl Key {
    fn apply(&mut self, d: &Decision) {
        if let Some(u) = &d.update {
            self.0 = match u.value {
                Value::Gone => None,
                _ => Some(u.value.as_bytes().to_vec()),
            };
        }
    }

    fn check(&mut self, alg: Algorithm, cost: u64, at_ms: u64) -> Outcome {
        let options = Options {
            algorithm: alg,
            burst: None,
            cost,
        };
        let state = self.0.as_deref().map(|b| decode(b).unwrap());
        let d = decide(state, TEN_A_MINUTE, &options, Now::from_ms(at_ms)).unwrap();
        self.apply(&d);
        d.outcome
    }

    fn charge(&mut self, alg: Algorithm, amount: i64, at_ms: u64) -> (Outcome, bool) {
        let options = Options {
            algorithm: alg,
            burst: None,
            cost: 1,
        };
        let state = self.0.as_deref().map(|b| decode(b).unwrap());
        let d = charge(state, TEN_A_MINUTE, &options, amount, Now::from_ms(at_ms)).unwrap();
        self.apply(&d);
        (d.outcome, d.update.is_some())
    }
}

#[test]
fn a_charge_past_the_limit_is_debt_that_the_next_requests_wait_out() {
    for alg in Algorithm::ALL {
        let mut key = Key::default();
        assert!(key.check(alg, 4, T0).allowed, "{alg:?}");
        // 6 left; 15 more puts the key 9 units in debt.
        let (after, wrote) = key.charge(alg, 15, T0 + 1);
        assert!(wrote && after.allowed, "{alg:?}: CHARGE never denies");
        assert_eq!((after.limit, after.remaining), (10, 0), "{alg:?}");
        assert!(after.retry_after_ms > 0, "{alg:?}: {after:?}");
        let denied = key.check(alg, 1, T0 + 2);
        assert!(!denied.allowed, "{alg:?}");
        assert!(
            denied.retry_after_ms >= after.retry_after_ms - 1,
            "{alg:?}: {denied:?} {after:?}"
        );
        // Not before the wait the charge announced, and right after it.
        let due = T0 + 1 + after.retry_after_ms as u64;
        assert!(!key.check(alg, 1, due - 1).allowed, "{alg:?}");
        assert!(key.check(alg, 1, due).allowed, "{alg:?}");
    }
}

#[test]
fn debt_lasts_as_long_as_its_algorithm_says() {
    // FIXED: until the window that began with the first request ends. GCRA: 9 units
    // of debt beyond an empty bucket, and the unit the request needs, at 6 s each. LOG:
    // until the newest `limit` entries, the charge's, leave the window.
    let waits = [
        (Algorithm::Fixed, 60_000 - 1),
        (Algorithm::Gcra, (4 + 15 - 10 + 1) * 6_000 - 1),
        (Algorithm::Log, 60_000),
    ];
    for (alg, wait) in waits {
        let mut key = Key::default();
        key.check(alg, 4, T0);
        let (after, _) = key.charge(alg, 15, T0 + 1);
        assert_eq!(after.retry_after_ms, wait, "{alg:?}");
    }
}

#[test]
fn a_refund_gives_back_what_was_counted_and_never_more() {
    for alg in Algorithm::ALL {
        let mut key = Key::default();
        assert_eq!(key.check(alg, 8, T0).remaining, 2, "{alg:?}");
        let (after, wrote) = key.charge(alg, -5, T0 + 10);
        assert!(wrote, "{alg:?}");
        assert_eq!(after.remaining, 7, "{alg:?}");
        let (after, _) = key.charge(alg, -100, T0 + 20);
        assert_eq!(after.remaining, 10, "{alg:?}: never beyond the capacity");
        assert_eq!(key.0, None, "{alg:?}: nothing left counted, the key goes");
        let (again, wrote) = key.charge(alg, -1, T0 + 30);
        assert!(!wrote, "{alg:?}: nothing to give back, nothing written");
        assert_eq!(again.remaining, 10, "{alg:?}");
    }
}

#[test]
fn a_refund_for_a_window_that_has_ended_changes_nothing() {
    for alg in [Algorithm::Fixed, Algorithm::Sliding] {
        let mut key = Key::default();
        key.check(alg, 8, T0);
        let before = key.0.clone();
        let (_, wrote) = key.charge(alg, -5, T0 + 60_000);
        assert!(!wrote, "{alg:?}");
        assert_eq!(key.0, before, "{alg:?}");
    }
}

#[test]
fn a_gcra_refund_never_moves_the_arrival_time_before_now() {
    let mut key = Key::default();
    key.check(Algorithm::Gcra, 5, T0);
    // 12 s later, two units have come back on their own: 7 left. A refund of 100 fills
    // the bucket and no more: the arrival time would be long before now, it is now.
    assert_eq!(key.check(Algorithm::Gcra, 0, T0 + 12_000).remaining, 7);
    let (after, wrote) = key.charge(Algorithm::Gcra, -100, T0 + 12_000);
    assert!(wrote);
    assert_eq!(after.remaining, 10);
    assert_eq!(after.reset_after_ms, 0);
    assert_eq!(key.0, None);
    // A refund that leaves some: the arrival time moves back by whole intervals.
    key.check(Algorithm::Gcra, 5, T0 + 40_000);
    let (after, _) = key.charge(Algorithm::Gcra, -2, T0 + 40_000);
    assert_eq!(after.remaining, 7);
    assert_eq!(after.reset_after_ms, 18_000);
}

#[test]
fn charge_zero_answers_the_state_and_writes_nothing() {
    for alg in Algorithm::ALL {
        let mut key = Key::default();
        key.check(alg, 10, T0);
        let before = key.0.clone();
        let (after, wrote) = key.charge(alg, 0, T0 + 1);
        assert!(!wrote, "{alg:?}");
        assert_eq!(key.0, before);
        assert!(after.allowed);
        assert_eq!(after.remaining, 0, "{alg:?}");
        assert!(
            after.retry_after_ms > 0,
            "{alg:?}: a request of cost 1 waits"
        );
    }
}

proptest! {
    /// Any sequence of checks, charges and refunds: no panic, `remaining` never above
    /// the capacity, times never negative, the state always decodes, and LOG keeps at
    /// most `limit` entries however often it is charged.
    #[test]
    fn charges_keep_every_promise(
        alg in prop::sample::select(Algorithm::ALL.to_vec()),
        limit in 1u64..=20,
        window in 1u64..=10_000,
        steps in prop::collection::vec((0u64..=3_000, -30i64..=30, any::<bool>()), 1..60),
    ) {
        let lim = Limit { limit, window_ms: window };
        let mut stored: Option<Vec<u8>> = None;
        let mut t = T0;
        for (gap, amount, is_charge) in steps {
            t += gap;
            let options = Options { algorithm: alg, burst: None, cost: amount.unsigned_abs() };
            let state = stored.as_deref().map(|b| decode(b).unwrap());
            let d = if is_charge {
                charge(state, lim, &options, amount, Now::from_ms(t)).unwrap()
            } else {
                decide(state, lim, &options, Now::from_ms(t)).unwrap()
            };
            prop_assert!(d.outcome.remaining <= limit, "{:?}", d.outcome);
            prop_assert!(d.outcome.retry_after_ms >= -1);
            if let Some(u) = &d.update {
                stored = match u.value {
                    Value::Gone => None,
                    _ => Some(u.value.as_bytes().to_vec()),
                };
            }
            if let (Algorithm::Log, Some(bytes)) = (alg, &stored) {
                prop_assert!((bytes.len() - 1) / 6 <= limit as usize);
            }
        }
    }

    /// The largest amounts either way, on every algorithm: no overflow, no panic.
    #[test]
    fn extreme_amounts_are_safe(
        alg in prop::sample::select(Algorithm::ALL.to_vec()),
        amount in prop_oneof![Just(MAX_LIMIT as i64), Just(-(MAX_LIMIT as i64)), any::<i64>()],
        now in prop_oneof![Just(0u64), Just(u64::MAX), 0u64..=1u64 << 48],
    ) {
        let lim = Limit { limit: if alg == Algorithm::Log { 4096 } else { MAX_LIMIT }, window_ms: crate::args::MAX_WINDOW_MS };
        let options = Options { algorithm: alg, burst: None, cost: 1 };
        let mut key = Key::default();
        for a in [amount, amount, -amount] {
            let state = key.0.as_deref().map(|b| decode(b).unwrap());
            let d = charge(state, lim, &options, a, Now::from_ms(now / 1_000_000)).unwrap();
            key.apply(&d);
            prop_assert!(d.outcome.remaining <= lim.limit);
        }
    }
}
