//! The script library (`lua/ratelimit.lua`), on servers with and without the module:
//! the same replies and errors as the module's commands, the module's state layout in
//! both directions, effects-only replication, and denied calls that write nothing.
//!
//! Redis 7.0+ and Valkey take it as the function library `ratelimit` (FCALL); Redis 6.2
//! through EVALSHA. The call-for-call property test against the module is
//! `script_oracle`.

use redis::{Connection, Value};

use crate::server::{binary_version, module_path, suite_load_args, with_module, Server, Start};
use crate::util::*;

/// The library's source, as shipped.
pub const SOURCE: &str = include_str!("../../lua/ratelimit.lua");

/// The source without its first line (`#!lua name=ratelimit`), for EVAL.
pub fn eval_source(source: &str) -> &str {
    source.split_once('\n').map_or(source, |(_, rest)| rest)
}

/// How a test calls the library on one server.
#[derive(Clone, Debug)]
pub enum Lib {
    /// `FUNCTION LOAD`ed: FCALL / FCALL_RO.
    Functions,
    /// `EVALSHA` of the source without its first line.
    Script { sha: String },
}

impl Lib {
    /// Functions where the server has them (7.0+), else the script.
    pub fn load(c: &mut Connection, source: &str) -> Lib {
        if binary_version() >= (7, 0) {
            Lib::functions(c, source)
        } else {
            Lib::script(c, source)
        }
    }

    pub fn functions(c: &mut Connection, source: &str) -> Lib {
        let name: String = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg("REPLACE")
            .arg(source)
            .query(c)
            .expect("FUNCTION LOAD");
        assert_eq!(name, "ratelimit");
        Lib::Functions
    }

    pub fn script(c: &mut Connection, source: &str) -> Lib {
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(eval_source(source))
            .query(c)
            .expect("SCRIPT LOAD");
        Lib::Script { sha }
    }

    /// `command` (check, peek, mcheck) on `keys` with `args`, as the library takes it.
    pub fn cmd(&self, command: &str, keys: &[&[u8]], args: &[&[u8]]) -> redis::Cmd {
        let mut cmd;
        match self {
            Lib::Functions => {
                cmd = redis::cmd(if command == "peek" {
                    "FCALL_RO"
                } else {
                    "FCALL"
                });
                cmd.arg(format!("ratelimit_{command}"))
                    .arg(keys.len())
                    .arg(keys)
                    .arg(args);
            }
            Lib::Script { sha } => {
                cmd = redis::cmd("EVALSHA");
                cmd.arg(sha)
                    .arg(keys.len())
                    .arg(keys)
                    .arg(command)
                    .arg(args);
            }
        }
        cmd
    }

