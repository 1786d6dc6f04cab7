//! Command arguments: bytes in, a typed request out.
//!
//! Every validation of what a client sends lives here, with no Redis types, so that it
//! is unit-tested and fuzzed without a server. Parsing never allocates on success: the
//! key is borrowed from the caller's argument vector.

use std::ffi::CStr;
use std::fmt;

/// Largest `limit`, `BURST` and `COST`: 10^12, comfortably above 2^32 and small enough
/// that every product the algorithms form (`count * window`, `cost * interval`) fits in
/// 128-bit arithmetic with room to spare.
pub const MAX_LIMIT: u64 = 1_000_000_000_000;

/// Largest window: ten Julian years (3652.5 days), in milliseconds.
pub const MAX_WINDOW_MS: u64 = 315_576_000_000;

/// Largest `limit` for `ALGORITHM LOG`, whose state keeps one timestamp per request.
pub const MAX_LOG_LIMIT: u64 = 4096;

/// The rate-limiting algorithm a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Fixed,
    Sliding,
    Gcra,
    Log,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Fixed,
        Algorithm::Sliding,
        Algorithm::Gcra,
        Algorithm::Log,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Fixed => "fixed",
            Algorithm::Sliding => "sliding",
            Algorithm::Gcra => "gcra",
            Algorithm::Log => "log",
        }
    }

    /// The name as the commands' `ALGORITHM` option spells it in the docs.
    pub fn keyword(self) -> &'static str {
        match self {
            Algorithm::Fixed => "FIXED",
            Algorithm::Sliding => "SLIDING",
            Algorithm::Gcra => "GCRA",
            Algorithm::Log => "LOG",
        }
    }

    /// The algorithm a name means, in any case (as the commands read it).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The largest `limit` the algorithm takes: `MAX_LOG_LIMIT` for LOG, whose state
    /// keeps one entry per unit, `MAX_LIMIT` for the others.
    pub fn max_limit(self) -> u64 {
        match self {
            Algorithm::Log => MAX_LOG_LIMIT,
            _ => MAX_LIMIT,
        }
    }
}

/// One limit: at most `limit` units per `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub limit: u64,
    pub window_ms: u64,
}

/// The options shared by every limit of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub algorithm: Algorithm,
    /// GCRA capacity; `None` means "equal to the limit".
    pub burst: Option<u64>,
    pub cost: u64,
}

/// A parsed `RATELIMIT.CHECK` / `RATELIMIT.PEEK` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub key: &'a [u8],
    pub limit: Limit,
    pub options: Options,
}

/// A parsed `RATELIMIT.CHARGE` request: `amount` units to count (positive) or to give
/// back (negative). Its options carry no cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge<'a> {
    pub key: &'a [u8],
    pub limit: Limit,
    pub options: Options,
    pub amount: i64,
}

/// Why a request was refused. Each variant maps to one fixed `ERR` message that names
/// the offending argument; messages are `'static` C strings so that replying with an
/// error allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// Too few arguments, or an odd tail: answered with Redis's standard arity error.
    WrongArity,
    Limit,
    Window,
    WindowMs,
    Cost,
    Burst,
    BurstNeedsGcra,
    LogLimit,
    UnknownAlgorithm,
    MissingValue(Keyword),
    Duplicate(Keyword),
    UnknownOption,
    NumLimits,
    NumLimitsMismatch,
    DuplicateKey,
    /// CHARGE's amount.
    Amount,
    /// COST given to CHARGE, whose amount is an argument of its own.
    ChargeCost,
    /// MCHECK's COSTS: a value out of range, or fewer values than limits.
    Costs,
    CostAndCosts,
    MaxBurst,
    CountPerPeriod,
    Period,
    Quantity,
}

/// The option keywords, for messages about a missing value or a repeated option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    Algorithm,
    Burst,
    Cost,
    Costs,
    Ms,
}

