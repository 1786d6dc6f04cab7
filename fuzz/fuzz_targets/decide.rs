//! One key, a sequence of calls: arbitrary stored bytes to start from, arbitrary
//! limits, windows, bursts, costs and charges (CHARGE, either sign), and a clock that
//! may jump either way. Deciding and charging never panic, the reply is within its
//! bounds, and what is stored decodes.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use redis_ratelimit::algorithm::{charge, decide, peek, Now, Value};
use redis_ratelimit::args::{Algorithm, Limit, Options, MAX_LIMIT, MAX_LOG_LIMIT, MAX_WINDOW_MS};
use redis_ratelimit::state;

#[derive(Arbitrary, Debug)]
struct Call {
    limit: u64,
    window_ms: u64,
    burst: Option<u64>,
    cost: u64,
    /// A CHARGE of this amount (within its bounds) instead of a check.
    charge: Option<i64>,
    /// Signed step of the clock, in ns, from the previous call.
    step_ns: i64,
}

#[derive(Arbitrary, Debug)]
struct Input {
    initial: Vec<u8>,
    algorithm: u8,
    start_ns: u64,
    calls: Vec<Call>,
}

fuzz_target!(|input: Input| {
    let algorithm = Algorithm::ALL[usize::from(input.algorithm) % 4];
    let mut stored = input.initial;
    let mut now = input.start_ns;
    for call in input.calls.iter().take(64) {
        let max_limit = if algorithm == Algorithm::Log {
            MAX_LOG_LIMIT
        } else {
            MAX_LIMIT
        };
        let limit = Limit {
            limit: call.limit % max_limit + 1,
            window_ms: call.window_ms % MAX_WINDOW_MS + 1,
        };
        let options = Options {
            algorithm,
            burst: call
                .burst
                .filter(|_| algorithm == Algorithm::Gcra)
                .map(|b| b % MAX_LIMIT + 1),
            cost: call.cost % (MAX_LIMIT + 1),
        };
        now = now.saturating_add_signed(call.step_ns);
        let clock = Now::from_ns(now);
        let current = state::decode(&stored).ok();
        if let Some(amount) = call.charge {
            let amount = amount % (MAX_LIMIT as i64 + 1);
            let Ok(d) = charge(current, limit, &options, amount, clock) else {
                assert!(current.is_some_and(|s| s.algorithm() != algorithm));
                return;
            };
            assert!(d.outcome.allowed, "CHARGE never denies");
            assert!(d.outcome.remaining <= options.burst.unwrap_or(limit.limit));
            // -1 only where a GCRA arrival time has reached the end of the u64 clock:
            // no request passes before that.
            assert!(
                d.outcome.retry_after_ms >= 0
                    || (algorithm == Algorithm::Gcra && d.outcome.retry_after_ms == -1)
            );
            if let Some(update) = d.update {
                assert!(amount != 0, "CHARGE 0 writes nothing");
                stored = match update.value {
                    Value::Gone => Vec::new(),
                    _ => {
                        let bytes = update.value.as_bytes();
                        assert_eq!(state::decode(bytes).map(|s| s.algorithm()), Ok(algorithm));
                        if algorithm == Algorithm::Log {
                            // A charge keeps at most `limit` entries; a refund only
                            // removes some (the log may hold more after the limit was
                            // lowered).
                            let entries = (bytes.len() - 1) / 6;
                            let before = stored.len().saturating_sub(1) / 6;
                            let bound = if amount > 0 {
                                limit.limit as usize
                            } else {
                                before
                            };
                            assert!(entries <= bound, "bounded: {entries} > {bound}");
                        }
                        bytes.to_vec()
                    }
                };
            }
            continue;
        }
        let Ok(d) = decide(current, limit, &options, clock) else {
            // Another algorithm's state: refused, never misread.
            assert!(current.is_some_and(|s| s.algorithm() != algorithm));
            return;
        };
        let o = d.outcome;
        let capacity = options.burst.unwrap_or(limit.limit);
        assert_eq!(o.limit, capacity);
        assert!(o.remaining <= capacity);
        assert!(o.retry_after_ms >= -1);
        if o.allowed {
            assert_eq!(o.retry_after_ms, 0);
        } else {
            assert!(d.update.is_none(), "a denied call writes nothing");
            assert!(o.retry_after_ms != 0);
        }
        // PEEK is the state before the call (a CHECK of cost 0): an allowed CHECK
        // leaves exactly `cost` fewer units, a denied one the state as it was. Over
        // the whole accepted range and the whole clock: where a GCRA bucket is deeper
        // than the u64 nanoseconds left, both count what fits before their end.
        let p = peek(current, limit, &options, clock).expect("peek agrees with decide");
        let counted = if o.allowed { options.cost } else { 0 };
        assert_eq!(
            p.remaining,
            o.remaining + counted,
            "{current:?} {limit:?} {options:?}"
        );
        // And a request of cost 1 or more passes exactly when PEEK says it fits.
        if options.cost > 0 {
            assert_eq!(
                o.allowed,
                options.cost <= p.remaining,
                "{current:?} {limit:?} {options:?} at {now}"
            );
        }
        if let Some(update) = d.update {
            assert!(o.allowed && options.cost > 0);
            assert!(update.expire_at_ms >= clock.ms(), "expiry in the past");
            let bytes = update.value.as_bytes();
            assert_eq!(state::decode(bytes).map(|s| s.algorithm()), Ok(algorithm));
            stored = bytes.to_vec();
        }
    }
});
