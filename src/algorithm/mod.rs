//! The decision functions: (stored state, limit, options, now) -> decision.
//!
//! Pure: plain integers in, plain values out, no Redis types. Each algorithm lives in
//! its own file; this module dispatches on the requested algorithm and defines the
//! shared reply and update types.

mod fixed;

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

/// What an allowed call stores: the new value and the key's absolute expiry, the
/// moment the state is full again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    Replace { value: Encoded, expire_at_ms: u64 },
}

impl Update {
    pub fn expire_at_ms(&self) -> u64 {
        match *self {
            Update::Replace { expire_at_ms, .. } => expire_at_ms,
        }
    }
}

/// A decision: the reply, and what to write when the call is allowed and counts
/// something. `update` is `None` for denied calls and for `COST 0`: those write
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub update: Option<Update>,
}

/// Why no decision could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The key holds the state of another algorithm.
    OtherAlgorithm(Algorithm),
    /// The algorithm is not available in this build.
    Unsupported(Algorithm),
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
    match options.algorithm {
        Algorithm::Fixed => {
            let state = match stored {
                Some(State::Fixed { start_ms, count }) => Some((start_ms, count)),
                _ => None,
            };
            Ok(fixed::decide(state, limit, options.cost, now.ms()))
        }
        other => Err(Refusal::Unsupported(other)),
    }
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
