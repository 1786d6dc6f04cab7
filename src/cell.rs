//! redis-cell compatibility: `CL.THROTTLE key max_burst count_per_period period [quantity]`
//! read as a GCRA request, and the GCRA outcome written back in redis-cell's reply shape.
//!
//! redis-cell's meaning: `count_per_period` per `period` seconds is the steady rate, and
//! the bucket holds `max_burst + 1` requests. Its reply is
//! `[limited, limit, remaining, retry_after_s, reset_after_s]`: `limited` is 1 when the
//! request was refused (the opposite of our `allowed`), `limit` is `max_burst + 1`,
//! `retry_after_s` is -1 when allowed (and when the request can never pass), and both
//! times are whole seconds rounded up, so a client that waits that long is never early.
//!
//! Pure: no Redis types, so the mapping is tested against redis-cell's own published
//! scenario without a server.

use crate::algorithm::Outcome;
use crate::args::{
    in_range, parse_amount, Algorithm, ArgError, Limit, Options, Request, MAX_LIMIT, MAX_WINDOW_MS,
};

/// What one `CL.THROTTLE` asks for: a request, or with a negative quantity a refund
/// of that many units (`RATELIMIT.CHARGE` with a negative amount).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle<'a> {
    /// The equivalent `RATELIMIT.CHECK ... ALGORITHM GCRA` request (cost 0 for a refund).
    pub request: Request<'a>,
    /// Units to give back, for a negative quantity.
    pub refund: Option<u64>,
}

/// Parses `key max_burst count_per_period period [quantity]` (the arguments after the
/// command name).
pub fn parse_throttle<'a>(args: &[&'a [u8]]) -> Result<Throttle<'a>, ArgError> {
    let (key, max_burst, count, period, quantity) = match *args {
        [key, max_burst, count, period] => (key, max_burst, count, period, None),
        [key, max_burst, count, period, quantity] => {
            (key, max_burst, count, period, Some(quantity))
        }
        _ => return Err(ArgError::WrongArity),
    };
    let max_burst = in_range(max_burst, 0, MAX_LIMIT - 1, ArgError::MaxBurst)?;
    let count = in_range(count, 1, MAX_LIMIT, ArgError::CountPerPeriod)?;
    let period = in_range(period, 1, MAX_WINDOW_MS / 1000, ArgError::Period)?;
    let quantity = match quantity {
        Some(q) => parse_amount(q).ok_or(ArgError::Quantity)?,
        None => 1,
    };
    let request = Request {
        key,
        limit: Limit {
            limit: count,
            window_ms: period * 1000,
        },
        options: Options {
            algorithm: Algorithm::Gcra,
            burst: Some(max_burst + 1),
            cost: quantity.max(0).unsigned_abs(),
        },
    };
    Ok(Throttle {
        request,
        refund: (quantity < 0).then_some(quantity.unsigned_abs()),
    })
}