    pub fn call(
        &self,
        c: &mut Connection,
        command: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> redis::RedisResult<Value> {
        self.cmd(command, keys, args).query(c)
    }

    /// A one-key command line `key limit window [options]`, split on spaces.
    pub fn one(&self, c: &mut Connection, command: &str, line: &str) -> redis::RedisResult<Value> {
        let words = words(line);
        self.call(c, command, &words[..1], &words[1..])
    }
}

/// A reply or an error, as "CODE detail", for comparing two implementations.
pub fn outcome(r: redis::RedisResult<Value>) -> Result<Value, String> {
    r.map_err(|e| format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")))
}

fn ints(v: &Value) -> Vec<i64> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(n) => *n,
                other => panic!("not an integer: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// The module's equivalent of a library call: `RATELIMIT.<COMMAND> key limit window ...`.
fn module_line(command: &str, line: &str) -> String {
    format!("RATELIMIT.{} {line}", command.to_ascii_uppercase())
}

const ALGORITHMS: [&str; 4] = ["FIXED", "SLIDING", "GCRA", "LOG"];

/// `MODULE LOAD` with the run's load arguments (a compact run loads compact).
fn module_load(c: &mut Connection) {
    redis::cmd("MODULE")
        .arg("LOAD")
        .arg(module_path().display().to_string())
        .arg(suite_load_args())
        .query::<()>(c)
        .expect("MODULE LOAD");
}

/// One library call that must be allowed, its first three integers.
fn allowed(lib: &Lib, c: &mut Connection, command: &str, line: &str) -> Vec<i64> {
    ints(&lib.one(c, command, line).unwrap())[..3].to_vec()
}

#[test]
fn a_key_counted_by_the_script_is_continued_by_the_module_and_back() {
    let s = Server::without_module();
    let mut c = s.client();
    let lib = Lib::load(&mut c, SOURCE);
    // Before the module is there, the script counts two of five on each algorithm.
    for alg in ALGORITHMS {
        let line = format!("k:{alg} 5 3600 ALGORITHM {alg}");
        assert_eq!(allowed(&lib, &mut c, "check", &line), [1, 5, 4], "{alg}");
        assert_eq!(allowed(&lib, &mut c, "check", &line), [1, 5, 3], "{alg}");
    }
    // Loaded at run time (as the run loads it: compact or not), the module goes on
    // from those counts, and the script goes on from the module's.
    module_load(&mut c);
    for alg in ALGORITHMS {
        let line = format!("k:{alg} 5 3600 ALGORITHM {alg}");
        assert_eq!(
            five(&mut c, &module_line("check", &line))[..3],
            [1, 5, 2],
            "{alg}"
        );
        assert_eq!(allowed(&lib, &mut c, "check", &line), [1, 5, 1], "{alg}");
        assert_eq!(
            five(&mut c, &module_line("check", &line))[..3],
            [1, 5, 0],
            "{alg}"
        );
        let started = std::time::Instant::now();
        let by_script = ints(&lib.one(&mut c, "check", &line).unwrap());
        let by_module = five(&mut c, &module_line("peek", &line));
        assert_eq!(by_script[..3], [0, 5, 0], "{alg}");
        assert_eq!(by_module[..3], [0, 5, 0], "{alg}");
        // The same wait, up to the time that passed between the two calls.
        let between = started.elapsed().as_millis() as i64 + 1;
        assert!(
            (by_script[3] - by_module[3]).abs() <= between,
            "{alg}: script {by_script:?}, module {by_module:?}"
        );
    }
}

/// Command lines that every one-key command refuses, and keys that are not state.
const BAD_LINES: &[&str] = &[
    "k 0 60",
    "k 1000000000001 60",
    "k x 60",
    "k 010 60",
    "k -1 60",
    "k 18446744073709551616 60",
    "k 99999999999999999999 60",
    "k 10 0",
    "k 10 315576001",
    "k 10 0 MS",
    "k 10 315576000001 MS",
    "k 10 60 COST",
    "k 10 60 COST -1",
    "k 10 60 COST 1000000000001",
    "k 10 60 BURST 5",
    "k 10 60 ALGORITHM GCRA BURST 0",
    "k 10 60 ALGORITHM GCRA BURST 1000000000001",
    "k 5000 60 ALGORITHM LOG",
    "k 5000 60 algorithm log",
    "k 0 60 ALGORITHM LOG",
    "k 10 60 ALGORITHM BOGUS",
    "k 10 60 ALGORITHM",
    "k 10 60 BURST",
    "k 10 60 MS MS",
    "k 10 60 COST 1 COST 2",
    "k 10 60 ALGORITHM FIXED ALGORITHM GCRA",
    "k 10 60 ALGORITHM FIXED ALGORITHM NOPE",
    "k 10 60 BURST 2 BURST 3 ALGORITHM GCRA",
    "k 10 60 NOPE",
    "k 10 60 COST 1 NOPE",
    "k 10 x MS",
    "list 10 60",
    "hash 10 60",
    "text 10 60",
    "number 10 60",
    "fixed 5 60 ALGORITHM GCRA",
    "fixed 5 60 ALGORITHM SLIDING",
    "fixed 5 60 ALGORITHM LOG",
];

/// MCHECK lines for the module, and the same request as the library takes it: the
/// keys first, then `limit window` pairs and the options.
const BAD_MCHECKS: &[(&str, &[&str], &str)] = &[
    ("2 a 10 60", &["a", "b"], "10 60"),
    ("1 a 10 60 b 10 60", &["a"], "10 60 10 60"),
    ("2 a 10 60 a 5 60", &["a", "a"], "10 60 5 60"),
    ("2 a 10 60 b 0 60", &["a", "b"], "10 60 0 60"),
    (
        "2 a 10 60 b 10 60 BURST 2",
        &["a", "b"],
        "10 60 10 60 BURST 2",
    ),
    ("2 a 10 60 b 10 60 NOPE", &["a", "b"], "10 60 10 60 NOPE"),
    ("2 a 10 60 list 10 60", &["a", "list"], "10 60 10 60"),
    (
        "2 a 10 60 fixed 5 60 ALGORITHM LOG",
        &["a", "fixed"],
        "10 60 5 60 ALGORITHM LOG",
    ),
    (
        "2 list 10 60 fixed 5 60 ALGORITHM LOG",
        &["list", "fixed"],
        "10 60 5 60 ALGORITHM LOG",
    ),
    (
        "2 a 10 60 b 5000 60 ALGORITHM LOG",
        &["a", "b"],
        "10 60 5000 60 ALGORITHM LOG",
    ),
];

#[test]
fn bad_input_gets_the_modules_error_text_and_writes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    let lib = Lib::load(&mut c, SOURCE);
    put_foreign_values(&mut c);
    five(&mut c, "RATELIMIT.CHECK fixed 5 60");
    let dirty_before = dirty(&mut c);
    for line in BAD_LINES {
        for command in ["check", "peek"] {
            let module = outcome(run(&mut c, &words(&module_line(command, line))));
            let script = outcome(lib.one(&mut c, command, line));
            assert!(module.is_err(), "the module takes {command} {line}");
            assert_eq!(script, module, "{command} {line}");
        }
    }
    for (module_args, keys, pairs) in BAD_MCHECKS {
        let module = outcome(run(
            &mut c,
            &words(&format!("RATELIMIT.MCHECK {module_args}")),
        ));
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let script = outcome(lib.call(&mut c, "mcheck", &keys, &words(pairs)));
        assert!(module.is_err(), "the module takes MCHECK {module_args}");
        assert_eq!(script, module, "MCHECK {module_args}");
    }
    // More limits than MCHECK takes.
    let keys: Vec<String> = (0..65).map(|i| format!("many{i}")).collect();
    let mut module_line = vec!["RATELIMIT.MCHECK".to_string(), "65".into()];
    let mut pairs = vec![];
    for k in &keys {
        module_line.extend([k.clone(), "10".into(), "60".into()]);
        pairs.extend(["10", "60"]);
    }
    let module_words: Vec<&[u8]> = module_line.iter().map(|w| w.as_bytes()).collect();
    let key_words: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
    let pair_words: Vec<&[u8]> = pairs.iter().map(|p| p.as_bytes()).collect();
    assert_eq!(
        outcome(lib.call(&mut c, "mcheck", &key_words, &pair_words)),
        outcome(run(&mut c, &module_words))
    );
    // Too few arguments: Redis's arity error for the module, the same words naming the
    // function for the library.
    let module = error(&mut c, "RATELIMIT.CHECK k 10");
    let script = outcome(lib.one(&mut c, "check", "k 10")).unwrap_err();
    assert_eq!(
        script.to_lowercase(),
        module
            .to_lowercase()
            .replace("ratelimit.check", "ratelimit_check")
    );
    // One key, as the command takes.
    let two_keys = outcome(lib.call(&mut c, "check", &[b"a", b"b"], &words("10 60")));
    assert_eq!(
        two_keys.unwrap_err(),
        "ERR ratelimit_check takes exactly one key"
    );
    assert_eq!(dirty(&mut c), dirty_before, "nothing was written");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&["k", "a", "b", "many0"])
        .query(&mut c)
        .unwrap();
    assert_eq!(exists, 0);
}

/// Bytes of every file under `dir` (the AOF, whatever its layout).
fn bytes_under(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                bytes_under(&e.path())
            } else if e.file_name().to_string_lossy().contains("aof") {
                meta.len()
            } else {
                0
            }
        })
        .sum()
}

