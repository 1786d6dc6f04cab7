//! The script library held against the module, call for call: the same sequences of
//! requests (costs, bursts, limit and window changes, time passing, keys expiring) on
//! two sets of keys, one counted by the module and one by the script, must get the
//! same replies and leave the same bytes with the same expiry, for every algorithm.
//!
//! Both read one clock. The module is the `test-hooks` build, whose
//! `RATELIMIT.TESTCLOCK ns` sets the instant every command reads; the library's
//! `clock` function, the one place it reads TIME, is replaced by one that asks
//! `RATELIMIT.TESTCLOCK` (the test checks that exactly that function changed). With
//! the clock in the test's hands, times are any nanosecond, not only whole
//! microseconds as TIME gives, so GCRA's exact arithmetic is tried everywhere.
//!
//! The clock runs a day ahead of the server's, so keys written with that clock's
//! expiries never expire under the test; an `Expire` step deletes them instead.
//!
//! Ignored in the normal run (the release module has no test clock); `make test` runs
//! it against the test-hooks build on Redis 6.2 (EVALSHA), 7.0 and Valkey 9 (FCALL).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use redis::{Connection, Value};

use crate::script::{outcome, Lib, SOURCE};
use crate::server::{with_module, Server};
use crate::util::*;

const SHIPPED_CLOCK: &str = "local function clock()
  local t = rcall('TIME')
  local s, us = t[1], tonumber_(t[2])
  if s ~= clock_s then clock_s, clock_ms = s, tonumber_(s) * 1000 end
  local within = us % 1000
  return clock_ms + (us - within) / 1000, within * 1000
end";

const TEST_CLOCK: &str = "local function clock()
  local t = redis.call('ratelimit.testclock')
  return t[1], t[2]
end";

/// The shipped source with its clock reading the module's test clock.
fn source_on_test_clock() -> String {
    assert_eq!(
        SOURCE.matches(SHIPPED_CLOCK).count(),
        1,
        "lua/ratelimit.lua reads the clock in one function, as this test expects"
    );
    assert_eq!(SOURCE.matches("'TIME'").count(), 1);
    SOURCE.replace(SHIPPED_CLOCK, TEST_CLOCK)
}

const MAX_LIMIT: u64 = 1_000_000_000_000;
const MAX_WINDOW_MS: u64 = 315_576_000_000;
const MAX_LOG_LIMIT: u64 = 4096;

#[derive(Clone, Copy, Debug)]
struct Params {
    limit: u64,
    window_ms: u64,
    burst: Option<u64>,
}

#[derive(Clone, Debug)]
enum Op {
    Check(u64),
    Peek(u64),
    /// The key and a second one with a limit of its own, all or nothing; with
    /// `COSTS`, each its own cost.
    Mcheck(u64, Option<(u64, u64)>),
    /// A cost known after the request, or a refund.
    Charge(i64),
    Advance(u64),
    Retune(Params),
    Expire,
}

#[derive(Clone, Debug)]
struct Case {
    algorithm: &'static str,
    start: Params,
    /// The second MCHECK key's limit.
    other: Params,
    /// Nanoseconds past the whole millisecond at the start.
    jitter: u64,
    ops: Vec<Op>,
}

/// Limits of everyday size, where most decisions turn on the counts.
fn small_params(algorithm: &'static str) -> impl Strategy<Value = Params> {
    let burst = if algorithm == "GCRA" {
        prop::option::of(1u64..=15).boxed()
    } else {
        Just(None).boxed()
    };
    (
        1u64..=12,
        prop_oneof![1u64..=2_000, 1_000u64..=120_000],
        burst,
    )
        .prop_map(|(limit, window_ms, burst)| Params {
            limit,
            window_ms,
            burst,
        })
}

/// Anything up to the bounds, where the arithmetic passes 2^53 in Lua's doubles.
fn extreme_params(algorithm: &'static str) -> impl Strategy<Value = Params> {
    let cap = if algorithm == "LOG" {
        MAX_LOG_LIMIT
    } else {
        MAX_LIMIT
    };
    let limit = prop_oneof![Just(1u64), Just(cap), 1..=cap, Just(cap.min(1 << 32))];
    let window = prop_oneof![Just(1u64), Just(MAX_WINDOW_MS), 1..=MAX_WINDOW_MS];
    let burst = if algorithm == "GCRA" {
        prop::option::of(prop_oneof![Just(1u64), Just(MAX_LIMIT), 1..=MAX_LIMIT]).boxed()
    } else {
        Just(None).boxed()
    };
    (limit, window, burst).prop_map(|(limit, window_ms, burst)| Params {
        limit,
        window_ms,
        burst,
    })
}

