//! What clients and Redis tools see of the commands: one reply shape under RESP2 and
//! RESP3, lower-case names in `INFO commandstats` and ACL rules, and `COMMAND DOCS`.

use redis::Value;

use crate::server::{Server, Start};
use crate::util::*;

/// Command lines whose replies do not depend on the moment they are made: each runs
/// on keys of its own that no earlier line touched, so every reply is exact. `{p}` is
/// replaced by a prefix that differs between the two protocols' runs.
const EXACT_LINES: &[&str] = &[
    "RATELIMIT.CHECK {p}:fixed 10 60",
    "RATELIMIT.CHECK {p}:sliding 10 60 ALGORITHM SLIDING",
    "RATELIMIT.CHECK {p}:gcra 10 60 ALGORITHM GCRA BURST 5",
    "RATELIMIT.CHECK {p}:log 10 60 ALGORITHM LOG",
    // Denied: more than the capacity can ever pass.
    "RATELIMIT.CHECK {p}:big 10 60 COST 11",
    "RATELIMIT.PEEK {p}:peek 10 60",
    "RATELIMIT.PEEK {p}:peekgcra 10 60 ALGORITHM GCRA",
    "RATELIMIT.MCHECK 2 {p}:m1 2 1 {p}:m2 100 3600",
    "RATELIMIT.MCHECK 2 {p}:d1 2 1 {p}:d2 100 3600 COST 3",
    "RATELIMIT.MCHECK 2 {p}:c1 2 1 {p}:c2 100 3600 COSTS 1 60",
    "RATELIMIT.CHARGE {p}:charged 10 60 25",
    "RATELIMIT.CHARGE {p}:refund 10 60 -30",
    "CL.THROTTLE {p}:cell 14 30 60",
    "CL.THROTTLE {p}:cellbig 14 30 60 16",
];

fn replies(c: &mut redis::Connection, prefix: &str) -> Vec<Value> {
    EXACT_LINES
        .iter()
        .map(|line| {
            let line = line.replace("{p}", prefix);
            run(c, &words(&line)).unwrap_or_else(|e| panic!("{line}: {e}"))
        })
        .collect()
}

#[test]
fn every_command_replies_the_same_under_resp2_and_resp3() {
    let s = Server::start_cell_compat(&[]);
    let mut resp2 = s.client();
    let mut resp3 = s.resp3_client();
    let hello: Value = redis::cmd("HELLO").query(&mut resp3).unwrap();
    let Value::Map(fields) = &hello else {
        panic!("HELLO under RESP3 answers a map: {hello:?}")
    };
    let proto = fields
        .iter()
        .find(|(k, _)| text(k) == "proto")
        .map(|(_, v)| v);
    assert_eq!(
        proto,
        Some(&Value::Int(3)),
        "the second connection speaks RESP3"
    );
    let two = replies(&mut resp2, "two");
    let three = replies(&mut resp3, "three");
    for ((line, a), b) in EXACT_LINES.iter().zip(&two).zip(&three) {
        assert_eq!(a, b, "{line}");
        // Arrays of integers only: no map, no boolean, in either protocol.
        let Value::Array(items) = b else {
            panic!("{line}: not an array: {b:?}")
        };
        for item in items {
            match item {
                Value::Int(_) => {}
                Value::Array(inner) => assert!(
                    inner.len() == 5 && inner.iter().all(|v| matches!(v, Value::Int(_))),
                    "{line}: {b:?}"
                ),
                other => panic!("{line}: {other:?} in {b:?}"),
            }
        }
    }
    // The lines that must allow do, and the ones that must deny do.
    let first = |v: &Value| match v {
        Value::Array(items) => items[0].clone(),
        other => panic!("{other:?}"),
    };
    let firsts: Vec<Value> = three.iter().map(first).collect();
    // CHARGE always answers allowed; CL.THROTTLE answers `limited`, the opposite of
    // `allowed`.
    let want = [1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1].map(Value::Int);
    assert_eq!(firsts, want);
    assert_eq!(
        three[0],
        Value::Array([1, 10, 9, 0, 60_000].map(Value::Int).to_vec())
    );

    // Past the limit, the reply under RESP3 is the RESP2 array with allowed = 0.
    let mut last = [0i64; 5];
    for _ in 0..11 {
        last = five(&mut resp3, "RATELIMIT.CHECK eleven 10 60");
    }
    assert_eq!(last[..3], [0, 10, 0]);
    assert!(last[3] > 0 && last[3] <= 60_000, "{last:?}");
}

