//! Counters since the module was loaded, shown by `INFO ratelimit`.
//!
//! Commands run on Redis's main thread, so relaxed atomics are plain increments; they
//! are atomics only because statics must be `Sync`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::args::Algorithm;

/// The module's commands, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Check,
    Peek,
    MCheck,
    Charge,
    Throttle,
}

impl Command {
    pub const ALL: [Command; 5] = [
        Command::Check,
        Command::Peek,
        Command::MCheck,
        Command::Charge,
        Command::Throttle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::Check => "check",
            Command::Peek => "peek",
            Command::MCheck => "mcheck",
            Command::Charge => "charge",
            Command::Throttle => "cl_throttle",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

fn algorithm_index(a: Algorithm) -> usize {
    a as usize
}

/// calls, allowed, denied, errors
#[derive(Default)]
struct Counts([AtomicU64; 4]);

impl Counts {
    const fn new() -> Counts {
        Counts([
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
            AtomicU64::new(0),
        ])
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            calls: self.0[0].load(Relaxed),
            allowed: self.0[1].load(Relaxed),
            denied: self.0[2].load(Relaxed),
            errors: self.0[3].load(Relaxed),
        }
    }
}

static BY_COMMAND: [Counts; 5] = [
    Counts::new(),
    Counts::new(),
    Counts::new(),
    Counts::new(),
    Counts::new(),
];
static BY_ALGORITHM: [Counts; 4] = [Counts::new(), Counts::new(), Counts::new(), Counts::new()];

/// Per algorithm: charges (a positive amount) and refunds (a negative one) that
/// changed a key.
static CHARGES: [[AtomicU64; 2]; 4] = [
    [AtomicU64::new(0), AtomicU64::new(0)],
    [AtomicU64::new(0), AtomicU64::new(0)],
    [AtomicU64::new(0), AtomicU64::new(0)],
    [AtomicU64::new(0), AtomicU64::new(0)],
];

/// One set of counters, read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub calls: u64,
    pub allowed: u64,
    pub denied: u64,
    pub errors: u64,
}

/// A call that reached a decision.
pub fn decided(command: Command, algorithm: Algorithm, allowed: bool) {
    let slot = if allowed { 1 } else { 2 };
    for counts in [
        &BY_COMMAND[command.index()],
        &BY_ALGORITHM[algorithm_index(algorithm)],
    ] {
        counts.0[0].fetch_add(1, Relaxed);
        counts.0[slot].fetch_add(1, Relaxed);
    }
}

/// A call answered with an error before its algorithm was known (bad arguments, or a
/// caught panic).
pub fn error(command: Command) {
    let counts = &BY_COMMAND[command.index()];
    counts.0[0].fetch_add(1, Relaxed);
    counts.0[3].fetch_add(1, Relaxed);
}

/// A call with valid arguments answered with an error (a key of another type or
/// another algorithm's state): counted for its command and its algorithm.
pub fn refused(command: Command, algorithm: Algorithm) {
    error(command);
    let counts = &BY_ALGORITHM[algorithm_index(algorithm)];
    counts.0[0].fetch_add(1, Relaxed);
    counts.0[3].fetch_add(1, Relaxed);
}

/// A CHARGE (or a refunding CL.THROTTLE) that changed its key: a charge when `amount`
/// is positive, a refund when it is negative.
pub fn charged(algorithm: Algorithm, amount: i64) {
    let slot = match amount.signum() {
        1 => 0,
        -1 => 1,
        _ => return,
    };
    CHARGES[algorithm_index(algorithm)][slot].fetch_add(1, Relaxed);
}

/// (charges, refunds) of an algorithm.
pub fn charges(algorithm: Algorithm) -> (u64, u64) {
    let [charges, refunds] = &CHARGES[algorithm_index(algorithm)];
    (charges.load(Relaxed), refunds.load(Relaxed))
}

pub fn by_command(command: Command) -> Snapshot {
    BY_COMMAND[command.index()].snapshot()
}

pub fn by_algorithm(algorithm: Algorithm) -> Snapshot {
    BY_ALGORITHM[algorithm_index(algorithm)].snapshot()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_per_command_and_algorithm() {
        let before = (by_command(Command::Throttle), by_algorithm(Algorithm::Log));
        decided(Command::Throttle, Algorithm::Log, true);
        decided(Command::Throttle, Algorithm::Log, false);
        error(Command::Throttle);
        refused(Command::Throttle, Algorithm::Log);
        let after = (by_command(Command::Throttle), by_algorithm(Algorithm::Log));
        assert_eq!(after.0.calls - before.0.calls, 4);
        assert_eq!(after.0.allowed - before.0.allowed, 1);
        assert_eq!(after.0.denied - before.0.denied, 1);
        assert_eq!(after.0.errors - before.0.errors, 2);
        assert_eq!(after.1.calls - before.1.calls, 3);
        assert_eq!(after.1.errors - before.1.errors, 1);
    }

    #[test]
    fn charges_and_refunds_are_counted_apart() {
        let before = charges(Algorithm::Sliding);
        charged(Algorithm::Sliding, 5);
        charged(Algorithm::Sliding, -2);
        charged(Algorithm::Sliding, -7);
        charged(Algorithm::Sliding, 0);
        let after = charges(Algorithm::Sliding);
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 2));
    }
}
