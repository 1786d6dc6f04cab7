//! SLIDING: the sliding-window counter. Windows of length W are anchored at the key's
//! first counted request; the state keeps the current window's start, the previous
//! window's count and the current count (O(1) state).
//!
//! At elapsed time e into the current window, the previous window's count is weighted
//! by the part of it still inside the last W: `used = ceil(prev * (W - e) / W) + cur`.
//! A request of cost c passes when `used + c <= limit`.
//!
//! Error bound (the price of O(1) state): every window of the anchored grid admits at
//! most `limit`, and any interval of length W admits at most `2 * limit` (reached only
//! when the previous window's requests all came at its very end).

use std::cmp::Ordering;

use super::{Decision, Outcome, Update, Value};
use crate::args::Limit;
use crate::state::{encode_sliding, U48_MAX};

/// The stored windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    pub start_ms: u64,
    pub prev: u64,
    pub cur: u64,
}

/// `ceil(prev * (w - e) / w)`: the previous window's count still inside the last W.
fn carried(prev: u64, w: u64, e: u64) -> u64 {
    let num = u128::from(prev) * u128::from(w.saturating_sub(e));
    num.div_ceil(u128::from(w)) as u64
}

/// Smallest elapsed time e in [0, w] at which `carried(prev, w, e) <= allowance`.
fn first_fit(prev: u64, w: u64, allowance: u64) -> u64 {
    if prev <= allowance {
        return 0;
    }
    // prev * (w - e) <= allowance * w  <=>  w - e <= floor(allowance * w / prev)
    let slack = (u128::from(allowance) * u128::from(w) / u128::from(prev)) as u64;
    w - slack.min(w)
}

/// The windows as they stand at `now`: rolled forward, or fresh.
fn current(state: Option<Windows>, w: u64, now: u64) -> Windows {
    let fresh = Windows {
        start_ms: now,
        prev: 0,
        cur: 0,
    };
    let Some(s) = state else { return fresh };
    // A clock that stepped backwards puts the start in the future: take the window as
    // starting now, keeping its counts (never more than one window's extra wait).
    let start = s.start_ms.min(now);
    match (now - start) / w {
        0 => Windows {
            start_ms: start,
            ..s
        },
        1 => Windows {
            start_ms: start + w,
            prev: s.cur,
            cur: 0,
        },
        // Everything has slid out: the state is full again, as if the key had expired.
        _ => fresh,
    }
}

pub fn decide(state: Option<Windows>, limit: Limit, cost: u64, now: u64) -> Decision {
    let w = limit.window_ms;
    let cap = limit.limit;
    let win = current(state, w, now);
    let e = now - win.start_ms;
    let used = carried(win.prev, w, e).saturating_add(win.cur);
    // The state is full again once the current count has slid out of the next window,
    // or, with nothing counted here, once the previous count has slid out of this one.
    let reset_at = |cur: u64| {
        if cur > 0 {
            win.start_ms.saturating_add(2 * w)
        } else if win.prev > 0 {
            win.start_ms.saturating_add(w)
        } else {
            now
        }
    };
    if cost <= cap && used.saturating_add(cost) <= cap {
        let cur = win.cur + cost;
        let reset = reset_at(cur);
        return Decision {
            outcome: Outcome {
                allowed: true,
                limit: cap,
                remaining: cap - used - cost,
                retry_after_ms: 0,
                reset_after_ms: reset - now,
            },
            update: (cost > 0).then(|| Update {
                value: Value::Inline(encode_sliding(win.start_ms, win.prev, cur)),
                expire_at_ms: reset,
            }),
        };
    }
    let retry_after_ms = if cost > cap {
        -1
    } else if win.cur.saturating_add(cost) <= cap {
        // Passes within this window, once enough of the previous count has slid out.
        (win.start_ms + first_fit(win.prev, w, cap - win.cur - cost) - now) as i64
    } else {
        // Needs the next window, where this window's count is the one sliding out.
        (win.start_ms + w + first_fit(win.cur, w, cap - cost) - now) as i64
    };
    Decision {
        outcome: Outcome {
            allowed: false,
            limit: cap,
            remaining: cap.saturating_sub(used),
            retry_after_ms,
            reset_after_ms: reset_at(win.cur) - now,
        },
        update: None,
    }
}