#[test]
fn a_denied_call_writes_nothing_and_an_allowed_one_replicates_its_effects() {
    let primary = Server::builder().aof().start();
    let replica = Server::builder().replica_of(&primary).start();
    let mut p = primary.client();
    let mut r = replica.client();
    let lib = Lib::load(&mut p, SOURCE);
    wait_for_replica(&mut p, &mut r);
    let keys: Vec<String> = ALGORITHMS.iter().map(|a| format!("e:{a}")).collect();
    for (alg, key) in ALGORITHMS.iter().zip(&keys) {
        let line = format!("{key} 3 60 ALGORITHM {alg} COST 2");
        assert_eq!(allowed(&lib, &mut p, "check", &line)[0], 1);
    }
    let pair: [&[u8]; 2] = [b"{e}:one", b"{e}:two"];
    let reply = lib
        .call(&mut p, "mcheck", &pair, &words("3 60 5 3600 COST 2"))
        .unwrap();
    assert_eq!(
        ints(&match reply {
            Value::Array(items) => items[1].clone(),
            other => panic!("{other:?}"),
        })[..3],
        [1, 3, 1]
    );
    wait_for_replica(&mut p, &mut r);
    let all: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).chain(pair).collect();
    for key in &all {
        let on_primary = snapshot(&mut p, key);
        assert!(on_primary.value.is_some());
        assert_eq!(
            snapshot(&mut r, key),
            on_primary,
            "{}",
            String::from_utf8_lossy(key)
        );
    }
    // Denied calls, COST 0, PEEK and a denied MCHECK write nothing: no change to the
    // dataset or the AOF, and a WATCH on the keys stays valid.
    let dirty_before = dirty(&mut p);
    let aof_before = bytes_under(primary.dir());
    let mut watcher = primary.client();
    redis::cmd("WATCH")
        .arg(&all)
        .query::<()>(&mut watcher)
        .unwrap();
    for (alg, key) in ALGORITHMS.iter().zip(&keys) {
        let line = format!("{key} 3 60 ALGORITHM {alg} COST 2");
        assert_eq!(
            ints(&lib.one(&mut p, "check", &line).unwrap())[0],
            0,
            "{alg}"
        );
        let zero = format!("{key} 3 60 ALGORITHM {alg} COST 0");
        assert_eq!(
            ints(&lib.one(&mut p, "check", &zero).unwrap())[0],
            1,
            "{alg}"
        );
        assert_eq!(
            ints(&lib.one(&mut p, "peek", &line).unwrap())[0],
            0,
            "{alg}"
        );
    }
    let denied = lib
        .call(&mut p, "mcheck", &pair, &words("3 60 5 3600 COST 2"))
        .unwrap();
    assert_eq!(
        ints(&match denied {
            Value::Array(items) => Value::Array(items[..1].to_vec()),
            other => panic!("{other:?}"),
        }),
        [0]
    );
    assert_eq!(dirty(&mut p), dirty_before);
    assert_eq!(bytes_under(primary.dir()), aof_before);
    redis::cmd("MULTI").query::<()>(&mut watcher).unwrap();
    redis::cmd("PING").query::<()>(&mut watcher).unwrap();
    let exec: Value = redis::cmd("EXEC").query(&mut watcher).unwrap();
    assert_ne!(exec, Value::Nil, "the WATCH held");
    // The AOF alone rebuilds the same keys with the same absolute expiries.
    let snapshots: Vec<Snap> = all.iter().map(|k| snapshot(&mut p, k)).collect();
    drop(r);
    drop(replica);
    let dir = primary.crash_keep_dir();
    let reloaded = Server::builder().aof().start_in(dir);
    let mut l = reloaded.client();
    for (key, snap) in all.iter().zip(&snapshots) {
        assert_eq!(&snapshot(&mut l, key), snap);
    }
}