impl ArgError {
    /// The error reply, starting with `ERR`.
    pub fn message(self) -> &'static CStr {
        match self {
            ArgError::WrongArity => c"ERR wrong number of arguments",
            ArgError::Limit => c"ERR limit must be an integer from 1 to 1000000000000",
            ArgError::Window => {
                c"ERR window must be an integer number of seconds from 1 to 315576000 (10 years)"
            }
            ArgError::WindowMs => {
                c"ERR window must be an integer number of milliseconds from 1 to 315576000000 (10 years) with MS"
            }
            ArgError::Cost => c"ERR COST must be an integer from 0 to 1000000000000",
            ArgError::Burst => c"ERR BURST must be an integer from 1 to 1000000000000",
            ArgError::BurstNeedsGcra => c"ERR BURST applies only to ALGORITHM GCRA",
            ArgError::LogLimit => c"ERR limit must be an integer from 1 to 4096 with ALGORITHM LOG",
            ArgError::UnknownAlgorithm => {
                c"ERR ALGORITHM must be one of FIXED, SLIDING, GCRA or LOG"
            }
            ArgError::MissingValue(Keyword::Algorithm) => c"ERR ALGORITHM needs a value",
            ArgError::MissingValue(Keyword::Burst) => c"ERR BURST needs a value",
            ArgError::MissingValue(Keyword::Cost) => c"ERR COST needs a value",
            ArgError::MissingValue(Keyword::Costs) => c"ERR COSTS needs one cost per limit",
            ArgError::MissingValue(Keyword::Ms) => c"ERR MS takes no value",
            ArgError::Duplicate(Keyword::Algorithm) => c"ERR ALGORITHM given more than once",
            ArgError::Duplicate(Keyword::Burst) => c"ERR BURST given more than once",
            ArgError::Duplicate(Keyword::Cost) => c"ERR COST given more than once",
            ArgError::Duplicate(Keyword::Costs) => c"ERR COSTS given more than once",
            ArgError::Duplicate(Keyword::Ms) => c"ERR MS given more than once",
            ArgError::UnknownOption => {
                c"ERR unknown option: expected ALGORITHM, BURST, COST or MS (COSTS with MCHECK)"
            }
            ArgError::NumLimits => c"ERR numlimits must be an integer from 1 to 64",
            ArgError::NumLimitsMismatch => {
                c"ERR numlimits does not match the number of key limit window triples"
            }
            ArgError::DuplicateKey => c"ERR the same key is given for two limits",
            ArgError::Amount => {
                c"ERR amount must be an integer from -1000000000000 to 1000000000000"
            }
            ArgError::ChargeCost => c"ERR CHARGE takes no COST: the amount is its argument",
            ArgError::Costs => {
                c"ERR COSTS takes one integer from 0 to 1000000000000 per limit"
            }
            ArgError::CostAndCosts => c"ERR COST and COSTS cannot be given together",
            ArgError::MaxBurst => c"ERR max_burst must be an integer from 0 to 999999999999",
            ArgError::CountPerPeriod => {
                c"ERR count per period must be an integer from 1 to 1000000000000"
            }
            ArgError::Period => {
                c"ERR period must be an integer number of seconds from 1 to 315576000 (10 years)"
            }
            ArgError::Quantity => {
                c"ERR quantity must be an integer from -1000000000000 to 1000000000000"
            }
        }
    }
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message().to_string_lossy())
    }
}

impl std::error::Error for ArgError {}

/// Parses a strict unsigned decimal integer the way Redis does: digits only, no sign, no
/// spaces, no leading zeros (except "0" itself), no overflow.
pub fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut value: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

pub(crate) fn in_range(bytes: &[u8], min: u64, max: u64, err: ArgError) -> Result<u64, ArgError> {
    match parse_u64(bytes) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(err),
    }
}

fn keyword(arg: &[u8]) -> Option<Keyword> {
    if arg.eq_ignore_ascii_case(b"ALGORITHM") {
        Some(Keyword::Algorithm)
    } else if arg.eq_ignore_ascii_case(b"BURST") {
        Some(Keyword::Burst)
    } else if arg.eq_ignore_ascii_case(b"COST") {
        Some(Keyword::Cost)
    } else if arg.eq_ignore_ascii_case(b"COSTS") {
        Some(Keyword::Costs)
    } else if arg.eq_ignore_ascii_case(b"MS") {
        Some(Keyword::Ms)
    } else {
        None
    }
}

fn algorithm(arg: &[u8]) -> Result<Algorithm, ArgError> {
    Algorithm::ALL
        .into_iter()
        .find(|a| arg.eq_ignore_ascii_case(a.name().as_bytes()))
        .ok_or(ArgError::UnknownAlgorithm)
}

/// Options as given, before they are checked against each other and the limits.
#[derive(Default)]
struct RawOptions<'a, 'b> {
    algorithm: Option<Algorithm>,
    burst: Option<&'a [u8]>,
    cost: Option<&'a [u8]>,
    costs: Option<&'b [&'a [u8]]>,
    ms: bool,
}

