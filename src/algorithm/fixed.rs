//! FIXED: one counter per window. The window starts with the first counted request
//! for the key (not aligned to the clock, so clients' windows do not all reset at
//! once) and the key expires when the window ends.

use std::cmp::Ordering;

use super::{Decision, Outcome, Update, Value};
use crate::args::Limit;
use crate::state::{encode_fixed, U48_MAX};

/// `state` is the stored (window start, count); `None` for a new key.
pub fn decide(state: Option<(u64, u64)>, limit: Limit, cost: u64, now_ms: u64) -> Decision {
    let window = limit.window_ms;
    let (start, count) = match state {
        // A clock that stepped backwards puts the stored start in the future: the
        // window is taken to start now, so it never lasts longer than one window and
        // the count is kept (no over-admission).
        Some((start, count)) => {
            let start = start.min(now_ms);
            if now_ms < start.saturating_add(window) {
                (start, count)
            } else {
                (now_ms, 0)
            }
        }
        None => (now_ms, 0),
    };
    let end = start.saturating_add(window);
    let until_end = end.saturating_sub(now_ms);
    let counted = count.checked_add(cost).filter(|&c| c <= limit.limit);
    match counted {
        Some(after) => Decision {
            outcome: Outcome {
                allowed: true,
                limit: limit.limit,
                remaining: limit.limit - after,
                retry_after_ms: 0,
                reset_after_ms: if after > 0 { until_end } else { 0 },
            },
            update: (cost > 0).then(|| Update {
                value: Value::Inline(encode_fixed(start, after)),
                expire_at_ms: end,
            }),
        },
        None => Decision {
            outcome: Outcome {
                allowed: false,
                limit: limit.limit,
                remaining: limit.limit.saturating_sub(count),
                // Once the window ends the count is zero, so any cost within the limit
                // passes then; a cost above the limit never does.
                retry_after_ms: if cost > limit.limit {
                    -1
                } else {
                    until_end as i64
                },
                reset_after_ms: if count > 0 { until_end } else { 0 },
            },
            update: None,
        },
    }
}