/// One call of the extreme GCRA below, through the library (`Some`) or the module.
fn deep_gcra(
    lib: Option<&Lib>,
    c: &mut Connection,
    command: &str,
    key: &str,
    cost: u64,
) -> Vec<i64> {
    let line = format!("{key} 38145 8807891969 MS ALGORITHM GCRA BURST 750000000000 COST {cost}");
    match lib {
        Some(lib) => ints(&lib.one(c, command, &line).unwrap()),
        None => five(c, &module_line(command, &line)).to_vec(),
    }
}

/// Where a GCRA bucket is deeper than the u64 nanosecond clock has left (limit 38145
/// per 8,807,891,969 ms with BURST 7.5e11), a CHECK passes exactly when PEEK's
/// `remaining` says the cost fits, in the module and in the library alike: a larger
/// cost never passes (retry -1), however far past the clock's end it reaches.
#[test]
fn gcra_check_and_peek_agree_past_the_end_of_the_clock() {
    let s = with_module(&[]).start();
    let mut c = s.client();
    let lib = Lib::load(&mut c, SOURCE);
    for (side, lib) in [("module", None), ("script", Some(&lib))] {
        // `remaining` drops by one every 231 s of the clock: a step between PEEK and
        // CHECK is seen, and tried again (bounded).
        let mut agreed = false;
        for attempt in 0..3 {
            let key = format!("{side}:{attempt}");
            let left = deep_gcra(lib, &mut c, "peek", &key, 0)[2] as u64;
            assert!(left > 60_000_000 && left < 100_000_000, "{side}: {left}");
            let over = deep_gcra(lib, &mut c, "check", &key, left + 1);
            assert_eq!((over[0], over[3]), (0, -1), "{side}: one more never passes");
            let far = deep_gcra(lib, &mut c, "check", &key, 4_300_000_000);
            assert_eq!((far[0], far[3]), (0, -1), "{side}");
            let fits = deep_gcra(lib, &mut c, "check", &key, left);
            if fits[0] == 1 {
                assert_eq!(fits[2], 0, "{side}: it took all that was left");
                agreed = true;
                break;
            }
            assert!(
                (deep_gcra(lib, &mut c, "peek", &key, 0)[2] as u64) < left,
                "{side}"
            );
        }
        assert!(agreed, "{side}: CHECK never took what PEEK said was left");
    }
}