/// The options at the end of a command line. `costs` is MCHECK's number of limits,
/// the values `COSTS` takes; the other commands take no `COSTS` (`None`).
fn parse_options<'a, 'b>(
    args: &'b [&'a [u8]],
    costs: Option<usize>,
) -> Result<RawOptions<'a, 'b>, ArgError> {
    let mut raw = RawOptions::default();
    let mut rest = args;
    while let Some((&name, tail)) = rest.split_first() {
        let kw = keyword(name).ok_or(ArgError::UnknownOption)?;
        match kw {
            Keyword::Ms => {
                if raw.ms {
                    return Err(ArgError::Duplicate(kw));
                }
                raw.ms = true;
                rest = tail;
                continue;
            }
            Keyword::Costs => {
                let n = costs.ok_or(ArgError::UnknownOption)?;
                if raw.costs.is_some() {
                    return Err(ArgError::Duplicate(kw));
                }
                if tail.len() < n {
                    return Err(ArgError::MissingValue(kw));
                }
                let (values, after) = tail.split_at(n);
                raw.costs = Some(values);
                rest = after;
                continue;
            }
            _ => {}
        }
        let (&value, tail) = tail.split_first().ok_or(ArgError::MissingValue(kw))?;
        let taken = match kw {
            Keyword::Algorithm => raw.algorithm.replace(algorithm(value)?).is_some(),
            Keyword::Burst => raw.burst.replace(value).is_some(),
            Keyword::Cost => raw.cost.replace(value).is_some(),
            Keyword::Ms | Keyword::Costs => unreachable!("taken above"),
        };
        if taken {
            return Err(ArgError::Duplicate(kw));
        }
        rest = tail;
    }
    Ok(raw)
}

impl RawOptions<'_, '_> {
    fn check(&self) -> Result<(Options, bool), ArgError> {
        let algorithm = self.algorithm.unwrap_or(Algorithm::Fixed);
        let burst = match self.burst {
            Some(_) if algorithm != Algorithm::Gcra => return Err(ArgError::BurstNeedsGcra),
            Some(b) => Some(in_range(b, 1, MAX_LIMIT, ArgError::Burst)?),
            None => None,
        };
        let cost = match self.cost {
            Some(c) => in_range(c, 0, MAX_LIMIT, ArgError::Cost)?,
            None => 1,
        };
        Ok((
            Options {
                algorithm,
                burst,
                cost,
            },
            self.ms,
        ))
    }
}

fn parse_limit(
    limit: &[u8],
    window: &[u8],
    options: &Options,
    ms: bool,
) -> Result<Limit, ArgError> {
    let limit = if options.algorithm == Algorithm::Log {
        match parse_u64(limit) {
            Some(v) if (1..=MAX_LIMIT).contains(&v) && v > MAX_LOG_LIMIT => {
                return Err(ArgError::LogLimit)
            }
            _ => in_range(limit, 1, MAX_LIMIT, ArgError::Limit)?,
        }
    } else {
        in_range(limit, 1, MAX_LIMIT, ArgError::Limit)?
    };
    let window_ms = if ms {
        in_range(window, 1, MAX_WINDOW_MS, ArgError::WindowMs)?
    } else {
        in_range(window, 1, MAX_WINDOW_MS / 1000, ArgError::Window)? * 1000
    };
    Ok(Limit { limit, window_ms })
}

/// Parses `key limit window [options]` (the arguments after the command name).
pub fn parse_check<'a>(args: &[&'a [u8]]) -> Result<Request<'a>, ArgError> {
    let [key, limit, window, rest @ ..] = args else {
        return Err(ArgError::WrongArity);
    };
    // Options are checked before the limits so that an error names the first bad
    // thing a reader of the command line would notice: an unknown option is reported
    // as such even when the limit is also wrong.
    let raw = parse_options(rest, None)?;
    let (options, ms) = raw.check()?;
    let limit = parse_limit(limit, window, &options, ms)?;
    Ok(Request {
        key,
        limit,
        options,
    })
}

/// Parses a signed amount the way Redis reads an integer, within `MAX_LIMIT` either
/// way: an optional `-`, then digits without leading zeros (no `-0`).
pub fn parse_amount(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let magnitude = parse_u64(digits).filter(|&v| v <= MAX_LIMIT)?;
    if negative && magnitude == 0 {
        return None;
    }
    // At most 10^12: fits an i64 with room to spare.
    let magnitude = magnitude as i64;
    Some(if negative { -magnitude } else { magnitude })
}

