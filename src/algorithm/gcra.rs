//! GCRA, the generic cell rate algorithm: a token bucket kept as one timestamp, the
//! theoretical arrival time (TAT). `limit` per `window` is the steady rate, `BURST`
//! the capacity.
//!
//! Time is kept in nanoseconds, so rates far above 1000 per second are exact: the
//! emission interval T is `window / limit` rounded up to a whole nanosecond (the rate
//! is never exceeded; at 100,000 per second T is exactly 10 µs). A request of cost c
//! passes when `max(TAT, now) + c*T <= now + BURST*T`, and then moves the TAT there.
//! The bucket is full again, and the key expires, at the TAT.

use std::cmp::Ordering;

use super::{Decision, Outcome, Update, Value};
use crate::args::Limit;
use crate::state::encode_gcra;

const NS_PER_MS: u64 = 1_000_000;

/// The rate and capacity of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Emission interval T, in ns (at least 1).
    pub interval_ns: u64,
    /// Capacity, in requests.
    pub burst: u64,
    /// The most debt a key carries beyond an empty bucket: one window, in ns.
    pub debt_ns: u64,
}

impl Params {
    pub fn new(limit: Limit, burst: u64) -> Params {
        let window_ns = u128::from(limit.window_ms) * u128::from(NS_PER_MS);
        let interval = window_ns.div_ceil(u128::from(limit.limit.max(1))).max(1);
        Params {
            interval_ns: u64::try_from(interval).unwrap_or(u64::MAX),
            burst: burst.max(1),
            debt_ns: u64::try_from(window_ns).unwrap_or(u64::MAX),
        }
    }

    /// The latest arrival time a key may hold at `now`: an empty bucket (`now` plus the
    /// capacity) and one window of debt beyond it. Only CHARGE goes past the capacity;
    /// a later time can only come from a clock that stepped backwards, and is taken as
    /// this one, so the wait never exceeds a window beyond a refill.
    fn ceiling(self, now: u64) -> u64 {
        now.saturating_add(self.span(self.burst))
            .saturating_add(self.debt_ns)
    }

    /// `n * T` in ns, saturating (n is at most 10^12 and T at most 3.2e20 / 1).
    fn span(self, n: u64) -> u64 {
        u64::try_from(u128::from(n) * u128::from(self.interval_ns)).unwrap_or(u64::MAX)
    }
}

/// Milliseconds from ns, rounded up: a client that waits this long is never early.
fn ms_ceil(ns: u64) -> u64 {
    ns.div_ceil(NS_PER_MS)
}

pub fn decide(tat: Option<u64>, p: Params, cost: u64, now: u64) -> Decision {
    let tolerance = p.span(p.burst);
    let horizon = now.saturating_add(tolerance);
    // A TAT beyond now + capacity is debt (CHARGE); beyond that and a window, a clock
    // that stepped backwards (see `Params::ceiling`).
    let tat = tat.unwrap_or(now).clamp(now, p.ceiling(now));
    let remaining_at = |t: u64| horizon.saturating_sub(t) / p.interval_ns;
    // Past the end of the u64 nanosecond clock (a capacity of more than 584 years, or
    // a clock in the year 2554) no arrival time can be kept: such a request never
    // passes, as `remaining` (what fits under that end) says.
    let new_tat = u64::try_from(u128::from(cost) * u128::from(p.interval_ns))
        .ok()
        .and_then(|span| tat.checked_add(span));
    if let Some(new_tat) = new_tat.filter(|&t| cost <= p.burst && t <= horizon) {
        return Decision {
            outcome: Outcome {
                allowed: true,
                limit: p.burst,
                remaining: remaining_at(new_tat).min(p.burst),
                retry_after_ms: 0,
                reset_after_ms: ms_ceil(new_tat - now),
            },
            update: (cost > 0).then(|| Update {
                value: Value::Inline(encode_gcra(new_tat)),
                expire_at_ms: new_tat.div_ceil(NS_PER_MS),
            }),
        };
    }
    Decision {
        outcome: Outcome {
            allowed: false,
            limit: p.burst,
            remaining: remaining_at(tat).min(p.burst),
            retry_after_ms: match new_tat {
                Some(t) if cost <= p.burst => ms_ceil(t - horizon) as i64,
                _ => -1,
            },
            reset_after_ms: ms_ceil(tat - now),
        },
        update: None,
    }
}