#[test]
fn binary_keys_and_the_version() {
    let s = Server::without_module();
    let mut c = s.client();
    let lib = Lib::load(&mut c, SOURCE);
    for key in [&b""[..], b"\xff\x00\xfe", "\u{e9}t\u{e9}".as_bytes()] {
        let first = ints(&lib.call(&mut c, "check", &[key], &words("2 60")).unwrap());
        assert_eq!(first[..3], [1, 2, 1]);
        let second = ints(&lib.call(&mut c, "check", &[key], &words("2 60")).unwrap());
        assert_eq!(second[..3], [1, 2, 0]);
    }
    let version: String = match &lib {
        Lib::Functions => redis::cmd("FCALL_RO")
            .arg("ratelimit_version")
            .arg(0)
            .query(&mut c)
            .unwrap(),
        Lib::Script { sha } => redis::cmd("EVALSHA")
            .arg(sha)
            .arg(0)
            .arg("version")
            .query(&mut c)
            .unwrap(),
    };
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    // Redis 7.0+ also take the source as a script.
    if binary_version() >= (7, 0) {
        let script = Lib::script(&mut c, SOURCE);
        let r = ints(
            &script
                .call(&mut c, "check", &[b"k"], &words("2 60"))
                .unwrap(),
        );
        assert_eq!(r[..3], [1, 2, 1]);
    }
}