#[test]
fn commandstats_and_acl_rules_use_the_lower_case_names() {
    let s = Server::start_cell_compat(&[]);
    let mut c = s.client();
    // Callers may use any case.
    five(&mut c, "RATELIMIT.CHECK a 10 60");
    five(&mut c, "ratelimit.check a 10 60");
    five(&mut c, "RateLimit.Peek a 10 60");
    run(&mut c, &words("RATELIMIT.MCHECK 1 b 10 60")).unwrap();
    five(&mut c, "RATELIMIT.CHARGE b2 10 60 3");
    five(&mut c, "CL.THROTTLE t 4 1 60");
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    for (name, calls) in [
        ("ratelimit.check", 2),
        ("ratelimit.peek", 1),
        ("ratelimit.mcheck", 1),
        ("ratelimit.charge", 1),
        ("cl.throttle", 1),
    ] {
        let prefix = format!("cmdstat_{name}:calls={calls},");
        assert!(
            stats.lines().any(|l| l.starts_with(&prefix)),
            "no {prefix} in\n{stats}"
        );
    }
    assert!(
        !stats.contains("RATELIMIT") && !stats.contains("CL.THROTTLE"),
        "{stats}"
    );

    // An ACL rule written with the lower-case name admits any spelling of it.
    let mut app = s.user("checker", &["~*", "+ratelimit.check"]);
    five(&mut app, "RATELIMIT.CHECK u 10 60");
    five(&mut app, "ratelimit.CHECK u 10 60");
    let refused = error(&mut app, "RATELIMIT.PEEK u 10 60");
    assert!(refused.starts_with("NOPERM"), "{refused}");
    // ACL LOG names the refused command as registered, as it does built-in ones.
    let log: Value = redis::cmd("ACL").arg("LOG").arg(1).query(&mut c).unwrap();
    let Value::Array(entries) = &log else {
        panic!("{log:?}")
    };
    let entry = pairs(&entries[0]);
    assert_eq!(
        field(&entry, "object").map(|v| text(&v)).as_deref(),
        Some("ratelimit.peek")
    );
    // And COMMAND INFO answers with the registered name, whatever case was asked.
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("RATELIMIT.CHECK")
        .query(&mut c)
        .unwrap();
    let Value::Array(outer) = &info else {
        panic!("{info:?}")
    };
    let Value::Array(fields) = &outer[0] else {
        panic!("{info:?}")
    };
    assert_eq!(text(&fields[0]), "ratelimit.check");
}

