//! RATELIMIT.CHECK and RATELIMIT.PEEK with the FIXED algorithm: replies, expiry,
//! cost, flags, RESP3, bad input, dirty counter, WATCH, concurrency.

use std::thread::sleep;
use std::time::Duration;

use redis::Value;

use crate::server::{compact_run, Server, Start};
use crate::util::*;

#[test]
fn first_call_answers_allowed_limit_remaining_retry_reset() {
    let s = Server::start();
    let mut c = s.client();
    let r = five(&mut c, "RATELIMIT.CHECK user:1 10 60");
    assert_eq!(r[..4], [1, 10, 9, 0]);
    assert!(r[4] > 59_000 && r[4] <= 60_000, "{r:?}");
}

#[test]
fn ten_per_minute_then_denied_with_expiry_at_the_window_end() {
    let s = Server::start();
    let mut c = s.client();
    for i in 1..=10 {
        let r = five(&mut c, "RATELIMIT.CHECK user:2 10 60");
        assert_eq!(r[..4], [1, 10, 10 - i, 0], "call {i}");
    }
    let r = five(&mut c, "RATELIMIT.CHECK user:2 10 60");
    assert_eq!(r[..3], [0, 10, 0]);
    assert!(r[3] > 0 && r[3] <= 60_000, "retry_after_ms {r:?}");
    assert!(r[4] > 0 && r[4] <= 60_000, "reset_after_ms {r:?}");
    assert_eq!(r[3], r[4], "a FIXED window passes again when it resets");
    let pttl: i64 = redis::cmd("PTTL").arg("user:2").query(&mut c).unwrap();
    // The key lives exactly until the window ends: PTTL equals the reply's reset time,
    // give or take the milliseconds between the two commands.
    assert!(
        pttl <= r[4] && r[4] - pttl < 1_000,
        "pttl {pttl} reset {}",
        r[4]
    );
}

#[test]
fn cost_counts_that_many_units() {
    let s = Server::start();
    let mut c = s.client();
    assert_eq!(
        five(&mut c, "RATELIMIT.CHECK k 10 60 COST 4")[..3],
        [1, 10, 6]
    );
    assert_eq!(
        five(&mut c, "RATELIMIT.CHECK k 10 60 COST 6")[..3],
        [1, 10, 0]
    );
    assert_eq!(
        five(&mut c, "RATELIMIT.CHECK k 10 60 COST 1")[..3],
        [0, 10, 0]
    );
}

#[test]
fn cost_zero_counts_nothing_and_writes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    let r = five(&mut c, "RATELIMIT.CHECK fresh 10 60 COST 0");
    assert_eq!(r, [1, 10, 10, 0, 0]);
    let exists: i64 = redis::cmd("EXISTS").arg("fresh").query(&mut c).unwrap();
    assert_eq!(exists, 0, "COST 0 must not create the key");

    five(&mut c, "RATELIMIT.CHECK k 10 60 COST 3");
    let before = snapshot(&mut c, b"k");
    let dirty_before = dirty(&mut c);
    let r = five(&mut c, "RATELIMIT.CHECK k 10 60 COST 0");
    assert_eq!(r[..4], [1, 10, 7, 0]);
    assert_eq!(snapshot(&mut c, b"k"), before);
    assert_eq!(dirty(&mut c), dirty_before);
}

#[test]
fn cost_above_the_limit_is_denied_forever_and_writes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    let dirty_before = dirty(&mut c);
    let r = five(&mut c, "RATELIMIT.CHECK k 10 60 COST 11");
    assert_eq!(r, [0, 10, 10, -1, 0]);
    let exists: i64 = redis::cmd("EXISTS").arg("k").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(dirty(&mut c), dirty_before);
}

#[test]
fn millisecond_windows_reset_on_the_real_clock() {
    // The server's real clock (the other tests over time set a test clock). A window
    // of a second: two calls take far less, even under valgrind on a loaded machine.
    let s = Server::start();
    let mut c = s.client();
    let line = "RATELIMIT.CHECK fast 2 1000 MS";
    assert_eq!(five(&mut c, line)[0], 1);
    assert_eq!(five(&mut c, line)[0], 1);
    let denied = five(&mut c, line);
    assert_eq!(denied[0], 0);
    assert!(denied[3] > 0 && denied[3] <= 1000, "{denied:?}");
    sleep(Duration::from_millis(denied[3] as u64 + 20));
    assert_eq!(five(&mut c, line)[..3], [1, 2, 1]);
}