fn seconds_ceil(ms: u64) -> i64 {
    i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// redis-cell's five integers for an outcome of the request `parse_throttle` built.
pub fn reply(o: &Outcome) -> [i64; 5] {
    let retry_after_s = if o.allowed || o.retry_after_ms < 0 {
        -1
    } else {
        seconds_ceil(o.retry_after_ms.unsigned_abs())
    };
    [
        i64::from(!o.allowed),
        i64::try_from(o.limit).unwrap_or(i64::MAX),
        i64::try_from(o.remaining).unwrap_or(i64::MAX),
        retry_after_s,
        seconds_ceil(o.reset_after_ms),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{decide, Now};
    use crate::state;

    fn args(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn arguments_mean_what_they_mean_in_redis_cell() {
        let line = args("user:1 15 30 60 3");
        let t = parse_throttle(&line).unwrap();
        assert_eq!(t.refund, None);
        let r = t.request;
        assert_eq!(r.key, b"user:1");
        assert_eq!(
            r.limit,
            Limit {
                limit: 30,
                window_ms: 60_000
            }
        );
        assert_eq!(r.options.algorithm, Algorithm::Gcra);
        assert_eq!(r.options.burst, Some(16), "capacity is max_burst + 1");
        assert_eq!(r.options.cost, 3);
        assert_eq!(
            parse_throttle(&args("k 0 1 1"))
                .unwrap()
                .request
                .options
                .cost,
            1
        );
        // A negative quantity gives units back, as RATELIMIT.CHARGE does.
        let refund = parse_throttle(&args("k 15 30 60 -4")).unwrap();
        assert_eq!(refund.refund, Some(4));
        assert_eq!(refund.request.options.cost, 0);
    }

    #[test]
    fn bad_arguments_are_named() {
        for (line, want) in [
            ("k 15 30", ArgError::WrongArity),
            ("k 15 30 60 1 1", ArgError::WrongArity),
            ("k -1 30 60", ArgError::MaxBurst),
            ("k 1000000000000 30 60", ArgError::MaxBurst),
            ("k 15 0 60", ArgError::CountPerPeriod),
            ("k 15 x 60", ArgError::CountPerPeriod),
            ("k 15 30 0", ArgError::Period),
            ("k 15 30 315576001", ArgError::Period),
            ("k 15 30 60 -0", ArgError::Quantity),
            ("k 15 30 60 -1000000000001", ArgError::Quantity),
            ("k 15 30 60 1.5", ArgError::Quantity),
        ] {
            assert_eq!(parse_throttle(&args(line)), Err(want), "{line}");
            assert!(want.to_string().starts_with("ERR "));
        }
        assert!(ArgError::MaxBurst.to_string().contains("max_burst"));
        assert!(ArgError::Period.to_string().contains("period"));
        assert!(ArgError::Quantity.to_string().contains("quantity"));
    }

    /// redis-cell's published scenario: max_burst 4 (limit 5), 1 per second, requests
    /// of several sizes at given offsets from a start time. Each row is
    /// (offset ms, quantity, reply redis-cell gives), times already in whole seconds
    /// rounded up as its command replies them.
    #[test]
    fn replies_match_redis_cells_published_scenario() {
        let rows: [(u64, u64, [i64; 5]); 15] = [
            (0, 6, [1, 5, 5, -1, 0]),
            (0, 1, [0, 5, 4, -1, 1]),
            (0, 1, [0, 5, 3, -1, 2]),
            (0, 1, [0, 5, 2, -1, 3]),
            (0, 1, [0, 5, 1, -1, 4]),
            (0, 1, [0, 5, 0, -1, 5]),
            (0, 1, [1, 5, 0, 1, 5]),
            (3000, 1, [0, 5, 2, -1, 3]),
            (3100, 1, [0, 5, 1, -1, 4]),
            (4000, 1, [0, 5, 1, -1, 4]),
            (8000, 1, [0, 5, 4, -1, 1]),
            (9500, 1, [0, 5, 4, -1, 1]),
            (9500, 0, [0, 5, 4, -1, 1]),
            (9500, 2, [0, 5, 2, -1, 3]),
            (9500, 5, [1, 5, 2, 3, 3]),
        ];
        let start_ms = 1_700_000_000_000;
        let mut stored: Option<Vec<u8>> = None;
        for (i, (offset, quantity, want)) in rows.into_iter().enumerate() {
            let line = format!("k 4 1 1 {quantity}");
            let line = args(&line);
            let request = parse_throttle(&line).unwrap().request;
            let state = stored.as_deref().map(|b| state::decode(b).unwrap());
            let decision = decide(
                state,
                request.limit,
                &request.options,
                Now::from_ms(start_ms + offset),
            )
            .unwrap();
            assert_eq!(reply(&decision.outcome), want, "row {i}");
            if let Some(update) = decision.update {
                stored = Some(update.value.as_bytes().to_vec());
            }
        }
    }
}
