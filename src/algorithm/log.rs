//! LOG: the exact sliding log. The state keeps the timestamp (ms) of every counted
//! unit still inside the window, oldest first, so no interval of length W ever admits
//! more than `limit`. State is O(limit): 6 bytes per entry, with `limit` capped at
//! `MAX_LOG_LIMIT`.

use super::{Decision, Outcome, Update, Value};
use crate::args::Limit;
use crate::state::{encode_log_into, log_len};

/// `stored`: the entries as stored, oldest first.
pub fn decide(
    stored: impl DoubleEndedIterator<Item = u64> + ExactSizeIterator + Clone,
    limit: Limit,
    cost: u64,
    now: u64,
) -> Decision {
    let w = limit.window_ms;
    let cap = limit.limit;
    // An entry is live while it is inside (now - W, now]. Entries from a clock that
    // stepped backwards are taken as made now: kept, and gone within one window.
    let live = stored
        .map(|ts| ts.min(now))
        .filter(|&ts| ts.saturating_add(w) > now);
    let n = live.clone().count() as u64;
    let newest = live.clone().next_back();
    let reset = |newest: Option<u64>| newest.map_or(0, |ts| ts + w - now);
    if cost <= cap && n.saturating_add(cost) <= cap {
        let update = (cost > 0).then(|| {
            let total = (n + cost) as usize;
            let mut bytes = vec![0u8; log_len(total)];
            encode_log_into(&mut bytes, live.clone(), cost as usize, now);
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
                reset_after_ms: if cost > 0 { w } else { reset(newest) },
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
        live.clone()
            .nth(must_leave - 1)
            .map_or(0, |ts| (ts + w - now) as i64)
    };
    Decision {
        outcome: Outcome {
            allowed: false,
            limit: cap,
            remaining: cap.saturating_sub(n),
            retry_after_ms,
            reset_after_ms: reset(newest),
        },
        update: None,
    }
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
        let d = decide(std::iter::empty(), L, 1, 1000);
        let log = entries(&d);
        let d = decide(log.clone().into_iter(), L, 2, 1200);
        let log = entries(&d);
        assert_eq!(log, [1000, 1200, 1200]);
        let d = decide(log.clone().into_iter(), L, 1, 1499);
        assert_eq!((d.outcome.allowed, d.outcome.retry_after_ms), (false, 1));
        let d = decide(log.clone().into_iter(), L, 1, 1500);
        assert!(d.outcome.allowed);
        let log = entries(&d);
        assert_eq!(log, [1200, 1200, 1500]);
        let d = decide(log.clone().into_iter(), L, 1, 1500);
        assert!(!d.outcome.allowed);
        // Points at the next oldest entry, taken at 1200.
        assert_eq!(d.outcome.retry_after_ms, 200);
        assert_eq!(d.outcome.reset_after_ms, 500);
    }

    #[test]
    fn cost_takes_several_slots_and_waits_for_enough_to_leave() {
        let log = [100u64, 200, 300];
        let d = decide(log.into_iter(), L, 2, 400);
        assert_eq!((d.outcome.allowed, d.outcome.retry_after_ms), (false, 300));
        let d = decide(log.into_iter(), L, 4, 400);
        assert_eq!(d.outcome.retry_after_ms, -1);
    }

    #[test]
    fn expired_entries_are_dropped_on_write() {
        let d = decide([0u64, 10].into_iter(), L, 1, 505);
        assert_eq!(entries(&d), [10, 505]);
        assert_eq!(d.update.unwrap().expire_at_ms, 1005);
    }
}