fn ops(params: BoxedStrategy<Params>, extreme: bool) -> impl Strategy<Value = Vec<Op>> {
    let cost = if extreme {
        prop_oneof![0u64..=3, Just(MAX_LIMIT), 0..=MAX_LIMIT, 0u64..=5_000].boxed()
    } else {
        (0u64..=15).boxed()
    };
    // Steps of any size (the longest half a ten-year window: forty of them stay
    // within the u64 nanoseconds the module keeps).
    let advance = if extreme {
        prop_oneof![0u64..=2_000_000, 0..=MAX_WINDOW_MS / 2 * 1_000_000].boxed()
    } else {
        prop_oneof![0u64..=3_000_000, 0u64..=250_000_000_000].boxed()
    };
    let amount = if extreme {
        prop_oneof![
            -3i64..=3,
            Just(MAX_LIMIT as i64),
            Just(-(MAX_LIMIT as i64)),
            -(MAX_LIMIT as i64)..=MAX_LIMIT as i64,
        ]
        .boxed()
    } else {
        (-15i64..=15).boxed()
    };
    let costs = prop::option::of((cost.clone(), cost.clone()));
    let op = prop_oneof![
        4 => cost.clone().prop_map(Op::Check),
        1 => cost.clone().prop_map(Op::Peek),
        1 => (cost, costs).prop_map(|(c, costs)| Op::Mcheck(c, costs)),
        2 => amount.prop_map(Op::Charge),
        3 => advance.prop_map(Op::Advance),
        1 => params.prop_map(Op::Retune),
        1 => Just(Op::Expire),
    ];
    prop::collection::vec(op, 1..40)
}

fn case(algorithm: &'static str, extreme: bool) -> BoxedStrategy<Case> {
    let params = if extreme {
        extreme_params(algorithm).boxed()
    } else {
        small_params(algorithm).boxed()
    };
    (
        params.clone(),
        params.clone(),
        0u64..1_000_000,
        ops(params, extreme),
    )
        .prop_map(move |(start, other, jitter, ops)| Case {
            algorithm,
            start,
            other,
            jitter,
            ops,
        })
        .boxed()
}

/// `MS ALGORITHM a [COST c] [BURST b]`: the options' words.
fn options(algorithm: &str, p: Params, cost: Option<u64>) -> Vec<String> {
    let mut words = vec!["MS".to_string(), "ALGORITHM".into(), algorithm.into()];
    if let Some(cost) = cost {
        words.extend(["COST".to_string(), cost.to_string()]);
    }
    if let Some(b) = p.burst {
        words.extend(["BURST".to_string(), b.to_string()]);
    }
    words
}

fn query(c: &mut Connection, words: &[String]) -> Result<Value, String> {
    let mut cmd = redis::cmd(&words[0]);
    cmd.arg(&words[1..]);
    outcome(cmd.query(c))
}

fn bytes(words: &[String]) -> Vec<&[u8]> {
    words.iter().map(|w| w.as_bytes()).collect()
}

/// A key's bytes and expiry, as they must agree between the two (the expiry exactly
/// where the server tells it: see `Snap`).
fn stored(c: &mut Connection, key: &str) -> Snap {
    snapshot(c, key.as_bytes())
}

struct Oracle {
    server: Server,
    lib: Lib,
    case_id: std::cell::Cell<u64>,
}

impl Oracle {
    fn new() -> Oracle {
        // The test-hooks build, loaded without the run's options: the two sides
        // compare bytes, and the script writes the binary form.
        let server = with_module(&[]).start();
        let mut c = server.client();
        redis::cmd("RATELIMIT.TESTCLOCK")
            .query::<Value>(&mut c)
            .expect("the module built with --features test-hooks (make script-oracle)");
        let lib = Lib::load(&mut c, &source_on_test_clock());
        Oracle {
            server,
            lib,
            case_id: std::cell::Cell::new(0),
        }
    }

    fn set_clock(c: &mut Connection, ns: u64) {
        redis::cmd("RATELIMIT.TESTCLOCK")
            .arg(ns)
            .query::<Value>(c)
            .unwrap();
    }

