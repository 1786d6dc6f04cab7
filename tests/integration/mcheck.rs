//! RATELIMIT.MCHECK: all or nothing over several keys; keys declared to Redis;
//! effects replicated as one unit.

use redis::{Connection, Value};

use crate::server::{Server, Start};
use crate::util::*;

/// An MCHECK reply: allowed, then the five integers of each limit.
fn mcheck(con: &mut Connection, line: &str) -> (i64, Vec<[i64; 5]>) {
    let args = words(line);
    let Ok(Value::Array(items)) = run(con, &args) else {
        panic!("unexpected reply to {line}: {:?}", run(con, &args));
    };
    let Value::Int(allowed) = items[0] else {
        panic!("allowed is not an integer: {items:?}");
    };
    let limits = items[1..]
        .iter()
        .map(|v| match v {
            Value::Array(five) => five
                .iter()
                .map(|x| match x {
                    Value::Int(i) => *i,
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    (allowed, limits)
}

#[test]
fn the_third_request_is_denied_by_the_first_limit_and_costs_the_second_nothing() {
    let s = Server::start();
    let mut c = s.client();
    let line = "RATELIMIT.MCHECK 2 u:min 2 60 u:hour 3 3600";
    let (allowed, r) = mcheck(&mut c, line);
    assert_eq!(allowed, 1);
    assert_eq!(
        (&r[0][..4], &r[1][..4]),
        (&[1, 2, 1, 0][..], &[1, 3, 2, 0][..])
    );
    let (allowed, r) = mcheck(&mut c, line);
    assert_eq!(allowed, 1);
    assert_eq!((&r[0][..3], &r[1][..3]), (&[1, 2, 0][..], &[1, 3, 1][..]));

    let hour_before = snapshot(&mut c, b"u:hour");
    let min_before = snapshot(&mut c, b"u:min");
    let dirty_before = dirty(&mut c);
    let (allowed, r) = mcheck(&mut c, line);
    assert_eq!(allowed, 0);
    assert_eq!(r[0][..3], [0, 2, 0], "the per-minute limit denies");
    assert!(
        r[0][3] > 0 && r[0][3] <= 60_000,
        "with its retry time {r:?}"
    );
    assert_eq!(r[1][..4], [1, 3, 1, 0], "the hourly limit would allow");
    assert_eq!(
        snapshot(&mut c, b"u:hour"),
        hour_before,
        "and was not charged"
    );
    assert_eq!(snapshot(&mut c, b"u:min"), min_before);
    assert_eq!(
        dirty(&mut c),
        dirty_before,
        "a denied MCHECK writes nothing"
    );
    assert_eq!(five(&mut c, "RATELIMIT.PEEK u:hour 3 3600")[2], 1);
}

#[test]
fn options_apply_to_every_limit() {
    let s = Server::start();
    let mut c = s.client();
    let (allowed, r) = mcheck(
        &mut c,
        "RATELIMIT.MCHECK 2 g:a 10 60 g:b 100 3600 ALGORITHM GCRA BURST 20 COST 5",
    );
    assert_eq!(allowed, 1);
    assert_eq!(
        (&r[0][..3], &r[1][..3]),
        (&[1, 20, 15][..], &[1, 20, 15][..])
    );
    assert_eq!(
        five(&mut c, "RATELIMIT.PEEK g:a 10 60 ALGORITHM GCRA BURST 20")[2],
        15
    );
}

#[test]
fn bad_input_is_an_error_that_writes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    put_foreign_values(&mut c);
    five(&mut c, "RATELIMIT.CHECK gcra 5 60 ALGORITHM GCRA");
    let dirty_before = dirty(&mut c);
    for (line, want) in [
        (
            "RATELIMIT.MCHECK 3 a 2 60 b 3 3600",
            "ERR numlimits does not match",
        ),
        (
            "RATELIMIT.MCHECK 1 a 2 60 b 3 3600",
            "ERR numlimits does not match",
        ),
        ("RATELIMIT.MCHECK 0 a 2 60", "ERR numlimits must be"),
        ("RATELIMIT.MCHECK x a 2 60", "ERR numlimits must be"),
        ("RATELIMIT.MCHECK 2 a 2 60 a 3 3600", "ERR the same key"),
        ("RATELIMIT.MCHECK 2 a 2 60 b 0 3600", "ERR limit must be"),
        ("RATELIMIT.MCHECK 2 a 2 60 b 3 3600 COST", "ERR COST needs"),
        ("RATELIMIT.MCHECK 2 a 2 60 text 3 3600", "WRONGTYPE"),
        ("RATELIMIT.MCHECK 2 a 2 60 list 3 3600", "WRONGTYPE"),
        (
            "RATELIMIT.MCHECK 2 a 2 60 gcra 3 3600",
            "WRONGTYPE the key holds ALGORITHM GCRA",
        ),
        ("RATELIMIT.MCHECK 1", "ERR wrong number of arguments"),
    ] {
        let e = error(&mut c, line);
        assert!(e.starts_with(want), "{line}: {e}");
    }
    assert_eq!(dirty(&mut c), dirty_before);
    let exists: i64 = redis::cmd("EXISTS").arg(&["a", "b"]).query(&mut c).unwrap();
    assert_eq!(exists, 0, "no key of a refused call was created");
}

#[test]
fn keys_are_declared_to_redis() {
    let s = Server::start();
    let mut c = s.client();
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg(words(
            "RATELIMIT.MCHECK 3 k1 2 60 k2 3 3600 k3 1 1 ALGORITHM SLIDING COST 2",
        ))
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["k1", "k2", "k3"]);
    // Redis 7+ also shows the key spec: numlimits at 1, then every third argument.
    if s.version() >= (7, 0) {
        let info: Value = redis::cmd("COMMAND")
            .arg("INFO")
            .arg("RATELIMIT.MCHECK")
            .query(&mut c)
            .unwrap();
        let text = format!("{info:?}");
        for needle in ["movablekeys", "keynum", "keystep"] {
            assert!(text.contains(needle), "no {needle} in {text}");
        }
    }

    // ACL key patterns apply to every key of the call.
    let mut app = s.user("app", &["~app:*", "+@all"]);
    assert_eq!(
        mcheck(&mut app, "RATELIMIT.MCHECK 2 app:a 2 60 app:b 2 60").0,
        1
    );
    let e = error(&mut app, "RATELIMIT.MCHECK 2 app:a 2 60 other 2 60");
    assert!(e.starts_with("NOPERM"), "{e}");
    assert_eq!(five(&mut c, "RATELIMIT.PEEK app:a 2 60")[2], 1);
}

#[test]
fn resp3_answers_the_resp2_reply() {
    let s = Server::start();
    let mut c = s.resp3_client();
    let reply: Value = redis::cmd("RATELIMIT.MCHECK")
        .arg(words("2 a 2 60 b 3 3600"))
        .query(&mut c)
        .unwrap();
    let Value::Array(items) = reply else {
        panic!("{reply:?}")
    };
    // allowed as the integer 1, then one five-integer array per limit.
    assert_eq!(items[0], Value::Int(1));
    assert_eq!(items.len(), 3);
    for (item, limit) in items[1..].iter().zip([2, 3]) {
        let Value::Array(fields) = item else {
            panic!("{item:?}")
        };
        assert_eq!(fields.len(), 5);
        assert_eq!(fields[0], Value::Int(1), "allowed");
        assert_eq!(fields[1], Value::Int(limit), "limit");
        assert_eq!(fields[2], Value::Int(limit - 1), "remaining");
    }
}

/// Every AOF file of a server's directory, as text (Redis 7 keeps several files in
/// appendonlydir/, 6.2 one appendonly.aof).
fn aof_text(dir: &std::path::Path) -> String {
    let mut text = String::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.to_string_lossy().contains(".aof") {
                text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    text
}

#[test]
fn effects_reach_replicas_and_the_aof_as_one_transaction() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    wait_for_link(&mut r);
    for _ in 0..3 {
        mcheck(
            &mut p,
            "RATELIMIT.MCHECK 3 t:a 5 60 t:b 2 3600 t:c 9 1 ALGORITHM SLIDING",
        );
    }
    wait_for_replica(&mut p, &mut r);
    for key in ["t:a", "t:b", "t:c"] {
        let on_primary = snapshot(&mut p, key.as_bytes());
        assert!(on_primary.value.is_some(), "{key}");
        assert_eq!(snapshot(&mut r, key.as_bytes()), on_primary, "{key}");
    }

    let s = Server::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.client();
    mcheck(&mut c, "RATELIMIT.MCHECK 2 x:1 5 60 x:2 5 60");
    let aof = aof_text(s.dir());
    let at = |needle: &str| {
        aof.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the AOF:\n{aof}"))
    };
    let (multi, k1, k2, exec) = (
        at("MULTI"),
        at("$3\r\nx:1\r\n"),
        at("$3\r\nx:2\r\n"),
        at("EXEC"),
    );
    assert!(multi < k1 && k1 < k2 && k2 < exec, "{aof}");
    assert!(
        !aof.contains("RATELIMIT"),
        "effects, never the command: {aof}"
    );
}