/// CHARGE (see `algorithm::charge`): a positive amount moves the arrival time later
/// by that many intervals, whatever it was (past the capacity is debt, up to one
/// window: `Params::ceiling`), a negative one moves it earlier, never before now.
/// `None`: no change.
pub fn charge(tat: Option<u64>, p: Params, amount: i64, now: u64) -> Option<Update> {
    let ceiling = p.ceiling(now);
    let tat = tat.unwrap_or(now).clamp(now, ceiling);
    let moved = match amount.cmp(&0) {
        Ordering::Greater => tat
            .saturating_add(p.span(amount.unsigned_abs()))
            .min(ceiling),
        Ordering::Less => tat.saturating_sub(p.span(amount.unsigned_abs())).max(now),
        Ordering::Equal => return None,
    };
    if moved == tat {
        return None;
    }
    if moved == now {
        return Some(Update::gone(now / NS_PER_MS));
    }
    Some(Update {
        value: Value::Inline(encode_gcra(moved)),
        expire_at_ms: moved.div_ceil(NS_PER_MS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: u64, window_ms: u64, burst: u64) -> Params {
        Params::new(Limit { limit, window_ms }, burst)
    }

    fn tat(d: &Decision) -> Option<u64> {
        d.written().map(|s| match s {
            crate::state::State::Gcra { tat_ns } => tat_ns,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn bursts_to_capacity_then_one_token_per_interval() {
        let p = params(10, 1000, 10);
        assert_eq!(p.interval_ns, 100 * NS_PER_MS);
        let t0 = 1_000 * NS_PER_MS;
        let mut state = None;
        for i in 1..=10 {
            let d = decide(state, p, 1, t0);
            assert!(d.outcome.allowed, "request {i}");
            assert_eq!(d.outcome.remaining, 10 - i);
            state = tat(&d).or(state);
        }
        let d = decide(state, p, 1, t0);
        assert!(!d.outcome.allowed);
        assert_eq!(d.outcome.retry_after_ms, 100);
        assert_eq!(d.outcome.reset_after_ms, 1000);
        assert!(!decide(state, p, 1, t0 + 99 * NS_PER_MS).outcome.allowed);
        let d = decide(state, p, 1, t0 + 100 * NS_PER_MS);
        assert!(d.outcome.allowed);
        assert_eq!(d.outcome.remaining, 0);
    }

    #[test]
    fn burst_sets_the_capacity() {
        let p = params(10, 1000, 2);
        let d1 = decide(None, p, 1, 0);
        let d2 = decide(tat(&d1), p, 1, 0);
        let d3 = decide(tat(&d2), p, 1, 0);
        assert_eq!(
            (d1.outcome.allowed, d2.outcome.allowed, d3.outcome.allowed),
            (true, true, false)
        );
        assert_eq!(d1.outcome.limit, 2);
    }

    #[test]
    fn sub_millisecond_intervals_are_exact() {
        // 100,000 per second: T = 10 µs.
        let p = params(100_000, 1000, 10);
        assert_eq!(p.interval_ns, 10_000);
        let mut state = None;
        let mut allowed = 0;
        // 200 requests, 1 µs apart: 10 from the burst, then one per 10 µs.
        for i in 0..200u64 {
            let d = decide(state, p, 1, 1_000_000_000 + i * 1_000);
            if d.outcome.allowed {
                allowed += 1;
                state = tat(&d);
            }
        }
        assert_eq!(allowed, 10 + 19);
    }

    #[test]
    fn expiry_is_the_tat_rounded_up_to_a_millisecond() {
        let p = params(3, 1000, 3);
        let d = decide(None, p, 1, 5 * NS_PER_MS);
        let t = tat(&d).unwrap();
        assert_eq!(t, 5 * NS_PER_MS + 333_333_334);
        assert_eq!(d.update.unwrap().expire_at_ms, 339);
        assert_eq!(d.outcome.reset_after_ms, 334);
    }

    /// Where the bucket's depth passes the end of the u64 clock, a CHECK passes exactly
    /// when PEEK's `remaining` says it fits (limit 38145 per 8,807,891,969 ms with
    /// BURST 7.5e11: about 73 million remain, and a cost of 4.3e9 never passes).
    #[test]
    fn past_the_end_of_the_clock_check_and_peek_agree() {
        let p = params(38_145, 8_807_891_969, 750_000_000_000);
        let now = 1_700_000_000_000 * NS_PER_MS;
        let left = decide(None, p, 0, now).outcome.remaining;
        assert_eq!(left, (u64::MAX - now) / p.interval_ns);
        let fits = decide(None, p, left, now);
        assert!(fits.outcome.allowed);
        assert_eq!(fits.outcome.remaining, 0);
        let over = decide(None, p, left + 1, now).outcome;
        assert!(!over.allowed);
        assert_eq!((over.remaining, over.retry_after_ms), (left, -1));
        assert!(!decide(None, p, 4_300_000_000, now).outcome.allowed);
        // And at the end of the clock itself.
        let late = u64::MAX - 5 * p.interval_ns;
        assert_eq!(decide(None, p, 0, late).outcome.remaining, 5);
        assert!(decide(None, p, 5, late).outcome.allowed);
        assert!(!decide(None, p, 6, late).outcome.allowed);
    }

    #[test]
    fn cost_above_capacity_never_passes() {
        let d = decide(None, params(10, 1000, 5), 6, 0);
        assert_eq!((d.outcome.allowed, d.outcome.retry_after_ms), (false, -1));
        assert_eq!(d.outcome.remaining, 5);
    }
}
