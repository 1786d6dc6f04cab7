//! The decision functions: (stored state, limit, options, now) -> decision.
//!
//! Pure: plain integers in, plain values out, no Redis types. Each algorithm lives in
//! its own file; this module dispatches on the requested algorithm and defines the
//! shared reply and update types.

mod fixed;
mod gcra;
mod log;
mod sliding;

#[cfg(test)]
mod charge_tests;
#[cfg(test)]
mod model_tests;

use crate::args::{Algorithm, Limit, Options};
use crate::state::{Encoded, State};

/// The five numbers every check answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    /// The capacity: `limit`, or `BURST` for GCRA.
    pub limit: u64,
    /// Units left after this call (after counting it, when allowed).
    pub remaining: u64,
    /// 0 when allowed; ms until the same request could pass; -1 if it never can.
    pub retry_after_ms: i64,
    /// ms until the state is full again; 0 if it already is.
    pub reset_after_ms: u64,
}

/// The bytes an allowed call stores: constant-size states are built on the stack,
/// LOG (whose size grows with the limit) on the heap. `Gone`: a refund left nothing
/// counted, so the state is full again at once and the key is deleted (its expiry, the
/// moment the state is full again, would be now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Inline(Encoded),
    Heap(Vec<u8>),
    Gone,
}

impl Value {
    /// The bytes to store (none for `Gone`).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Inline(e) => e.as_bytes(),
            Value::Heap(v) => v,
            Value::Gone => &[],
        }
    }
}

/// What an allowed call stores: the new value and the key's absolute expiry (Unix ms),
/// the moment the state is full again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub value: Value,
    pub expire_at_ms: u64,
}

impl Update {
    /// Nothing left counted: the key goes.
    pub fn gone(now_ms: u64) -> Update {
        Update {
            value: Value::Gone,
            expire_at_ms: now_ms,
        }
    }

    /// The state this update leaves (`None`: no key).
    pub fn state(&self) -> Option<State<'_>> {
        match self.value {
            Value::Gone => None,
            // Written by `state`'s encoders just now: it decodes.
            _ => Some(crate::state::decode(self.value.as_bytes()).expect("an encoded state")),
        }
    }
}

/// A decision: the reply, and what to write when the call is allowed and counts
/// something. `update` is `None` for denied calls and for `COST 0`: those write
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub update: Option<Update>,
}

#[cfg(test)]
impl Decision {
    /// The state this decision would store, decoded from its bytes (tests only).
    pub fn written(&self) -> Option<State<'_>> {
        self.update.as_ref()?.state()
    }
}

/// Why no decision could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The key holds the state of another algorithm.
    OtherAlgorithm(Algorithm),
}

/// The wall clock, read once per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub ns: u64,
}

impl Now {
    pub fn from_ns(ns: u64) -> Now {
        Now { ns }
    }

    pub fn from_ms(ms: u64) -> Now {
        Now {
            ns: ms.saturating_mul(1_000_000),
        }
    }

    pub fn ms(self) -> u64 {
        self.ns / 1_000_000
    }
}

/// Decides one request against the stored state (`None`: the key does not exist).
pub fn decide(
    stored: Option<State<'_>>,
    limit: Limit,
    options: &Options,
    now: Now,
) -> Result<Decision, Refusal> {
    if let Some(state) = stored {
        if state.algorithm() != options.algorithm {
            return Err(Refusal::OtherAlgorithm(state.algorithm()));
        }
    }
    let cost = options.cost;
    let now_ms = now.ms();
    Ok(match (options.algorithm, stored) {
        (Algorithm::Fixed, Some(State::Fixed { start_ms, count })) => {
            fixed::decide(Some((start_ms, count)), limit, cost, now_ms)
        }
        (Algorithm::Fixed, _) => fixed::decide(None, limit, cost, now_ms),
        (
            Algorithm::Sliding,
            Some(State::Sliding {
                start_ms,
                prev,
                cur,
            }),
        ) => sliding::decide(
            Some(sliding::Windows {
                start_ms,
                prev,
                cur,
            }),
            limit,
            cost,
            now_ms,
        ),
        (Algorithm::Sliding, _) => sliding::decide(None, limit, cost, now_ms),
        (Algorithm::Gcra, Some(State::Gcra { tat_ns })) => {
            gcra::decide(Some(tat_ns), gcra_params(limit, options), cost, now.ns)
        }
        (Algorithm::Gcra, _) => gcra::decide(None, gcra_params(limit, options), cost, now.ns),
        (Algorithm::Log, Some(State::Log(entries))) => log::decide(&entries, limit, cost, now_ms),
        (Algorithm::Log, _) => log::decide(&[][..], limit, cost, now_ms),
    })
}