/// Parses `key limit window amount [options]` (the arguments after `RATELIMIT.CHARGE`):
/// the options of CHECK but `COST`, which the amount replaces.
pub fn parse_charge<'a>(args: &[&'a [u8]]) -> Result<Charge<'a>, ArgError> {
    let [key, limit, window, amount, rest @ ..] = args else {
        return Err(ArgError::WrongArity);
    };
    let raw = parse_options(rest, None)?;
    if raw.cost.is_some() {
        return Err(ArgError::ChargeCost);
    }
    let (options, ms) = raw.check()?;
    let limit = parse_limit(limit, window, &options, ms)?;
    let amount = parse_amount(amount).ok_or(ArgError::Amount)?;
    Ok(Charge {
        key,
        limit,
        options,
        amount,
    })
}

/// Largest `numlimits` of `RATELIMIT.MCHECK`.
pub const MAX_LIMITS: usize = 64;

/// A parsed `RATELIMIT.MCHECK` request: one limit per key, and shared options. The
/// keys are not copied out: limit i belongs to the key at argv[2 + 3i]
/// (`mcheck_key_positions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiRequest {
    pub limits: Vec<Limit>,
    pub options: Options,
    /// `COSTS c1 ... cN`: each limit's own cost, instead of `options.cost` for all.
    pub costs: Option<Vec<u64>>,
}

/// Parses `numlimits key limit window [key limit window ...] [options]`.
pub fn parse_mcheck(args: &[&[u8]]) -> Result<MultiRequest, ArgError> {
    // At least numlimits and one triple, as the arity Redis 7 checks for us says;
    // servers without key specs (6.2) leave the check to us.
    let [numlimits, rest @ ..] = args else {
        return Err(ArgError::WrongArity);
    };
    if rest.len() < 3 {
        return Err(ArgError::WrongArity);
    }
    let n = in_range(numlimits, 1, MAX_LIMITS as u64, ArgError::NumLimits)? as usize;
    if rest.len() < n * 3 {
        return Err(ArgError::NumLimitsMismatch);
    }
    let (triples, tail) = rest.split_at(n * 3);
    // A tail shaped like another `key limit window` triple means the client passed
    // more triples than numlimits says: say that rather than "unknown option".
    if let [first, limit, window, ..] = tail {
        if keyword(first).is_none() && parse_u64(limit).is_some() && parse_u64(window).is_some() {
            return Err(ArgError::NumLimitsMismatch);
        }
    }
    // One key holds one limit's state: two limits sharing a key would overwrite each
    // other, so that is refused rather than silently miscounted.
    for (i, t) in triples.chunks_exact(3).enumerate() {
        if triples.chunks_exact(3).skip(i + 1).any(|u| u[0] == t[0]) {
            return Err(ArgError::DuplicateKey);
        }
    }
    let raw = parse_options(tail, Some(n))?;
    let (options, ms) = raw.check()?;
    let costs = match raw.costs {
        Some(_) if raw.cost.is_some() => return Err(ArgError::CostAndCosts),
        Some(values) => Some(
            values
                .iter()
                .map(|c| in_range(c, 0, MAX_LIMIT, ArgError::Costs))
                .collect::<Result<Vec<_>, ArgError>>()?,
        ),
        None => None,
    };
    let limits = triples
        .chunks_exact(3)
        .map(|t| parse_limit(t[1], t[2], &options, ms))
        .collect::<Result<Vec<_>, ArgError>>()?;
    Ok(MultiRequest {
        limits,
        options,
        costs,
    })
}

/// Key positions of an MCHECK command line (argv indices, command name at 0), for the
/// getkeys API: `numlimits` at 1, then one key every three arguments. Returns nothing
/// when `numlimits` is unreadable or does not fit the line, as Redis expects of a
/// getkeys callback for a malformed command.
pub fn mcheck_key_positions(argv: &[&[u8]]) -> impl Iterator<Item = usize> {
    let n = argv
        .get(1)
        .and_then(|n| parse_u64(n))
        .filter(|&n| n >= 1 && n as usize <= MAX_LIMITS && argv.len() >= 2 + n as usize * 3)
        .unwrap_or(0) as usize;
    (0..n).map(|i| 2 + i * 3)
}

#[cfg(test)]
mod tests;