#[test]
fn peek_reports_without_writing() {
    let s = Server::start();
    let mut c = s.client();
    // Nothing counted yet: all 3 are left and the state is already full.
    assert_eq!(five(&mut c, "RATELIMIT.PEEK p 3 60"), [1, 3, 3, 0, 0]);
    let exists: i64 = redis::cmd("EXISTS").arg("p").query(&mut c).unwrap();
    assert_eq!(exists, 0, "PEEK must not create the key");
    five(&mut c, "RATELIMIT.CHECK p 3 60");
    let before = snapshot(&mut c, b"p");
    let dirty_before = dirty(&mut c);
    let r = five(&mut c, "RATELIMIT.PEEK p 3 60");
    // A request of cost 1 would pass now; 2 of 3 are left as things stand.
    assert_eq!(r[..4], [1, 3, 2, 0]);
    assert!(r[4] > 0 && r[4] <= 60_000);
    let r = five(&mut c, "RATELIMIT.PEEK p 3 60 COST 3");
    assert_eq!(r[..3], [0, 3, 2]);
    assert!(r[3] > 0 && r[3] == r[4], "{r:?}");
    assert_eq!(snapshot(&mut c, b"p"), before);
    assert_eq!(dirty(&mut c), dirty_before);
}

/// The flags and key positions of one command, from COMMAND INFO.
fn command_info(c: &mut redis::Connection, name: &str) -> (Vec<String>, Vec<i64>) {
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg(name)
        .query(c)
        .unwrap();
    let Value::Array(outer) = info else {
        panic!("{info:?}")
    };
    let Value::Array(fields) = &outer[0] else {
        panic!("{outer:?}")
    };
    let flags = match &fields[2] {
        Value::Array(f) | Value::Set(f) => f
            .iter()
            .map(|v| match v {
                Value::SimpleString(s) => s.clone(),
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    let positions = fields[3..6]
        .iter()
        .map(|v| match v {
            Value::Int(i) => *i,
            other => panic!("{other:?}"),
        })
        .collect();
    (flags, positions)
}

#[test]
fn flags_and_key_positions() {
    let s = Server::start();
    let mut c = s.client();
    for cmd in ["RATELIMIT.CHECK", "RATELIMIT.CHARGE"] {
        let (flags, keys) = command_info(&mut c, cmd);
        for f in ["write", "denyoom", "fast"] {
            assert!(flags.contains(&f.to_string()), "{cmd} flags {flags:?}");
        }
        assert_eq!(keys, [1, 1, 1], "{cmd}");
    }
    let (flags, keys) = command_info(&mut c, "RATELIMIT.PEEK");
    assert!(
        flags.contains(&"readonly".to_string()),
        "PEEK flags {flags:?}"
    );
    assert!(
        !flags.contains(&"write".to_string()),
        "PEEK flags {flags:?}"
    );
    assert_eq!(keys, [1, 1, 1]);
    for cmd in ["RATELIMIT.CHECK", "RATELIMIT.PEEK"] {
        let keys: Vec<String> = redis::cmd("COMMAND")
            .arg("GETKEYS")
            .arg(cmd)
            .arg("the-key")
            .arg(10)
            .arg(60)
            .arg("COST")
            .arg(2)
            .query(&mut c)
            .unwrap();
        assert_eq!(keys, ["the-key"]);
    }
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg(&["GETKEYS", "RATELIMIT.CHARGE", "the-key", "10", "60", "-5"])
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["the-key"]);
}

#[test]
fn resp3_replies_with_the_resp2_array() {
    let s = Server::start();
    let mut c = s.resp3_client();
    let reply: Value = redis::cmd("RATELIMIT.CHECK")
        .arg("r3")
        .arg(1)
        .arg(60)
        .query(&mut c)
        .unwrap();
    // The same five integers as under RESP2, on every server: no map, no boolean.
    let Value::Array(items) = &reply else {
        panic!("not an array: {reply:?}")
    };
    assert_eq!(items[..4], [1, 1, 0, 0].map(Value::Int), "{reply:?}");
    assert!(matches!(items[4], Value::Int(60_000)), "{reply:?}");
    let denied: Value = redis::cmd("RATELIMIT.PEEK")
        .arg("r3")
        .arg(1)
        .arg(60)
        .query(&mut c)
        .unwrap();
    let Value::Array(items) = &denied else {
        panic!("{denied:?}")
    };
    assert_eq!(items.len(), 5);
    assert_eq!(items[..3], [0, 1, 0].map(Value::Int), "{denied:?}");
}

#[test]
fn bad_input_gets_an_error_naming_the_argument_and_writes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    five(&mut c, "RATELIMIT.CHECK k 10 60");
    let before = snapshot(&mut c, b"k");
    let dirty_before = dirty(&mut c);
    let cases: &[(&str, &str)] = &[
        ("RATELIMIT.CHECK", "wrong number of arguments"),
        ("RATELIMIT.CHECK k", "wrong number of arguments"),
        ("RATELIMIT.CHECK k 10", "wrong number of arguments"),
        ("RATELIMIT.CHECK k x 60", "limit"),
        ("RATELIMIT.CHECK k 0 60", "limit"),
        ("RATELIMIT.CHECK k -5 60", "limit"),
        ("RATELIMIT.CHECK k 1.5 60", "limit"),
        ("RATELIMIT.CHECK k 1000000000001 60", "limit"),
        ("RATELIMIT.CHECK k 99999999999999999999999999 60", "limit"),
        ("RATELIMIT.CHECK k 10 0", "window"),
        ("RATELIMIT.CHECK k 10 -1", "window"),
        ("RATELIMIT.CHECK k 10 abc", "window"),
        ("RATELIMIT.CHECK k 10 315576001", "window"),
        ("RATELIMIT.CHECK k 10 315576000001 MS", "window"),
        ("RATELIMIT.CHECK k 10 60 COST", "COST"),
        ("RATELIMIT.CHECK k 10 60 COST -1", "COST"),
        ("RATELIMIT.CHECK k 10 60 COST x", "COST"),
        ("RATELIMIT.CHECK k 10 60 COST 1000000000001", "COST"),
        ("RATELIMIT.CHECK k 10 60 COST 1 COST 1", "COST"),
        ("RATELIMIT.CHECK k 10 60 BURST 5", "BURST"),
        ("RATELIMIT.CHECK k 10 60 ALGORITHM", "ALGORITHM"),
        ("RATELIMIT.CHECK k 10 60 ALGORITHM LEAKY", "ALGORITHM"),
        ("RATELIMIT.CHECK k 10 60 FOO", "option"),
        ("RATELIMIT.CHECK k 10 60 MS MS", "MS"),
        ("RATELIMIT.PEEK k 0 60", "limit"),
        ("RATELIMIT.PEEK k 10 60 COST", "COST"),
    ];
    for (line, names) in cases {
        let e = error(&mut c, line);
        assert!(e.starts_with("ERR "), "{line}: {e}");
        assert!(e.contains(names), "{line}: {e} should name {names}");
    }
    assert_eq!(snapshot(&mut c, b"k"), before);
    assert_eq!(dirty(&mut c), dirty_before);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys, ["k"], "nothing new was written");
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}

