//! LOG: the exact sliding log. The state keeps the timestamp (ms) of every counted
//! unit still inside the window, oldest first, so no interval of length W ever admits
//! more than `limit`. State is O(limit): 6 bytes per entry, with `limit` capped at
//! `MAX_LOG_LIMIT`.
//!
//! A call reads O(log n) entries: the live ones are a suffix of the sorted log, found
//! by binary search, and the one that decides a retry time is found by its index. The
//! script library (`lua/ratelimit.lua`) searches the same way, probe for probe.

use std::cmp::Ordering;

use super::{Decision, Outcome, Update, Value};
use crate::args::Limit;
use crate::state::{encode_log_into, log_len, LogEntries};

/// Stored timestamps (ms), oldest first, read by index.
pub trait Entries {
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> u64;
}

impl Entries for LogEntries<'_> {
    fn len(&self) -> usize {
        LogEntries::len(self)
    }

    fn get(&self, i: usize) -> u64 {
        LogEntries::get(self, i)
    }
}

impl Entries for [u64] {
    fn len(&self) -> usize {
        <[u64]>::len(self)
    }

    fn get(&self, i: usize) -> u64 {
        self[i]
    }
}

/// Index of the first live entry: one inside (now - W, now]. Entries from a clock that
/// stepped backwards (after now) are live, and taken as made now.
fn first_live(stored: &(impl Entries + ?Sized), w: u64, now: u64) -> usize {
    let (mut lo, mut hi) = (0, stored.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if stored.get(mid).saturating_add(w) <= now {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `stored`: the entries as stored, oldest first.
pub fn decide(stored: &(impl Entries + ?Sized), limit: Limit, cost: u64, now: u64) -> Decision {
    let w = limit.window_ms;
    let cap = limit.limit;
    let total = stored.len();
    let first = first_live(stored, w, now);
    let n = (total - first) as u64;
    let at = |i: usize| stored.get(i).min(now);
    let reset = if n > 0 { at(total - 1) + w - now } else { 0 };
    if cost <= cap && n.saturating_add(cost) <= cap {
        let update = (cost > 0).then(|| {
            let mut bytes = vec![0u8; log_len((n + cost) as usize)];
            encode_log_into(&mut bytes, (first..total).map(at), cost as usize, now);
            Update {
                value: Value::Heap(bytes),
                expire_at_ms: now + w,
            }
        });
        return Decision {
            outcome: Outcome {
                allowed: true,
                limit: cap,
                remaining: cap - n - cost,
                retry_after_ms: 0,
                reset_after_ms: if cost > 0 { w } else { reset },
            },
            update,
        };
    }
    // To pass, the oldest n + cost - limit live entries must leave the window; the
    // last of them leaves at its timestamp + W.
    let retry_after_ms = if cost > cap {
        -1
    } else {
        let must_leave = (n + cost - cap) as usize;
        (at(first + must_leave - 1) + w - now) as i64
    };
    Decision {
        outcome: Outcome {
            allowed: false,
            limit: cap,
            remaining: cap.saturating_sub(n),
            retry_after_ms,
            reset_after_ms: reset,
        },
        update: None,
    }
}

/// CHARGE (see `algorithm::charge`). A positive amount adds that many entries of now,
/// whatever the count; only the newest `limit` entries decide any request up to the
/// limit (one of cost c passes once the (limit - c + 1)-th newest has left the window),
/// so the log keeps just those and stays bounded, at the price that a later refund
/// cannot bring back what a charge pushed out. A negative amount removes the newest
/// live entries. `None`: no change.
pub fn charge(
    stored: &(impl Entries + ?Sized),
    limit: Limit,
    amount: i64,
    now: u64,
) -> Option<Update> {
    let w = limit.window_ms;
    let cap = limit.limit as usize;
    let total = stored.len();
    let first = first_live(stored, w, now);
    let n = total - first;
    let at = |i: usize| stored.get(i).min(now);
    let (from, kept, added) = match amount.cmp(&0) {
        Ordering::Greater => {
            let added = amount.unsigned_abs().min(cap as u64) as usize;
            let kept = n.min(cap - added);
            (total - kept, kept, added)
        }
        Ordering::Less => {
            let back = amount.unsigned_abs().min(n as u64) as usize;
            if back == 0 {
                return None;
            }
            (first, n - back, 0)
        }
        Ordering::Equal => return None,
    };
    if kept + added == 0 {
        return Some(Update::gone(now));
    }
    let mut bytes = vec![0u8; log_len(kept + added)];
    encode_log_into(&mut bytes, (from..from + kept).map(at), added, now);
    let newest = if added > 0 { now } else { at(from + kept - 1) };
    Some(Update {
        value: Value::Heap(bytes),
        expire_at_ms: newest + w,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limit = Limit {
        limit: 3,
        window_ms: 500,
    };

    fn entries(d: &Decision) -> Vec<u64> {
        match d.written().expect("an update") {
            crate::state::State::Log(e) => e.iter().collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_oldest_slot_frees_exactly_one_window_after_it_was_taken() {
        let d = decide(&[][..], L, 1, 1000);
        let log = entries(&d);
        let d = decide(&log[..], L, 2, 1200);
        let log = entries(&d);
        assert_eq!(log, [1000, 1200, 1200]);
        let d = decide(&log[..], L, 1, 1499);
        assert_eq!((d.outcome.allowed, d.outcome.retry_after_ms), (false, 1));
        let d = decide(&log[..], L, 1, 1500);
        assert!(d.outcome.allowed);
        let log = entries(&d);
        assert_eq!(log, [1200, 1200, 1500]);
        let d = decide(&log[..], L, 1, 1500);
        assert!(!d.outcome.allowed);
        // Points at the next oldest entry, taken at 1200.
        assert_eq!(d.outcome.retry_after_ms, 200);
        assert_eq!(d.outcome.reset_after_ms, 500);
    }

    #[test]
    fn cost_takes_several_slots_and_waits_for_enough_to_leave() {
        let log = [100u64, 200, 300];
        let d = decide(&log[..], L, 2, 400);
        assert_eq!((d.outcome.allowed, d.outcome.retry_after_ms), (false, 300));
        let d = decide(&log[..], L, 4, 400);
        assert_eq!(d.outcome.retry_after_ms, -1);
    }

    #[test]
    fn expired_entries_are_dropped_on_write() {
        let d = decide(&[0u64, 10][..], L, 1, 505);
        assert_eq!(entries(&d), [10, 505]);
        assert_eq!(d.update.unwrap().expire_at_ms, 1005);
    }
}