/// The library's own arithmetic, called from a test script: the source as EVAL runs it,
/// with its EVAL shortcuts and dispatch taken out and its rare helpers made, then a
/// dispatch over ARGV to the helper named first.
fn kernel_script() -> String {
    let body = eval_source(SOURCE);
    let shortcut = "if not redis.register_function and ARGV[1] == 'check' then";
    assert_eq!(body.matches(shortcut).count(), 2);
    let dispatch = "-- EVAL / EVALSHA: the command's name comes first";
    assert_eq!(body.matches(dispatch).count(), 1);
    let library = body[..body.find(dispatch).unwrap()].replace(shortcut, "if false then");
    format!(
        "{library}
bind()
rare()
local f, a = ARGV[1], {{}}
for i = 2, #ARGV do a[i - 1] = tonumber(ARGV[i]) end
if f == 'muldiv' then return {{ muldiv(a[1], a[2], a[3]), muldiv_ceil(a[1], a[2], a[3]) }} end
if f == 'interval' then return {{ R.interval(a[1], a[2]) }} end
if f == 't_mul' then
  local m, n, over = R.t_mul(a[1], a[2], a[3])
  return {{ m, n, over and 1 or 0 }}
end
if f == 't_add' then return {{ R.t_add(a[1], a[2], a[3], a[4]) }} end
if f == 't_sub' then return {{ R.t_sub(a[1], a[2], a[3], a[4]) }} end
if f == 't_quotient' then return {{ R.t_quotient(a[1], a[2], a[3], a[4], a[5]) }} end
if f == 'pack_time' then return string.sub(gcra_value(a[1], a[2]), 2) end
if f == 'read_time' then return {{ time_of(struct.unpack('<I4I4', ARGV[2])) }} end
if f == 'compact_bits' then return {{ R.compact_bits(ARGV[2]) }} end
return redis.error_reply('ERR no such helper')"
    )
}

mod arithmetic {
    //! Where Lua's doubles are not exact (products and quotients past 2^53, u64
    //! nanoseconds), the library's helpers against u128 arithmetic, over their whole
    //! ranges with the boundaries favoured.

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;

    const NS: u128 = 1_000_000;

    fn split(t: u64) -> (u64, u64) {
        (t / 1_000_000, t % 1_000_000)
    }

