//! What each command tells the server about itself: name, summary, since, complexity,
//! arity and every argument. Registration hands this to `RedisModule_SetCommandInfo`
//! (Redis 7.0+, Valkey), so that `COMMAND DOCS ratelimit.check` describes the command
//! and `redis-cli` shows argument hints as it does for built-in commands.
//!
//! Plain data, no Redis types: the unit tests below hold it against the parsers in
//! `args` and `cell`, so the docs cannot drift from what the commands accept.

use std::ffi::CStr;

/// The version that introduced the module's commands.
const SINCE: &CStr = c"0.1.0";

/// The kind of an argument, as `COMMAND DOCS` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// A key name (the command's key spec `key_spec`).
    Key {
        key_spec: i32,
    },
    Integer,
    /// A keyword alone, with no value (for example `MS`).
    PureToken,
    /// Exactly one of `subargs`.
    OneOf,
    /// `subargs` in sequence, as one unit (MCHECK's `key limit window`).
    Block,
}

/// One argument of a command.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    pub name: &'static CStr,
    pub kind: ArgType,
    /// The keyword that introduces the argument (`COST`), if any.
    pub token: Option<&'static CStr>,
    pub optional: bool,
    /// The argument may be repeated.
    pub multiple: bool,
    pub summary: Option<&'static CStr>,
    pub subargs: &'static [Arg],
}

impl Arg {
    const fn new(name: &'static CStr, kind: ArgType) -> Arg {
        Arg {
            name,
            kind,
            token: None,
            optional: false,
            multiple: false,
            summary: None,
            subargs: &[],
        }
    }

    const fn key(name: &'static CStr) -> Arg {
        Arg::new(name, ArgType::Key { key_spec: 0 })
    }

    const fn integer(name: &'static CStr) -> Arg {
        Arg::new(name, ArgType::Integer)
    }

    const fn token(name: &'static CStr, token: &'static CStr) -> Arg {
        Arg::new(name, ArgType::PureToken).with_token(token)
    }

    const fn with_token(mut self, token: &'static CStr) -> Arg {
        self.token = Some(token);
        self
    }

    const fn optional(mut self) -> Arg {
        self.optional = true;
        self
    }

    const fn multiple(mut self) -> Arg {
        self.multiple = true;
        self
    }

    const fn summary(mut self, summary: &'static CStr) -> Arg {
        self.summary = Some(summary);
        self
    }

    const fn of(mut self, kind: ArgType, subargs: &'static [Arg]) -> Arg {
        self.kind = kind;
        self.subargs = subargs;
        self
    }
}

/// What one command tells the server about itself.
#[derive(Clone, Copy, Debug)]
pub struct CommandDoc {
    /// The registered name, in lower case as Redis's own commands are.
    pub name: &'static CStr,
    pub summary: &'static CStr,
    pub since: &'static CStr,
    pub complexity: &'static CStr,
    /// Redis's arity: the argument count including the name, negative for "at least".
    pub arity: i32,
    pub args: &'static [Arg],
}

const ALGORITHMS: &[Arg] = &[
    Arg::token(c"fixed", c"FIXED"),
    Arg::token(c"sliding", c"SLIDING"),
    Arg::token(c"gcra", c"GCRA"),
    Arg::token(c"log", c"LOG"),
];

/// The options CHECK, PEEK and MCHECK share; any order, keywords in any case.
const OPTIONS: [Arg; 4] = [
    Arg::new(c"algorithm", ArgType::OneOf)
        .of(ArgType::OneOf, ALGORITHMS)
        .with_token(c"ALGORITHM")
        .optional()
        .summary(c"FIXED (default), SLIDING, GCRA or LOG"),
    Arg::integer(c"burst")
        .with_token(c"BURST")
        .optional()
        .summary(c"GCRA capacity (default: limit); GCRA only"),
    Arg::integer(c"cost")
        .with_token(c"COST")
        .optional()
        .summary(c"weight of this request (default 1; 0 checks without counting)"),
    Arg::token(c"ms", c"MS")
        .optional()
        .summary(c"window is in milliseconds"),
];