/// `RATELIMIT.CHARGE`: `amount` units counted whatever the state (positive: past the
/// limit the key is in debt, which the next requests wait out), or given back from what
/// the state holds (negative: never more than was counted, FIXED and SLIDING only within
/// the current window, GCRA never before now, LOG from the newest entries); 0 changes
/// nothing. The reply describes the state after the change: `allowed` 1, what is left,
/// the wait until a request of cost 1 passes (0 if it would now) and until the state is
/// full again. `update` is `None` when nothing changes.
pub fn charge(
    stored: Option<State<'_>>,
    limit: Limit,
    options: &Options,
    amount: i64,
    now: Now,
) -> Result<Decision, Refusal> {
    if let Some(state) = stored {
        if state.algorithm() != options.algorithm {
            return Err(Refusal::OtherAlgorithm(state.algorithm()));
        }
    }
    let now_ms = now.ms();
    let update = match (options.algorithm, stored) {
        (Algorithm::Fixed, Some(State::Fixed { start_ms, count })) => {
            fixed::charge(Some((start_ms, count)), limit, amount, now_ms)
        }
        (Algorithm::Fixed, _) => fixed::charge(None, limit, amount, now_ms),
        (
            Algorithm::Sliding,
            Some(State::Sliding {
                start_ms,
                prev,
                cur,
            }),
        ) => sliding::charge(
            Some(sliding::Windows {
                start_ms,
                prev,
                cur,
            }),
            limit,
            amount,
            now_ms,
        ),
        (Algorithm::Sliding, _) => sliding::charge(None, limit, amount, now_ms),
        (Algorithm::Gcra, Some(State::Gcra { tat_ns })) => {
            gcra::charge(Some(tat_ns), gcra_params(limit, options), amount, now.ns)
        }
        (Algorithm::Gcra, _) => gcra::charge(None, gcra_params(limit, options), amount, now.ns),
        (Algorithm::Log, Some(State::Log(entries))) => log::charge(&entries, limit, amount, now_ms),
        (Algorithm::Log, _) => log::charge(&[][..], limit, amount, now_ms),
    };
    let after = match &update {
        Some(u) => u.state(),
        None => stored,
    };
    let next = peek(
        after,
        limit,
        &Options {
            cost: 1,
            ..*options
        },
        now,
    )?;
    Ok(Decision {
        outcome: Outcome {
            allowed: true,
            retry_after_ms: if next.allowed { 0 } else { next.retry_after_ms },
            ..next
        },
        update,
    })
}

fn gcra_params(limit: Limit, options: &Options) -> gcra::Params {
    gcra::Params::new(limit, options.burst.unwrap_or(limit.limit))
}

/// What `RATELIMIT.PEEK` answers: whether the request would pass now and when it
/// could, with `remaining` and `reset_after_ms` describing the state as it is (nothing
/// counted). Derived from two decisions, so every algorithm gets it the same way.
pub fn peek(
    stored: Option<State<'_>>,
    limit: Limit,
    options: &Options,
    now: Now,
) -> Result<Outcome, Refusal> {
    let request = decide(stored, limit, options, now)?.outcome;
    let as_is = decide(
        stored,
        limit,
        &Options {
            cost: 0,
            ..*options
        },
        now,
    )?
    .outcome;
    Ok(Outcome {
        remaining: as_is.remaining,
        reset_after_ms: as_is.reset_after_ms,
        ..request
    })
}

/// The decision of `RATELIMIT.MCHECK`: the request counts against every limit, or
/// against none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joint {
    pub allowed: bool,
    /// One outcome per limit, in order. When the request is denied, each is what
    /// `RATELIMIT.PEEK` would answer: nothing was counted anywhere, so `remaining` is
    /// what is left now, and the limits that denied say so with their retry time.
    pub outcomes: Vec<Outcome>,
    /// What to store for each limit; all `None` unless every limit allowed.
    pub updates: Vec<Option<Update>>,
}