    fn edge(max: u64) -> BoxedStrategy<u64> {
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(max),
            Just(max - 1),
            (0..=max),
            (0..=40u32).prop_map(move |b| (1u64 << b).min(max)),
        ]
        .boxed()
    }

    struct Helpers {
        _server: Server,
        c: std::cell::RefCell<Connection>,
        script: String,
    }

    impl Helpers {
        fn new() -> Helpers {
            let server = Server::without_module();
            let c = std::cell::RefCell::new(server.client());
            Helpers {
                _server: server,
                c,
                script: kernel_script(),
            }
        }

        fn call<T: redis::FromRedisValue>(&self, helper: &str, args: &[String]) -> T {
            redis::cmd("EVAL")
                .arg(&self.script)
                .arg(0)
                .arg(helper)
                .arg(args)
                .query(&mut *self.c.borrow_mut())
                .unwrap_or_else(|e| panic!("{helper} {args:?}: {e}"))
        }
    }

    fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value)) {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |v| {
                test(v);
                Ok(())
            })
            .unwrap();
    }

    fn strings(values: &[u64]) -> Vec<String> {
        values.iter().map(u64::to_string).collect()
    }

    #[test]
    fn products_and_quotients_past_2_53_are_exact() {
        let h = Helpers::new();
        let below = |bits: u32| edge((1u64 << bits) - 1);
        // Large factors over large divisors, and products past 2^53 over small ones
        // (where a double quotient is furthest off).
        let muldiv = prop_oneof![
            (below(49), below(49), below(49)),
            (below(31), below(31), 1u64..=65_536),
        ]
        .prop_filter("a quotient below 2^53", |&(a, b, c)| {
            c > 0 && u128::from(a) * u128::from(b) / u128::from(c) < 1 << 53
        });
        run(1000, muldiv, |(a, b, c)| {
            let p = u128::from(a) * u128::from(b);
            let floor = (p / u128::from(c)) as u64;
            let ceil = p.div_ceil(u128::from(c)) as u64;
            let got: Vec<u64> = h.call("muldiv", &strings(&[a, b, c]));
            assert_eq!(got, [floor, ceil], "muldiv({a}, {b}, {c})");
        });
        // Anything in bounds, and windows just short of a multiple of the limit, where
        // the nanoseconds round up to a whole millisecond.
        let interval = prop_oneof![
            (edge(1_000_000_000_000), edge(315_576_000_000)),
            (1_000_001u64..=100_000_000_000, 0u64..=3).prop_map(|(l, k)| (l, l * k + l - 1)),
        ]
        .prop_filter("bounds", |&(l, w)| l > 0 && w > 0 && w <= 315_576_000_000);
        run(1000, interval, |(l, w)| {
            let t = (u128::from(w) * NS).div_ceil(u128::from(l)) as u64;
            let got: Vec<u64> = h.call("interval", &strings(&[l, w]));
            assert_eq!(got, [t / 1_000_000, t % 1_000_000], "interval({l}, {w})");
        });
    }

    #[test]
    fn nanosecond_times_add_up_beyond_2_53() {
        let h = Helpers::new();
        let product = (edge(1_000_000_000_002), edge(u64::MAX));
        run(1000, product, |(k, t)| {
            let (tm, tn) = split(t);
            let exact = u128::from(k) * u128::from(t);
            let over = exact > u128::from(u64::MAX);
            let capped = exact.min(u128::from(u64::MAX)) as u64;
            let got: Vec<u64> = h.call("t_mul", &strings(&[k, tm, tn]));
            let (m, n) = split(capped);
            assert_eq!(got, [m, n, u64::from(over)], "{k} * {t}");
        });
        let carries = prop_oneof![
            (edge(u64::MAX), edge(u64::MAX)),
            // Nanosecond parts that add up to exactly one millisecond.
            (0u64..1 << 60, 0u64..1_000_000)
                .prop_map(|(a, n)| (a, (a % 1_000_000).abs_diff(1_000_000) + n * 1_000_000)),
        ];
        run(1000, carries, |(a, b)| {
            let (am, an) = split(a);
            let (bm, bn) = split(b);
            let sum: Vec<u64> = h.call("t_add", &strings(&[am, an, bm, bn]));
            let (m, n) = split(a.saturating_add(b));
            assert_eq!(sum, [m, n], "{a} + {b}");
            let (hi, lo) = (a.max(b), a.min(b));
            let (hm, hn) = split(hi);
            let (lm, ln) = split(lo);
            let difference: Vec<u64> = h.call("t_sub", &strings(&[hm, hn, lm, ln]));
            let (m, n) = split(hi - lo);
            assert_eq!(difference, [m, n], "{hi} - {lo}");
        });
        let quotient = (edge(u64::MAX), edge(u64::MAX), edge(1_000_000_000_000))
            .prop_filter("a divisor", |&(_, t, _)| t > 0);
        run(1000, quotient, |(d, t, cap)| {
            let (dm, dn) = split(d);
            let (tm, tn) = split(t);
            let expected = (d / t).min(cap);
            let got: Vec<u64> = h.call("t_quotient", &strings(&[dm, dn, tm, tn, cap]));
            assert_eq!(got, [expected], "min({d} / {t}, {cap})");
        });
        run(1000, edge(u64::MAX), |t| {
            let (m, n) = split(t);
            let packed: Vec<u8> = h.call("pack_time", &strings(&[m, n]));
            assert_eq!(packed, t.to_le_bytes(), "pack {t}");
            let read: Vec<u64> = redis::cmd("EVAL")
                .arg(&h.script)
                .arg(0)
                .arg("read_time")
                .arg(&t.to_le_bytes()[..])
                .query(&mut *h.c.borrow_mut())
                .unwrap();
            assert_eq!(read, [m, n], "read {t}");
        });
    }

    #[test]
    fn compact_values_are_read_bit_for_bit() {
        let h = Helpers::new();
        let value = prop_oneof![
            Just(i64::MIN),
            Just(-1i64),
            i64::MIN..0,
            (0xA1u64..=0xA3)
                .prop_flat_map(|tag| (0..1u64 << 56).prop_map(move |p| ((tag << 56) | p) as i64)),
        ];
        run(1000, value, |v| {
            let bits = v as u64;
            let limbs = [bits & 0xFF_FFFF, (bits >> 24) & 0xFF_FFFF, bits >> 48];
            let got: Vec<u64> = h.call("compact_bits", &[v.to_string()]);
            assert_eq!(got, limbs, "{v}");
        });
        // Only the canonical text of a negative i64 is a compact value.
        for text in [
            "-0",
            "-01",
            "-",
            "-9223372036854775809",
            "-1x",
            "--1",
            "-12345678901234567890",
        ] {
            let got: Vec<u64> = h.call("compact_bits", &[text.to_string()]);
            assert!(got.is_empty(), "{text}: {got:?}");
        }
    }
}