const LIMIT: Arg = Arg::integer(c"limit").summary(c"units per window");
const WINDOW: Arg = Arg::integer(c"window").summary(c"the window, in seconds (ms with MS)");

const ONE_KEY_ARGS: &[Arg] = &[
    Arg::key(c"key"),
    LIMIT,
    WINDOW,
    OPTIONS[0],
    OPTIONS[1],
    OPTIONS[2],
    OPTIONS[3],
];

const LIMIT_BLOCK: &[Arg] = &[Arg::key(c"key"), LIMIT, WINDOW];

const MCHECK_ARGS: &[Arg] = &[
    Arg::integer(c"numlimits").summary(c"how many key limit window triples follow (1 to 64)"),
    Arg::new(c"limit", ArgType::Block)
        .of(ArgType::Block, LIMIT_BLOCK)
        .multiple(),
    OPTIONS[0],
    OPTIONS[1],
    OPTIONS[2],
    Arg::integer(c"costs")
        .with_token(c"COSTS")
        .optional()
        .multiple()
        .summary(c"each limit's own cost, numlimits integers (instead of COST)"),
    OPTIONS[3],
];

const CHARGE_ARGS: &[Arg] = &[
    Arg::key(c"key"),
    LIMIT,
    WINDOW,
    Arg::integer(c"amount")
        .summary(c"units to count whatever the state (positive) or to give back (negative)"),
    OPTIONS[0],
    OPTIONS[1],
    OPTIONS[3],
];

const THROTTLE_ARGS: &[Arg] = &[
    Arg::key(c"key"),
    Arg::integer(c"max_burst").summary(c"capacity minus one, as in redis-cell"),
    Arg::integer(c"count_per_period"),
    Arg::integer(c"period").summary(c"in seconds"),
    Arg::integer(c"quantity")
        .optional()
        .summary(c"weight of this request (default 1)"),
];

const COMPLEXITY: &CStr =
    c"O(1) for FIXED, SLIDING and GCRA; for LOG O(log limit) to decide, O(limit) to store an allowed request";

pub const CHECK: CommandDoc = CommandDoc {
    name: c"ratelimit.check",
    summary: c"Counts a request against a rate limit if it is within the limit; replies allowed, limit, remaining, retry_after_ms, reset_after_ms",
    since: SINCE,
    complexity: COMPLEXITY,
    arity: -4,
    args: ONE_KEY_ARGS,
};

pub const PEEK: CommandDoc = CommandDoc {
    name: c"ratelimit.peek",
    summary: c"Answers as RATELIMIT.CHECK would now, without counting or writing anything",
    since: SINCE,
    complexity: COMPLEXITY,
    arity: -4,
    args: ONE_KEY_ARGS,
};

pub const MCHECK: CommandDoc = CommandDoc {
    name: c"ratelimit.mcheck",
    summary: c"Checks several rate limits and counts the request against all of them only if every one allows it",
    since: SINCE,
    complexity: c"O(N) where N is the number of limits (O(limit) each for LOG)",
    arity: -5,
    args: MCHECK_ARGS,
};

pub const CHARGE: CommandDoc = CommandDoc {
    name: c"ratelimit.charge",
    summary: c"Counts an amount known after the request (positive, never denied: past the limit the key is in debt) or gives back what was counted (negative); replies as RATELIMIT.CHECK after the change",
    since: c"0.3.0",
    complexity: COMPLEXITY,
    arity: -5,
    args: CHARGE_ARGS,
};

