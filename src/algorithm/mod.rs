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
/// LOG (whose size grows with the limit) on the heap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Inline(Encoded),
    Heap(Vec<u8>),
}

impl Value {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Inline(e) => e.as_bytes(),
            Value::Heap(v) => v,
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
        let u = self.update.as_ref()?;
        Some(crate::state::decode(u.value.as_bytes()).expect("written state decodes"))
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
        (Algorithm::Log, Some(State::Log(entries))) => {
            log::decide(entries.iter(), limit, cost, now_ms)
        }
        (Algorithm::Log, _) => log::decide(std::iter::empty(), limit, cost, now_ms),
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