/// Decides one request against several limits, all or nothing. `stored[i]` is the
/// state under the key of `limits[i]`.
pub fn decide_all(
    stored: &[Option<State<'_>>],
    limits: &[Limit],
    options: &Options,
    costs: Option<&[u64]>,
    now: Now,
) -> Result<Joint, Refusal> {
    // Each limit's options: the shared ones, with that limit's own cost under `COSTS`.
    let each = |i: usize| match costs {
        Some(c) => Options {
            cost: c[i],
            ..*options
        },
        None => *options,
    };
    let mut outcomes = Vec::with_capacity(limits.len());
    let mut updates = Vec::with_capacity(limits.len());
    for (i, (&s, &l)) in stored.iter().zip(limits).enumerate() {
        let d = decide(s, l, &each(i), now)?;
        outcomes.push(d.outcome);
        updates.push(d.update);
    }
    if outcomes.iter().all(|o| o.allowed) {
        return Ok(Joint {
            allowed: true,
            outcomes,
            updates,
        });
    }
    // Denied: nothing is stored, and each limit reports what PEEK would.
    for (i, ((o, &s), &l)) in outcomes.iter_mut().zip(stored).zip(limits).enumerate() {
        *o = peek(s, l, &each(i), now)?;
    }
    updates.iter_mut().for_each(|u| *u = None);
    Ok(Joint {
        allowed: false,
        outcomes,
        updates,
    })
}

#[cfg(test)]
mod joint_tests {
    use super::*;

    fn options() -> Options {
        Options {
            algorithm: Algorithm::Fixed,
            burst: None,
            cost: 1,
        }
    }

    /// Runs MCHECK on two in-memory keys and keeps what an allowed call stores.
    fn run(keys: &mut [Option<Vec<u8>>; 2], limits: &[Limit; 2], now: Now) -> Joint {
        let stored: Vec<Option<State<'_>>> = keys
            .iter()
            .map(|k| k.as_deref().map(|b| crate::state::decode(b).unwrap()))
            .collect();
        let joint = decide_all(&stored, limits, &options(), None, now).unwrap();
        for (key, update) in keys.iter_mut().zip(&joint.updates) {
            if let Some(u) = update {
                *key = Some(u.value.as_bytes().to_vec());
            }
        }
        joint
    }

    #[test]
    fn a_denied_request_counts_against_no_limit() {
        let limits = [
            Limit {
                limit: 2,
                window_ms: 60_000,
            },
            Limit {
                limit: 3,
                window_ms: 3_600_000,
            },
        ];
        let mut keys = [None, None];
        let now = Now::from_ms(1_700_000_000_000);
        let remaining = |j: &Joint| (j.outcomes[0].remaining, j.outcomes[1].remaining);
        let first = run(&mut keys, &limits, now);
        assert!(first.allowed);
        assert_eq!(remaining(&first), (1, 2));
        let second = run(&mut keys, &limits, now);
        assert!(second.allowed);
        assert_eq!(remaining(&second), (0, 1));
        let stored_before = keys.clone();
        let third = run(&mut keys, &limits, now);
        assert!(!third.allowed);
        assert!(!third.outcomes[0].allowed, "the per-minute limit denies");
        assert_eq!(third.outcomes[0].retry_after_ms, 60_000);
        assert!(third.outcomes[1].allowed, "the hourly limit would allow");
        assert_eq!(
            third.outcomes[1].remaining, 1,
            "and nothing was taken from it"
        );
        assert!(third.updates.iter().all(Option::is_none));
        assert_eq!(keys, stored_before);
    }

    #[test]
    fn another_algorithms_state_refuses_the_whole_call() {
        let gcra = crate::state::encode_gcra(5);
        let stored = [None, Some(crate::state::decode(gcra.as_bytes()).unwrap())];
        let limit = Limit {
            limit: 1,
            window_ms: 1,
        };
        assert_eq!(
            decide_all(&stored, &[limit, limit], &options(), None, Now::from_ms(1)),
            Err(Refusal::OtherAlgorithm(Algorithm::Gcra))
        );
    }
}