/// A RESP2 `COMMAND DOCS` entry (a flat list of name, value pairs) as pairs.
fn pairs(v: &Value) -> Vec<(String, Value)> {
    let items = match v {
        Value::Array(items) => items.clone(),
        Value::Map(fields) => fields
            .iter()
            .flat_map(|(k, v)| [k.clone(), v.clone()])
            .collect(),
        other => panic!("not a docs entry: {other:?}"),
    };
    items
        .chunks(2)
        .map(|kv| (text(&kv[0]), kv[1].clone()))
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

fn field(entry: &[(String, Value)], name: &str) -> Option<Value> {
    entry
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// One documented argument, flattened: "name type [token] [flags...]", and its
/// subarguments after it, indented.
fn describe(arg: &Value, depth: usize, out: &mut Vec<String>) {
    let entry = pairs(arg);
    let mut line = format!(
        "{}{} {}",
        "  ".repeat(depth),
        text(&field(&entry, "name").expect("name")),
        text(&field(&entry, "type").expect("type"))
    );
    if let Some(token) = field(&entry, "token") {
        line += &format!(" {}", text(&token));
    }
    if let Some(Value::Array(flags) | Value::Set(flags)) = field(&entry, "flags") {
        for f in flags {
            line += &format!(" {}", text(&f));
        }
    }
    out.push(line);
    if let Some(Value::Array(subargs)) = field(&entry, "arguments") {
        for sub in &subargs {
            describe(sub, depth + 1, out);
        }
    }
}

/// `COMMAND DOCS name`: its summary, since, and arguments as `describe` lines.
fn docs(c: &mut redis::Connection, name: &str) -> (String, String, Vec<String>) {
    let reply: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg(name)
        .query(c)
        .unwrap();
    let top = pairs(&reply);
    assert_eq!(top.len(), 1, "one command documented: {reply:?}");
    assert_eq!(top[0].0, name);
    let entry = pairs(&top[0].1);
    let summary = text(&field(&entry, "summary").expect("a summary"));
    let since = text(&field(&entry, "since").expect("a since"));
    assert!(field(&entry, "complexity").is_some(), "a complexity");
    let mut args = vec![];
    let Some(Value::Array(list)) = field(&entry, "arguments") else {
        panic!("no arguments for {name}: {entry:?}")
    };
    for arg in &list {
        describe(arg, 0, &mut args);
    }
    (summary, since, args)
}

const OPTION_DOCS: [&str; 8] = [
    "algorithm oneof ALGORITHM optional",
    "  fixed pure-token FIXED",
    "  sliding pure-token SLIDING",
    "  gcra pure-token GCRA",
    "  log pure-token LOG",
    "burst integer BURST optional",
    "cost integer COST optional",
    "ms pure-token MS optional",
];

#[test]
fn command_docs_describe_every_argument() {
    let s = Server::start_cell_compat(&[]);
    if s.version() < (7, 0) {
        // Redis 6.2 has neither COMMAND DOCS nor RedisModule_SetCommandInfo.
        return;
    }
    let mut c = s.client();
    let options = OPTION_DOCS.iter().map(|s| s.to_string());
    let one_key: Vec<String> = ["key key", "limit integer", "window integer"]
        .iter()
        .map(|s| s.to_string())
        .chain(options)
        .collect();
    let mcheck: Vec<String> = [
        "numlimits integer",
        "limit block multiple",
        "  key key",
        "  limit integer",
        "  window integer",
    ]
    .iter()
    .chain(&OPTION_DOCS[..7])
    .chain(&["costs integer COSTS optional multiple", OPTION_DOCS[7]])
    .map(|s| s.to_string())
    .collect();
    // CHARGE: the amount instead of COST.
    let charge: Vec<String> = [
        "key key",
        "limit integer",
        "window integer",
        "amount integer",
    ]
    .iter()
    .chain(&OPTION_DOCS[..6])
    .chain(&OPTION_DOCS[7..])
    .map(|s| s.to_string())
    .collect();
    let throttle: Vec<String> = [
        "key key",
        "max_burst integer",
        "count_per_period integer",
        "period integer",
        "quantity integer optional",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (name, want, introduced) in [
        ("ratelimit.check", &one_key, "0.1.0"),
        ("ratelimit.peek", &one_key, "0.1.0"),
        ("ratelimit.mcheck", &mcheck, "0.1.0"),
        ("ratelimit.charge", &charge, "0.3.0"),
        ("cl.throttle", &throttle, "0.1.0"),
    ] {
        let (summary, since, args) = docs(&mut c, name);
        assert!(summary.len() > 20, "{name}: summary {summary:?}");
        assert_eq!(since, introduced, "{name}");
        assert_eq!(&args, want, "{name}");
    }
    // Any case finds them, as for built-in commands.
    let (summary, _, _) = docs(&mut c, "ratelimit.check");
    let reply: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("RATELIMIT.CHECK")
        .query(&mut c)
        .unwrap();
    assert!(format!("{reply:?}").contains(&summary[..20]), "{reply:?}");
}