pub const THROTTLE: CommandDoc = CommandDoc {
    name: c"cl.throttle",
    summary: c"redis-cell's CL.THROTTLE (GCRA): replies limited, limit, remaining, retry_after_s, reset_after_s",
    since: SINCE,
    complexity: c"O(1)",
    arity: -5,
    args: THROTTLE_ARGS,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{parse_charge, parse_check, parse_mcheck};
    use crate::cell::parse_throttle;

    fn text(s: &CStr) -> &str {
        s.to_str().unwrap()
    }

    /// One command line per documented argument: the required ones, plus that
    /// argument with its token and a value valid for it.
    fn lines_with_each_option(doc: &CommandDoc, required: &[&str]) -> Vec<Vec<String>> {
        let mut lines = vec![];
        for arg in doc.args.iter().filter(|a| a.optional) {
            let mut line: Vec<String> = required.iter().map(|s| s.to_string()).collect();
            if let Some(token) = arg.token {
                line.push(text(token).to_string());
            }
            match arg.kind {
                ArgType::Integer if arg.name == c"burst" => {
                    // BURST needs ALGORITHM GCRA beside it.
                    let at = required.len();
                    line.splice(at..at, ["ALGORITHM".to_string(), "GCRA".to_string()]);
                    line.push("2".into());
                }
                // COSTS: one value per limit (the lines below have two).
                ArgType::Integer if arg.multiple => line.extend(["2".into(), "3".into()]),
                ArgType::Integer => line.push("2".into()),
                ArgType::OneOf => {
                    for sub in arg.subargs {
                        let mut with = line.clone();
                        with.push(text(sub.token.unwrap()).to_string());
                        lines.push(with);
                    }
                    continue;
                }
                _ => {}
            }
            lines.push(line);
        }
        lines
    }

    fn parses(parse: impl Fn(&[&[u8]]) -> bool, line: &[String]) {
        let bytes: Vec<&[u8]> = line.iter().map(|s| s.as_bytes()).collect();
        assert!(parse(&bytes), "documented form refused: {line:?}");
    }

    #[test]
    fn every_documented_option_of_check_is_accepted() {
        let lines = lines_with_each_option(&CHECK, &["k", "10", "60"]);
        // ALGORITHM x4, BURST, COST, MS
        assert_eq!(lines.len(), 7, "{lines:?}");
        for line in &lines {
            parses(|a| parse_check(a).is_ok(), line);
        }
    }

    #[test]
    fn every_documented_option_of_mcheck_is_accepted() {
        let lines = lines_with_each_option(&MCHECK, &["2", "a", "10", "1", "b", "100", "60"]);
        // ALGORITHM x4, BURST, COST, COSTS, MS
        assert_eq!(lines.len(), 8, "{lines:?}");
        for line in &lines {
            parses(|a| parse_mcheck(a).is_ok(), line);
        }
    }

    #[test]
    fn every_documented_option_of_charge_is_accepted() {
        let lines = lines_with_each_option(&CHARGE, &["k", "10", "60", "-3"]);
        // ALGORITHM x4, BURST, MS
        assert_eq!(lines.len(), 6, "{lines:?}");
        for line in &lines {
            parses(|a| parse_charge(a).is_ok(), line);
        }
    }

    #[test]
    fn documented_throttle_forms_are_accepted() {
        let lines = lines_with_each_option(&THROTTLE, &["k", "15", "30", "60"]);
        assert_eq!(lines.len(), 1);
        for line in &lines {
            parses(|a| parse_throttle(a).is_ok(), line);
        }
        parses(
            |a| parse_throttle(a).is_ok(),
            &["k", "15", "30", "60"].map(String::from),
        );
    }

    #[test]
    fn arity_counts_the_required_arguments() {
        for doc in [CHECK, PEEK, MCHECK, CHARGE, THROTTLE] {
            let required = doc.args.iter().filter(|a| !a.optional);
            let count: i32 = required
                .map(|a| match a.kind {
                    ArgType::Block => a.subargs.len() as i32,
                    _ => 1,
                })
                .sum();
            assert_eq!(doc.arity, -(count + 1), "{:?}", doc.name);
        }
    }

    #[test]
    fn names_are_lower_case_and_every_doc_is_filled_in() {
        for doc in [CHECK, PEEK, MCHECK, CHARGE, THROTTLE] {
            let name = text(doc.name);
            assert_eq!(name, name.to_lowercase());
            assert!(!text(doc.summary).is_empty());
            assert!(!text(doc.complexity).is_empty());
            assert!(!text(doc.since).is_empty());
            let keys = doc
                .args
                .iter()
                .chain(doc.args.iter().flat_map(|a| a.subargs))
                .filter(|a| matches!(a.kind, ArgType::Key { .. }))
                .count();
            assert_eq!(keys, 1, "{name}: one key argument (repeated for MCHECK)");
        }
    }
}
