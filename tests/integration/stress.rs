//! Hostile input against a live server: thousands of random and malformed argument
//! vectors for every command, on every key type, switching algorithms, limits and
//! windows on live keys. The server must stay up, every reply must be a well-formed
//! reply, and no value that is not rate-limit state may change.

use redis::{Connection, Value};

use crate::server::{Server, Start};

/// A small deterministic generator (xorshift64*), so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "10",
    "60",
    "1000",
    "4096",
    "4097",
    "315576000",
    "315576001",
    "1000000000000",
    "1000000000001",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "-1",
    "-0",
    "+5",
    "010",
    "1.5",
    " 1",
    "1e3",
    "0x10",
    "",
];

const WORDS: &[&str] = &[
    "ALGORITHM",
    "algorithm",
    "FIXED",
    "SLIDING",
    "gcra",
    "LOG",
    "TOKEN",
    "BURST",
    "COST",
    "MS",
    "ms",
    "EX",
    "CELL-COMPAT",
];

const COMMANDS: &[&str] = &[
    "RATELIMIT.CHECK",
    "RATELIMIT.PEEK",
    "RATELIMIT.MCHECK",
    "CL.THROTTLE",
];

/// Keys holding values that are not rate-limit state, one of each type, including an
/// empty name, a non-UTF-8 name and a 64 KiB name.
fn foreign_keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = [
        "text", "int", "neg", "list", "hash", "set", "zset", "stream", "bigint",
    ]
    .iter()
    .map(|k| k.as_bytes().to_vec())
    .collect();
    keys.push(Vec::new());
    keys.push(b"\xff\xfe\x00binary".to_vec());
    keys.push(vec![b'h'; 64 * 1024]);
    keys
}

fn create_foreign(c: &mut Connection, keys: &[Vec<u8>]) {
    let mut p = redis::pipe();
    p.cmd("SET").arg("text").arg("hello").ignore();
    p.cmd("SET").arg("int").arg(12345).ignore();
    p.cmd("SET").arg("neg").arg(-7).ignore();
    p.cmd("SET")
        .arg("bigint")
        .arg("18446744073709551616")
        .ignore();
    p.cmd("RPUSH").arg("list").arg(&["a", "b"]).ignore();
    p.cmd("HSET").arg("hash").arg("f").arg("v").ignore();
    p.cmd("SADD").arg("set").arg("m").ignore();
    p.cmd("ZADD").arg("zset").arg(1).arg("m").ignore();
    p.cmd("XADD")
        .arg("stream")
        .arg("*")
        .arg("f")
        .arg("v")
        .ignore();
    p.cmd("SET").arg(&keys[9]).arg("empty name").ignore();
    p.cmd("HSET").arg(&keys[10]).arg("f").arg("v").ignore();
    p.cmd("SET").arg(&keys[11]).arg("huge name").ignore();
    p.query::<()>(c).unwrap();
}

/// What each foreign key holds, as DUMP serializes it (value and type).
fn dumps(c: &mut Connection, keys: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    keys.iter()
        .map(|k| redis::cmd("DUMP").arg(k).query(c).unwrap())
        .collect()
}

