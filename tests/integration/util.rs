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

/// Keys that are not rate-limit state: a list `list` ([a]), a hash `hash` (f=v), and
/// strings `text` ("hello") and `number` ("5", with a TTL).
pub fn put_foreign_values(c: &mut Connection) {
    let mut pipe = redis::pipe();
    pipe.cmd("RPUSH").arg("list").arg("a").ignore();
    pipe.cmd("HSET").arg("hash").arg("f").arg("v").ignore();
    pipe.cmd("SET").arg("text").arg("hello").ignore();
    pipe.cmd("SET")
        .arg("number")
        .arg("5")
        .arg("EX")
        .arg(100)
        .ignore();
    pipe.query::<()>(c).unwrap();
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

/// A key's raw value and absolute expiry (Unix ms): what must match across servers.
///
/// Redis 7.0+ gives the exact expiry with PEXPIRETIME. Redis 6.2 lacks it, and the
/// module can only set relative expiries there, so the expiry is read as TIME + PTTL
/// and compared with a few milliseconds of tolerance.
#[derive(Debug, Clone)]
pub struct Snap {
    pub value: Option<Vec<u8>>,
    pub at: i64,
    /// Read with PEXPIRETIME (7.0+), not reconstructed from PTTL and TIME.
    pub exact: bool,
}

impl Snap {
    /// The same absolute expiry (exactly where the server can tell it exactly).
    pub fn same_expiry(&self, other: &Snap) -> bool {
        let tolerance = if self.exact && other.exact { 0 } else { 5 };
        (self.at - other.at).abs() <= tolerance
    }
}

impl PartialEq for Snap {
    fn eq(&self, other: &Snap) -> bool {
        self.value == other.value && self.same_expiry(other)
    }
}

pub fn snapshot(con: &mut Connection, key: &[u8]) -> Snap {
    let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(con).unwrap();
    match redis::cmd("PEXPIRETIME").arg(key).query::<i64>(con) {
        Ok(at) => Snap {
            value,
            at,
            exact: true,
        },
        Err(_) => {
            let (ttl, (secs, micros)): (i64, (i64, i64)) = redis::pipe()
                .cmd("PTTL")
                .arg(key)
                .cmd("TIME")
                .query(con)
                .unwrap();
            let at = if ttl < 0 {
                ttl
            } else {
                secs * 1000 + micros / 1000 + ttl
            };
            Snap {
                value,
                at,
                exact: false,
            }
        }
    }
}

/// Waits until a replica's link to its primary is up.
pub fn wait_for_link(r: &mut redis::Connection) {
    crate::server::wait_until(
        "replica link up",
        std::time::Duration::from_secs(20),
        || info_field(r, "replication", "master_link_status") == "up",
    );
}

/// Waits until the primary has no RDB child running: the fork that fed a replica's
/// first sync may outlive the sync itself, and while it runs Redis 8.0 answers `SAVE`
/// with "Background save already in progress".
pub fn wait_for_no_child(p: &mut redis::Connection) {
    crate::server::wait_until(
        "no background save in progress",
        std::time::Duration::from_secs(20),
        || info_field(p, "persistence", "rdb_bgsave_in_progress") == "0",
    );
}

/// `SAVE`, once no background save (such as a replica's first sync) is running.
pub fn save(p: &mut redis::Connection) {
    wait_for_no_child(p);
    redis::cmd("SAVE").query::<()>(p).unwrap();
}

/// Waits until the replica's link is up, it has applied everything the primary
/// has sent so far, and the primary's fork for the first sync has exited.
pub fn wait_for_replica(p: &mut redis::Connection, r: &mut redis::Connection) {
    wait_for_link(r);
    wait_for_no_child(p);
    let target: u64 = info_field(p, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    crate::server::wait_until(
        "replica caught up",
        std::time::Duration::from_secs(20),
        || {
            info_field(r, "replication", "slave_repl_offset")
                .parse::<u64>()
                .unwrap()
                >= target
        },
    );
}

/// The keyspace events (key, event) for keys starting with `prefix` that `actions`
/// cause, in order: notifications are switched on, a subscriber listens, and a final
/// marker write tells it when everything before has arrived.
pub fn keyspace_events(
    s: &crate::server::Server,
    prefix: &str,
    actions: impl FnOnce(&mut Connection),
) -> Vec<(String, String)> {
    let mut c = s.client();
    redis::cmd("CONFIG")
        .arg(&["SET", "notify-keyspace-events", "KEA"])
        .query::<()>(&mut c)
        .unwrap();
    let mut sub = s.client();
    sub.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut pubsub = sub.as_pubsub();
    let channel_prefix = format!("__keyspace@0__:{prefix}");
    pubsub.psubscribe(format!("{channel_prefix}*")).unwrap();
    actions(&mut c);
    let marker = format!("{prefix}\u{1}end");
    redis::cmd("SET")
        .arg(&marker)
        .arg(1)
        .query::<()>(&mut c)
        .unwrap();
    let mut events = Vec::new();
    loop {
        let msg = pubsub.get_message().expect("the marker event arrives");
        let key = msg.get_channel_name()[channel_prefix.len() - prefix.len()..].to_string();
        if key == marker {
            return events;
        }
        events.push((key, msg.get_payload().unwrap()));
    }
}