#[test]
fn other_types_and_foreign_strings_get_wrongtype_and_stay_untouched() {
    let s = Server::start();
    let mut c = s.client();
    put_foreign_values(&mut c);
    let dirty_before = dirty(&mut c);
    for key in ["list", "hash", "text", "number"] {
        for cmd in ["RATELIMIT.CHECK", "RATELIMIT.PEEK"] {
            let e = error(&mut c, &format!("{cmd} {key} 10 60"));
            assert!(e.starts_with("WRONGTYPE"), "{cmd} {key}: {e}");
        }
    }
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg("list")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(list, ["a"]);
    let text: String = redis::cmd("GET").arg("text").query(&mut c).unwrap();
    assert_eq!(text, "hello");
    let number: String = redis::cmd("GET").arg("number").query(&mut c).unwrap();
    assert_eq!(number, "5");
    assert_eq!(dirty(&mut c), dirty_before);
}

#[test]
fn binary_and_empty_keys_work() {
    let s = Server::start();
    let mut c = s.client();
    for key in [&b"\xff\xfe\x00\x80 bin"[..], b"", "\u{e9}\u{e8}".as_bytes()] {
        let args: Vec<&[u8]> = vec![b"RATELIMIT.CHECK", key, b"2", b"60"];
        assert_eq!(five_args(&mut c, &args)[..3], [1, 2, 1]);
        assert_eq!(five_args(&mut c, &args)[..3], [1, 2, 0]);
        assert_eq!(five_args(&mut c, &args)[..3], [0, 2, 0]);
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut c).unwrap();
        assert!(ttl > 0);
    }
}