/// CHARGE (see `algorithm::charge`): a positive amount counts into the current
/// window whatever it holds (debt fades as its weight does), a negative one gives back
/// up to the current window's count, never the previous window's. `None`: no change.
pub fn charge(state: Option<Windows>, limit: Limit, amount: i64, now: u64) -> Option<Update> {
    let w = limit.window_ms;
    let win = current(state, w, now);
    let cur = match amount.cmp(&0) {
        Ordering::Greater => win.cur.saturating_add(amount.unsigned_abs()).min(U48_MAX),
        Ordering::Less => win.cur - amount.unsigned_abs().min(win.cur),
        Ordering::Equal => return None,
    };
    if cur == win.cur {
        return None;
    }
    if cur == 0 && win.prev == 0 {
        return Some(Update::gone(now));
    }
    let reset = if cur > 0 {
        win.start_ms.saturating_add(2 * w)
    } else {
        win.start_ms.saturating_add(w)
    };
    Some(Update {
        value: Value::Inline(encode_sliding(win.start_ms, win.prev, cur)),
        expire_at_ms: reset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limit = Limit {
        limit: 4,
        window_ms: 400,
    };

    fn windows(d: &Decision) -> Option<Windows> {
        d.written().map(|s| match s {
            crate::state::State::Sliding {
                start_ms,
                prev,
                cur,
            } => Windows {
                start_ms,
                prev,
                cur,
            },
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn previous_window_still_counts_just_after_it_ends() {
        let mut state = None;
        for t in [0, 10, 20, 30] {
            let d = decide(state, L, 1, t);
            assert!(d.outcome.allowed);
            state = windows(&d);
        }
        // Just after the first window ends, the previous 4 still weigh ~4: denied,
        // where a fixed window would allow.
        let d = decide(state, L, 1, 405);
        assert!(!d.outcome.allowed);
        // ceil(4 * (400 - e) / 400) <= 3 once e >= 100: at 500.
        assert_eq!(d.outcome.retry_after_ms, 95);
        assert!(!decide(state, L, 1, 499).outcome.allowed);
        let d = decide(state, L, 1, 500);
        assert!(d.outcome.allowed);
        assert_eq!(d.outcome.remaining, 0);
        // Once the old window has slid out entirely, all 4 are back.
        assert_eq!(decide(state, L, 1, 800).outcome.remaining, 3);
    }

    #[test]
    fn retry_after_is_exact() {
        let cases = [
            Windows {
                start_ms: 1000,
                prev: 4,
                cur: 0,
            },
            Windows {
                start_ms: 1000,
                prev: 3,
                cur: 1,
            },
            Windows {
                start_ms: 1000,
                prev: 0,
                cur: 4,
            },
            Windows {
                start_ms: 1000,
                prev: 4,
                cur: 4,
            },
        ];
        for state in cases {
            for cost in 1..=4 {
                for now in [1000, 1100, 1399] {
                    let d = decide(Some(state), L, cost, now);
                    if d.outcome.allowed {
                        continue;
                    }
                    let at = now + d.outcome.retry_after_ms as u64;
                    assert!(
                        decide(Some(state), L, cost, at).outcome.allowed,
                        "{state:?} cost {cost} at {at}"
                    );
                    assert!(
                        !decide(Some(state), L, cost, at - 1).outcome.allowed,
                        "{state:?} cost {cost} before {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn expiry_is_when_the_count_has_slid_out() {
        let d = decide(None, L, 1, 1000);
        assert_eq!(d.update.as_ref().unwrap().expire_at_ms, 1800);
        assert_eq!(d.outcome.reset_after_ms, 800);
        let state = windows(&d);
        // In the next window nothing is counted yet: full again at 1800.
        let d = decide(state, L, 0, 1500);
        assert_eq!(d.outcome.reset_after_ms, 300);
        assert_eq!(d.update, None);
    }

    #[test]
    fn cost_above_the_limit_never_passes() {
        let d = decide(None, L, 5, 0);
        assert_eq!(
            (
                d.outcome.allowed,
                d.outcome.retry_after_ms,
                d.outcome.reset_after_ms
            ),
            (false, -1, 0)
        );
    }
}
