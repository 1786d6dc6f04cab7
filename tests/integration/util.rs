//! Small helpers shared by the integration tests.

use redis::{Connection, Value};

/// Runs a command given as byte arguments.
pub fn run(con: &mut Connection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
}

/// A command line split on spaces, as bytes.
pub fn words(line: &str) -> Vec<&[u8]> {
    line.split(' ').map(str::as_bytes).collect()
}

/// RATELIMIT.CHECK/PEEK reply as the five integers.
pub fn five(con: &mut Connection, line: &str) -> [i64; 5] {
    five_args(con, &words(line))
}

pub fn five_args(con: &mut Connection, args: &[&[u8]]) -> [i64; 5] {
    match run(con, args) {
        Ok(Value::Array(items)) => {
            let ints: Vec<i64> = items
                .iter()
                .map(|v| match v {
                    Value::Int(i) => *i,
                    other => panic!("not an integer: {other:?}"),
                })
                .collect();
            ints.try_into()
                .unwrap_or_else(|v: Vec<i64>| panic!("expected five integers, got {v:?}"))
        }
        other => panic!(
            "unexpected reply to {:?}: {other:?}",
            String::from_utf8_lossy(&args.concat())
        ),
    }
}

/// The error a command gets, as "CODE detail".
pub fn error(con: &mut Connection, line: &str) -> String {
    error_args(con, &words(line))
}

pub fn error_args(con: &mut Connection, args: &[&[u8]]) -> String {
    match run(con, args) {
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// One field of INFO.
pub fn info_field(con: &mut Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

pub fn dirty(con: &mut Connection) -> u64 {
    info_field(con, "persistence", "rdb_changes_since_last_save")
        .parse()
        .unwrap()
}

/// The raw value and absolute expiry (ms) of a key: what must match across servers.
pub fn snapshot(con: &mut Connection, key: &[u8]) -> (Option<Vec<u8>>, i64) {
    let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(con).unwrap();
    let at: i64 = redis::cmd("PEXPIRETIME").arg(key).query(con).unwrap();
    (value, at)
}
