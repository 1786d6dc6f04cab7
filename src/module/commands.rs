//! The command bodies: parse, open each key once, decide, store when allowed, reply.
//!
//! A body returns `Err(Failed)` instead of replying with an error itself; `run` counts
//! and answers every failure the same way, in one place.

use super::storage::Slot;
#[cfg(feature = "crash-test")]
use super::wrap::Key;
use super::wrap::{now, Ctx, RString};
use crate::algorithm::{self, Outcome, Update};
use crate::args::{self, Algorithm, ArgError, Limit, Options};
use crate::cell;
use crate::failure::Failure;
use crate::stats::{self, Command};

/// A command that could not decide, with the algorithm its arguments named (none when
/// they could not be parsed).
#[derive(Clone, Copy, Debug)]
pub struct Failed {
    failure: Failure,
    algorithm: Option<Algorithm>,
}

impl Failed {
    fn arg(e: ArgError) -> Failed {
        Failed {
            failure: Failure::Arg(e),
            algorithm: None,
        }
    }

    fn with(algorithm: Algorithm) -> impl Fn(Failure) -> Failed {
        move |failure| Failed {
            failure,
            algorithm: Some(algorithm),
        }
    }

    /// A caught panic.
    pub fn internal() -> Failed {
        Failed {
            failure: Failure::Internal,
            algorithm: None,
        }
    }

    /// Counts the failure for the command (and its algorithm, when the key was the
    /// problem) and answers it.
    pub fn answer(self, ctx: Ctx, command: Command) {
        match self.algorithm {
            Some(a) if self.failure.counts_against_algorithm() => stats::refused(command, a),
            _ => stats::error(command),
        }
        if self.failure == Failure::Arg(ArgError::WrongArity) {
            ctx.reply_wrong_arity();
        } else {
            ctx.reply_error(self.failure.message());
        }
    }
}

/// A command body.
pub type Body = fn(Ctx, &[RString], Command) -> Result<(), Failed>;

/// Runs a body and answers its failure, if any.
pub fn run(ctx: Ctx, argv: &[RString], command: Command, body: Body) {
    if let Err(failed) = body(ctx, argv, command) {
        failed.answer(ctx, command);
    }
}

/// Calls `f` with the arguments as byte slices, without allocating for the usual
/// short command lines.
fn with_args<R>(argv: &[RString], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    const INLINE: usize = 16;
    if argv.len() <= INLINE {
        let mut buf: [&[u8]; INLINE] = [&[]; INLINE];
        for (slot, &a) in buf.iter_mut().zip(argv) {
            *slot = a.bytes();
        }
        f(&buf[..argv.len()])
    } else {
        let v: Vec<&[u8]> = argv.iter().map(|a| a.bytes()).collect();
        f(&v)
    }
}

/// The five numbers, as an array in every protocol. A RESP3 map would turn the usual
/// `allowed, limit, ... = reply` unpacking into an unpacking of the map's keys, with
/// `allowed` always truthy: one shape keeps every client limiting.
fn reply_outcome(ctx: Ctx, o: &Outcome) {
    ctx.reply_array(5);
    ctx.reply_i64(i64::from(o.allowed));
    ctx.reply_u64(o.limit);
    ctx.reply_u64(o.remaining);
    ctx.reply_i64(o.retry_after_ms);
    ctx.reply_u64(o.reset_after_ms);
}

/// How a single-key command reads its arguments.
type Parser = for<'a> fn(&[&'a [u8]]) -> Result<args::Request<'a>, ArgError>;

/// The body shared by every single-key command: parse, open the key, decide, store
/// when allowed. Only `RATELIMIT.PEEK` opens the key read-only and never writes.
fn one_key(ctx: Ctx, argv: &[RString], command: Command, parse: Parser) -> Result<Outcome, Failed> {
    let (limit, options) = with_args(argv.get(1..).unwrap_or(&[]), |args| {
        parse(args).map(|r| (r.limit, r.options))
    })
    .map_err(Failed::arg)?;
    // The parser checked that argv[1] is there.
    decide_key(ctx, argv[1], command, limit, options)
}

/// Opens `name`, decides, stores when allowed (never for PEEK).
fn decide_key(
    ctx: Ctx,
    name: RString,
    command: Command,
    limit: Limit,
    options: Options,
) -> Result<Outcome, Failed> {
    let write = command != Command::Peek;
    let refused = Failed::with(options.algorithm);
    let slot = Slot::open(ctx, name, write, options.algorithm).map_err(&refused)?;
    let stored = slot.state().map_err(&refused)?;
    let decided: Result<(Outcome, Option<Update>), _> = if write {
        algorithm::decide(stored, limit, &options, now()).map(|d| (d.outcome, d.update))
    } else {
        algorithm::peek(stored, limit, &options, now()).map(|o| (o, None))
    };
    let (outcome, update) = decided.map_err(|r| refused(r.into()))?;
    if let Some(update) = &update {
        slot.store(ctx, name, update).map_err(&refused)?;
    }
    stats::decided(command, options.algorithm, outcome.allowed);
    Ok(outcome)
}

/// Opens `name`, counts or gives back `amount` (`algorithm::charge`), stores any
/// change.
fn charge_key(
    ctx: Ctx,
    name: RString,
    command: Command,
    limit: Limit,
    options: Options,
    amount: i64,
) -> Result<Outcome, Failed> {
    let refused = Failed::with(options.algorithm);
    let slot = Slot::open(ctx, name, true, options.algorithm).map_err(&refused)?;
    let stored = slot.state().map_err(&refused)?;
    let charged = algorithm::charge(stored, limit, &options, amount, now());
    let decision = charged.map_err(|r| refused(r.into()))?;
    if let Some(update) = &decision.update {
        slot.store(ctx, name, update).map_err(&refused)?;
        stats::charged(options.algorithm, amount);
    }
    stats::decided(command, options.algorithm, true);
    Ok(decision.outcome)
}