/// CHARGE (see `algorithm::charge`): the window as CHECK sees it now; a positive
/// amount counts into it, whatever the count (debt is paid when the window ends), a
/// negative one gives back up to what the current window holds. `None`: no change.
pub fn charge(state: Option<(u64, u64)>, limit: Limit, amount: i64, now_ms: u64) -> Option<Update> {
    let window = limit.window_ms;
    let current = state
        .map(|(start, count)| (start.min(now_ms), count))
        .filter(|&(start, _)| now_ms < start.saturating_add(window));
    let (start, count) = match amount.cmp(&0) {
        Ordering::Greater => {
            let (start, count) = current.unwrap_or((now_ms, 0));
            (
                start,
                count.saturating_add(amount.unsigned_abs()).min(U48_MAX),
            )
        }
        Ordering::Less => {
            let (start, count) = current?;
            (start, count - amount.unsigned_abs().min(count))
        }
        Ordering::Equal => return None,
    };
    if current == Some((start, count)) {
        return None;
    }
    if count == 0 {
        return Some(Update::gone(now_ms));
    }
    Some(Update {
        value: Value::Inline(encode_fixed(start, count)),
        expire_at_ms: start.saturating_add(window),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limit = Limit {
        limit: 10,
        window_ms: 60_000,
    };

    fn stored(d: &Decision) -> Option<(u64, u64)> {
        d.written().map(|s| match s {
            crate::state::State::Fixed { start_ms, count } => (start_ms, count),
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn ten_allowed_then_denied_until_the_window_ends() {
        let mut state = None;
        let t0 = 1_000_000;
        for i in 1..=10 {
            let d = decide(state, L, 1, t0 + i);
            assert!(d.outcome.allowed);
            assert_eq!(d.outcome.remaining, 10 - i);
            assert_eq!(d.outcome.reset_after_ms, 60_001 - i);
            assert_eq!(d.update.as_ref().unwrap().expire_at_ms, t0 + 60_000 + 1);
            state = stored(&d);
        }
        let d = decide(state, L, 1, t0 + 30_001);
        assert!(!d.outcome.allowed);
        assert_eq!(d.outcome.remaining, 0);
        assert_eq!(d.outcome.retry_after_ms, 30_000);
        assert_eq!(d.outcome.reset_after_ms, 30_000);
        assert_eq!(d.update, None);
        // The window is anchored at the first request: it ends at t0 + 1 + 60 s.
        let d = decide(state, L, 1, t0 + 60_001);
        assert!(d.outcome.allowed);
        assert_eq!(d.outcome.remaining, 9);
        assert_eq!(stored(&d), Some((t0 + 60_001, 1)));
    }

    #[test]
    fn cost_zero_counts_nothing_and_writes_nothing() {
        let d = decide(None, L, 0, 5);
        assert!(d.outcome.allowed);
        assert_eq!((d.outcome.remaining, d.outcome.reset_after_ms), (10, 0));
        assert_eq!(d.update, None);
        let d = decide(Some((0, 4)), L, 0, 5);
        assert_eq!((d.outcome.remaining, d.outcome.reset_after_ms), (6, 59_995));
        assert_eq!(d.update, None);
    }

    #[test]
    fn cost_above_the_limit_never_passes() {
        let d = decide(None, L, 11, 5);
        assert!(!d.outcome.allowed);
        assert_eq!(d.outcome.retry_after_ms, -1);
        assert_eq!((d.outcome.remaining, d.outcome.reset_after_ms), (10, 0));
        assert_eq!(d.update, None);
        // A cost that does not fit what is left waits for the window's end.
        let d = decide(Some((0, 5)), L, 6, 1_000);
        assert_eq!(
            (d.outcome.allowed, d.outcome.retry_after_ms),
            (false, 59_000)
        );
    }

    #[test]
    fn lowering_the_limit_takes_effect_at_once() {
        let lower = Limit { limit: 3, ..L };
        let d = decide(Some((0, 5)), lower, 1, 1_000);
        assert!(!d.outcome.allowed);
        assert_eq!(d.outcome.remaining, 0);
        assert_eq!(d.outcome.limit, 3);
    }

    #[test]
    fn shortening_the_window_takes_effect_at_once() {
        // Started at 0 with a one-hour window; now the window is one minute.
        let minute = Limit {
            limit: 10,
            window_ms: 60_000,
        };
        let d = decide(Some((0, 10)), minute, 1, 30_000);
        assert_eq!(
            (d.outcome.allowed, d.outcome.retry_after_ms),
            (false, 30_000)
        );
        let d = decide(Some((0, 10)), minute, 1, 60_000);
        assert!(d.outcome.allowed);
    }

    #[test]
    fn a_clock_stepping_backwards_keeps_the_count_and_bounds_the_wait() {
        let d = decide(Some((500_000, 10)), L, 1, 100_000);
        assert!(!d.outcome.allowed);
        assert_eq!(d.outcome.retry_after_ms, 60_000);
        assert_eq!(d.outcome.reset_after_ms, 60_000);
    }

    #[test]
    fn extreme_inputs_do_not_overflow() {
        let big = Limit {
            limit: crate::args::MAX_LIMIT,
            window_ms: crate::args::MAX_WINDOW_MS,
        };
        for state in [
            None,
            Some((u64::MAX, u64::MAX)),
            Some((0, crate::state::U48_MAX)),
        ] {
            for now in [0, 1, u64::MAX / 2, u64::MAX] {
                for cost in [0, 1, crate::args::MAX_LIMIT] {
                    let d = decide(state, big, cost, now);
                    assert!(d.outcome.retry_after_ms >= -1);
                    assert!(d.outcome.reset_after_ms <= big.window_ms);
                }
            }
        }
    }
}