/// A random command line: mostly well-formed calls on a small set of keys (so that
/// algorithms, limits and windows change on live keys), the rest token soup.
fn command_line(rng: &mut Rng, foreign: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let command = rng.pick(COMMANDS).as_bytes().to_vec();
    let key = |rng: &mut Rng| -> Vec<u8> {
        match rng.below(4) {
            0 => rng.pick(foreign).clone(),
            _ => format!("s:{}", rng.below(8)).into_bytes(),
        }
    };
    let mut line = vec![command.clone()];
    if rng.below(10) < 3 {
        for _ in 0..rng.below(12) {
            let token = match rng.below(4) {
                0 => rng.pick(WORDS).as_bytes().to_vec(),
                1 => key(rng),
                _ => rng.pick(NUMBERS).as_bytes().to_vec(),
            };
            line.push(token);
        }
        return line;
    }
    let small = |rng: &mut Rng| (1 + rng.below(20)).to_string().into_bytes();
    match command.as_slice() {
        b"RATELIMIT.MCHECK" => {
            let n = 1 + rng.below(4);
            // Sometimes numlimits does not match the triples.
            let said = if rng.below(8) == 0 { n + 1 } else { n };
            line.push(said.to_string().into_bytes());
            for _ in 0..n {
                line.extend([key(rng), small(rng), small(rng)]);
            }
        }
        b"CL.THROTTLE" => {
            line.extend([key(rng), small(rng), small(rng), small(rng)]);
            if rng.below(2) == 0 {
                line.push(rng.pick(NUMBERS).as_bytes().to_vec());
            }
        }
        _ => line.extend([key(rng), small(rng), small(rng)]),
    }
    if command != b"CL.THROTTLE" {
        // Mostly valid options, so that many calls reach a decision; some are not.
        for _ in 0..rng.below(3) {
            match rng.below(8) {
                0 => line.extend([b"ALGORITHM".to_vec(), rng.pick(WORDS).as_bytes().to_vec()]),
                1 => line.extend([b"COST".to_vec(), rng.pick(NUMBERS).as_bytes().to_vec()]),
                2 => line.extend([b"COST".to_vec(), rng.below(3).to_string().into_bytes()]),
                3 => line.extend([b"BURST".to_vec(), small(rng)]),
                4 => line.push(b"MS".to_vec()),
                _ => line.extend([
                    b"ALGORITHM".to_vec(),
                    ["FIXED", "SLIDING", "GCRA", "LOG"][rng.below(4)]
                        .as_bytes()
                        .to_vec(),
                ]),
            }
        }
    }
    line
}

/// A reply any of the commands may give: five integers, a map of five, MCHECK's
/// nested array, or an error with a known code.
fn well_formed(reply: &Value) -> bool {
    let int = |v: &Value| matches!(v, Value::Int(_) | Value::Boolean(_));
    let five = |v: &Value| match v {
        Value::Array(items) => items.len() == 5 && items.iter().all(int),
        Value::Map(pairs) => pairs.len() == 5 && pairs.iter().all(|(_, v)| int(v)),
        _ => false,
    };
    match reply {
        Value::ServerError(e) => ["ERR", "WRONGTYPE"].contains(&e.code()),
        Value::Array(items) if items.len() == 5 && items.iter().all(int) => true,
        Value::Array(items) => !items.is_empty() && int(&items[0]) && items[1..].iter().all(five),
        other => five(other),
    }
}

#[test]
fn hostile_input_never_hurts_the_server_or_foreign_values() {
    let s = Server::start_cell_compat(&[]);
    let mut c = s.client();
    let foreign = foreign_keys();
    create_foreign(&mut c, &foreign);
    let before = dumps(&mut c, &foreign);
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut errors = 0;
    let mut answers = 0;
    for _batch in 0..40 {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let lines: Vec<_> = (0..500).map(|_| command_line(&mut rng, &foreign)).collect();
        for line in &lines {
            let mut cmd = redis::cmd(std::str::from_utf8(&line[0]).unwrap());
            for arg in &line[1..] {
                cmd.arg(arg);
            }
            pipe.add_command(cmd);
        }
        let replies: Vec<Value> = pipe.query(&mut c).expect("the server answers");
        assert_eq!(replies.len(), lines.len());
        for (line, reply) in lines.iter().zip(&replies) {
            let shown: Vec<String> = line
                .iter()
                .map(|a| String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned())
                .collect();
            assert!(well_formed(reply), "{shown:?} -> {reply:?}");
            match reply {
                Value::ServerError(_) => errors += 1,
                _ => answers += 1,
            }
        }
    }
    // Both kinds occurred in quantity, so the run exercised decisions as well as
    // refusals (most hostile lines are refused: wrong types, other algorithms' state,
    // bad options).
    assert!(
        answers > 1500 && errors > 5000,
        "{answers} answers, {errors} errors"
    );
    assert_eq!(dumps(&mut c, &foreign), before, "foreign values unchanged");
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    let info: String = redis::cmd("INFO").arg("ratelimit").query(&mut c).unwrap();
    assert!(info.contains("ratelimit_check_calls:"), "{info}");
}