/// `RATELIMIT.CHECK` (write) and `RATELIMIT.PEEK` (read-only).
pub fn check(ctx: Ctx, argv: &[RString], command: Command) -> Result<(), Failed> {
    let outcome = one_key(ctx, argv, command, args::parse_check)?;
    reply_outcome(ctx, &outcome);
    Ok(())
}

/// `RATELIMIT.CHARGE`: a cost known after the request, or a refund.
pub fn charge(ctx: Ctx, argv: &[RString], command: Command) -> Result<(), Failed> {
    let (limit, options, amount) = with_args(argv.get(1..).unwrap_or(&[]), |args| {
        args::parse_charge(args).map(|c| (c.limit, c.options, c.amount))
    })
    .map_err(Failed::arg)?;
    // The parser checked that argv[1] is there.
    let outcome = charge_key(ctx, argv[1], command, limit, options, amount)?;
    reply_outcome(ctx, &outcome);
    Ok(())
}

/// `CL.THROTTLE`, registered with `CELL-COMPAT yes`: redis-cell's arguments and reply,
/// computed by our GCRA; a negative quantity gives units back, as CHARGE does.
pub fn throttle(ctx: Ctx, argv: &[RString], command: Command) -> Result<(), Failed> {
    let (limit, options, refund) = with_args(argv.get(1..).unwrap_or(&[]), |args| {
        cell::parse_throttle(args).map(|t| (t.request.limit, t.request.options, t.refund))
    })
    .map_err(Failed::arg)?;
    // The parser checked that argv[1] is there.
    let outcome = match refund {
        None => decide_key(ctx, argv[1], command, limit, options)?,
        Some(units) => {
            // At most 10^12: fits an i64.
            let amount = -(units as i64);
            charge_key(ctx, argv[1], command, limit, options, amount)?
        }
    };
    ctx.reply_array(5);
    for value in cell::reply(&outcome) {
        ctx.reply_i64(value);
    }
    Ok(())
}

/// `RATELIMIT.MCHECK`: the request counts against every limit only if all allow it.
/// Every key is opened once; nothing is written unless every limit allowed, and then
/// each key is stored and replicated in turn, within this one command, which Redis
/// sends to replicas and the AOF as one MULTI/EXEC.
pub fn mcheck(ctx: Ctx, argv: &[RString], command: Command) -> Result<(), Failed> {
    if ctx.is_keys_position_request() {
        // For ACL, Cluster and `COMMAND GETKEYS` on servers without key specs, and as
        // their fallback.
        with_args(argv, |line| {
            args::mcheck_key_positions(line).for_each(|pos| ctx.key_at(pos))
        });
        return Ok(());
    }
    let args::MultiRequest {
        limits,
        options,
        costs,
    } = with_args(argv.get(1..).unwrap_or(&[]), args::parse_mcheck).map_err(Failed::arg)?;
    let refused = Failed::with(options.algorithm);
    // parse_mcheck checked that argv holds numlimits triples after argv[1]: limit i
    // belongs to the key at argv[2 + 3i].
    let name = |i: usize| argv[2 + 3 * i];
    let keys = (0..limits.len())
        .map(|i| Slot::open(ctx, name(i), true, options.algorithm))
        .collect::<Result<Vec<Slot>, Failure>>()
        .map_err(&refused)?;
    let stored = keys
        .iter()
        .map(Slot::state)
        .collect::<Result<Vec<_>, Failure>>()
        .map_err(&refused)?;
    let decided = algorithm::decide_all(&stored, &limits, &options, costs.as_deref(), now());
    // The stored states point into the keys' values, which the writes below replace.
    drop(stored);
    let joint = decided.map_err(|r| refused(r.into()))?;
    for (i, (key, update)) in keys.iter().zip(&joint.updates).enumerate() {
        if let Some(update) = update {
            key.store(ctx, name(i), update).map_err(&refused)?;
        }
    }
    drop(keys);
    stats::decided(command, options.algorithm, joint.allowed);
    ctx.reply_array(1 + joint.outcomes.len());
    ctx.reply_i64(i64::from(joint.allowed));
    for outcome in &joint.outcomes {
        reply_outcome(ctx, outcome);
    }
    Ok(())
}

/// `RATELIMIT.TESTCLOCK [ns]` (feature `test-clock` only): with an argument, every
/// command reads that instant (ns since the Unix epoch) as the clock, until it is set
/// again (0: the real clock). Replies the clock as [ms, ns within the ms], the two
/// parts in which the script library carries time.
#[cfg(feature = "test-clock")]
pub fn test_clock(ctx: Ctx, argv: &[RString], _command: Command) -> Result<(), Failed> {
    if let Some(arg) = argv.get(1) {
        let ns = args::parse_u64(arg.bytes()).ok_or(Failed::arg(ArgError::WrongArity))?;
        super::wrap::test_clock::set(ns);
    }
    let now = now();
    ctx.reply_array(2);
    ctx.reply_u64(now.ms());
    ctx.reply_u64(now.ns % 1_000_000);
    Ok(())
}

/// `RATELIMIT.CRASHTEST` (feature `crash-test` only): panics halfway through a
/// command, after opening a key, to prove that the guard turns a panic into an error
/// reply, closes the key and leaves the server serving.
#[cfg(feature = "crash-test")]
pub fn crash_test(ctx: Ctx, argv: &[RString], _command: Command) -> Result<(), Failed> {
    let _key = argv.get(1).map(|&name| Key::open(ctx, name, false));
    let depth = argv.len();
    panic!("RATELIMIT.CRASHTEST panics on purpose (argc {depth})");
}