    /// Runs one case; `Err` names the first step where the two differ.
    fn run(&self, case: &Case) -> Result<(), TestCaseError> {
        let id = self.case_id.get() + 1;
        self.case_id.set(id);
        let mut c = self.server.client();
        let (m, m2, s, s2) = (
            format!("m:{id}"),
            format!("m2:{id}"),
            format!("s:{id}"),
            format!("s2:{id}"),
        );
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut c).unwrap();
        // A day ahead of the server's clock (see the module doc), at any nanosecond.
        let mut now = (secs * 1000 + micros / 1000 + 86_400_000) * 1_000_000 + case.jitter;
        Oracle::set_clock(&mut c, now);
        let alg = case.algorithm;
        let mut p = case.start;
        for (step, op) in case.ops.iter().enumerate() {
            let at = format!("step {step} ({op:?}) with {p:?}");
            match *op {
                Op::Advance(ns) => {
                    now += ns;
                    Oracle::set_clock(&mut c, now);
                    continue;
                }
                Op::Retune(q) => {
                    p = q;
                    continue;
                }
                Op::Expire => {
                    redis::cmd("DEL")
                        .arg(&[&m, &m2, &s, &s2])
                        .query::<()>(&mut c)
                        .unwrap();
                    continue;
                }
                Op::Check(cost) | Op::Peek(cost) => {
                    let command = if matches!(op, Op::Check(_)) {
                        "check"
                    } else {
                        "peek"
                    };
                    let mut module = vec![
                        format!("RATELIMIT.{}", command.to_uppercase()),
                        m.clone(),
                        p.limit.to_string(),
                        p.window_ms.to_string(),
                    ];
                    module.extend(options(alg, p, Some(cost)));
                    let by_module = query(&mut c, &module);
                    let args = bytes(&module[2..]);
                    let by_script = outcome(self.lib.call(&mut c, command, &[s.as_bytes()], &args));
                    prop_assert_eq!(&by_script, &by_module, "{}", at);
                }
                Op::Charge(amount) => {
                    let mut module = vec![
                        "RATELIMIT.CHARGE".to_string(),
                        m.clone(),
                        p.limit.to_string(),
                        p.window_ms.to_string(),
                        amount.to_string(),
                    ];
                    module.extend(options(alg, p, None));
                    let by_module = query(&mut c, &module);
                    let args = bytes(&module[2..]);
                    let by_script =
                        outcome(self.lib.call(&mut c, "charge", &[s.as_bytes()], &args));
                    prop_assert_eq!(&by_script, &by_module, "{}", at);
                }
                Op::Mcheck(cost, costs) => {
                    let o = case.other;
                    let mut module = vec![
                        "RATELIMIT.MCHECK".to_string(),
                        "2".into(),
                        m.clone(),
                        p.limit.to_string(),
                        p.window_ms.to_string(),
                        m2.clone(),
                        o.limit.to_string(),
                        o.window_ms.to_string(),
                    ];
                    // One set of options for both limits: the first's burst; with
                    // COSTS, each limit's cost instead of COST.
                    let mut opts = options(alg, p, costs.is_none().then_some(cost));
                    if let Some((c1, c2)) = costs {
                        opts.extend(["COSTS".to_string(), c1.to_string(), c2.to_string()]);
                    }
                    module.extend(opts.clone());
                    let by_module = query(&mut c, &module);
                    let mut args = vec![
                        p.limit.to_string(),
                        p.window_ms.to_string(),
                        o.limit.to_string(),
                        o.window_ms.to_string(),
                    ];
                    args.extend(opts);
                    let by_script = outcome(self.lib.call(
                        &mut c,
                        "mcheck",
                        &[s.as_bytes(), s2.as_bytes()],
                        &bytes(&args),
                    ));
                    prop_assert_eq!(&by_script, &by_module, "{}", at);
                }
            }
            prop_assert_eq!(stored(&mut c, &s), stored(&mut c, &m), "{}: state", at);
            prop_assert_eq!(stored(&mut c, &s2), stored(&mut c, &m2), "{}: state", at);
        }
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("SCRIPT_ORACLE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

fn hold(algorithm: &'static str) {
    let oracle = Oracle::new();
    for extreme in [false, true] {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&case(algorithm, extreme), |case| oracle.run(&case))
            .unwrap_or_else(|e| panic!("{algorithm} (extreme: {extreme}): {e}"));
    }
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make script-oracle)"]
fn fixed_decides_as_the_module_does() {
    hold("FIXED");
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make script-oracle)"]
fn sliding_decides_as_the_module_does() {
    hold("SLIDING");
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make script-oracle)"]
fn gcra_decides_as_the_module_does() {
    hold("GCRA");
}

#[test]
#[ignore = "needs the module built with --features test-hooks (make script-oracle)"]
fn log_decides_as_the_module_does() {
    hold("LOG");
}