#[test]
fn dirty_counter_moves_only_on_allowed_calls() {
    let s = Server::start();
    let mut c = s.client();
    let d0 = dirty(&mut c);
    five(&mut c, "RATELIMIT.CHECK d 1 60");
    let d1 = dirty(&mut c);
    assert!(d1 > d0, "an allowed call marks the dataset dirty");
    let r = five(&mut c, "RATELIMIT.CHECK d 1 60");
    assert_eq!(r[0], 0);
    assert_eq!(dirty(&mut c), d1, "a denied call does not");
}

#[test]
fn watch_survives_a_denied_call_and_breaks_on_an_allowed_one() {
    let s = Server::start();
    let mut watcher = s.client();
    let mut other = s.client();
    five(&mut other, "RATELIMIT.CHECK w 1 60");

    redis::cmd("WATCH")
        .arg("w")
        .query::<()>(&mut watcher)
        .unwrap();
    assert_eq!(five(&mut other, "RATELIMIT.CHECK w 1 60")[0], 0);
    let exec: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("side")
        .arg(1)
        .query(&mut watcher)
        .unwrap();
    assert_ne!(exec, Value::Nil, "a denied call must not break WATCH");

    redis::cmd("WATCH")
        .arg("w2")
        .query::<()>(&mut watcher)
        .unwrap();
    assert_eq!(five(&mut other, "RATELIMIT.CHECK w2 1 60")[0], 1);
    let exec: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("side")
        .arg(2)
        .query(&mut watcher)
        .unwrap();
    assert_eq!(exec, Value::Nil, "an allowed call must break WATCH");
}

#[test]
fn concurrent_clients_never_get_more_than_the_limit() {
    let s = Server::start();
    let url = s.url();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut pipe = redis::pipe();
                for _ in 0..400 {
                    pipe.cmd("RATELIMIT.CHECK").arg("hot").arg(1000).arg(3600);
                }
                let replies: Vec<Vec<i64>> = pipe.query(&mut c).unwrap();
                replies.iter().filter(|r| r[0] == 1).count()
            })
        })
        .collect();
    let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(allowed, 1000);
}

#[test]
fn keyspace_events_come_from_allowed_calls_only() {
    let s = Server::start();
    let events = keyspace_events(&s, "ev", |c| {
        five(c, "RATELIMIT.CHECK ev 1 60");
        // Denied, COST 0 and PEEK: none may be announced.
        assert_eq!(five(c, "RATELIMIT.CHECK ev 1 60")[0], 0);
        five(c, "RATELIMIT.CHECK ev 1 60 COST 0");
        five(c, "RATELIMIT.PEEK ev 1 60");
    });
    // With COMPACT-STATE yes the state is written by running SET, which announces
    // itself (`set`, then `expire` for its PXAT) before the module's own event.
    let expected: &[&str] = if compact_run() {
        &["set", "expire", "ratelimit"]
    } else {
        &["ratelimit"]
    };
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|e| ("ev".to_string(), e.to_string()))
        .collect();
    assert_eq!(events, expected);
}
