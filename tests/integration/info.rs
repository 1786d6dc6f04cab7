//! `INFO ratelimit`: counters per command and per algorithm, moving as calls are made.

use crate::server::{Server, Start};
use crate::util::*;

fn counter(c: &mut redis::Connection, field: &str) -> u64 {
    info_field(c, "ratelimit", &format!("ratelimit_{field}"))
        .parse()
        .unwrap()
}

#[test]
fn info_says_how_state_is_stored() {
    for compact in [false, true] {
        let s = Server::start_storing(compact, tempfile::tempdir().unwrap(), &[]);
        let mut c = s.client();
        assert_eq!(counter(&mut c, "compact_state"), u64::from(compact));
    }
}

#[test]
fn counters_move_as_calls_are_made() {
    let s = Server::start_cell_compat(&[]);
    let mut c = s.client();
    let fields = [
        "check_calls",
        "check_allowed",
        "check_denied",
        "check_errors",
        "peek_calls",
        "mcheck_calls",
        "mcheck_allowed",
        "mcheck_denied",
        "mcheck_errors",
        "cl_throttle_calls",
        "cl_throttle_allowed",
        "charge_calls",
        "charge_allowed",
        "gcra_charges",
        "gcra_refunds",
        "fixed_calls",
        "sliding_calls",
        "sliding_allowed",
        "sliding_denied",
        "gcra_calls",
        "gcra_allowed",
        "gcra_errors",
        "log_calls",
    ];
    for f in fields {
        assert_eq!(counter(&mut c, f), 0, "{f} starts at 0");
    }
    five(&mut c, "RATELIMIT.CHECK a 1 60");
    five(&mut c, "RATELIMIT.CHECK a 1 60");
    error(&mut c, "RATELIMIT.CHECK a 0 60");
    five(&mut c, "RATELIMIT.PEEK a 1 60");
    five(&mut c, "RATELIMIT.CHECK s 1 60 ALGORITHM SLIDING");
    five(&mut c, "RATELIMIT.CHECK s 1 60 ALGORITHM SLIDING");
    five(&mut c, "RATELIMIT.CHECK l 1 60 ALGORITHM LOG");
    run(&mut c, &words("RATELIMIT.MCHECK 2 m1 1 60 m2 1 60")).unwrap();
    run(&mut c, &words("RATELIMIT.MCHECK 2 m1 1 60 m2 1 60")).unwrap();
    error(&mut c, "RATELIMIT.MCHECK 3 m1 1 60");
    five(&mut c, "CL.THROTTLE t 4 1 60");
    // Charges and refunds that change a key are counted apart; one that changes
    // nothing (0, or a refund of what is not there) is a call all the same.
    five(&mut c, "RATELIMIT.CHARGE g 5 60 3 ALGORITHM GCRA");
    five(&mut c, "RATELIMIT.CHARGE g 5 60 -1 ALGORITHM GCRA");
    five(&mut c, "RATELIMIT.CHARGE g 5 60 0 ALGORITHM GCRA");
    five(&mut c, "RATELIMIT.CHARGE nothing 5 60 -1 ALGORITHM GCRA");
    five(&mut c, "CL.THROTTLE t 4 1 60 -1");
    error(&mut c, "RATELIMIT.CHARGE g 5 60 x ALGORITHM GCRA");
    // Valid arguments on a key that cannot be used: an error of the algorithm too.
    error(&mut c, "RATELIMIT.CHECK s 1 60 ALGORITHM GCRA");
    let want = [
        ("check_calls", 7),
        ("check_allowed", 3),
        ("check_denied", 2),
        ("check_errors", 2),
        ("peek_calls", 1),
        ("mcheck_calls", 3),
        ("mcheck_allowed", 1),
        ("mcheck_denied", 1),
        ("mcheck_errors", 1),
        ("cl_throttle_calls", 2),
        ("cl_throttle_allowed", 2),
        ("charge_calls", 5),
        ("charge_allowed", 4),
        ("charge_errors", 1),
        ("gcra_charges", 1),
        // CHARGE -1 and CL.THROTTLE with -1: the third refund had nothing to give back.
        ("gcra_refunds", 2),
        // FIXED: 2 CHECK + 1 PEEK + 2 MCHECK, counted once per call
        ("fixed_calls", 5),
        ("sliding_calls", 2),
        ("sliding_allowed", 1),
        ("sliding_denied", 1),
        // 2 CL.THROTTLE, 4 CHARGE, 1 CHECK refused
        ("gcra_calls", 7),
        ("gcra_allowed", 6),
        ("gcra_errors", 1),
        ("fixed_errors", 0),
        ("log_calls", 1),
    ];
    for (f, n) in want {
        assert_eq!(counter(&mut c, f), n, "{f}");
    }
}

/// `MODULE LIST` names the release a server has loaded: the crate's version, encoded
/// as `major * 10000 + minor * 100 + patch` (0.3.0 is 300).
#[test]
fn module_list_reports_the_crate_version() {
    let s = Server::start();
    let mut c = s.client();
    let modules: Vec<Vec<redis::Value>> = redis::cmd("MODULE").arg("LIST").query(&mut c).unwrap();
    let mut found = None;
    for entry in &modules {
        // Each entry is `name, <name>, ver, <version>, ...` (plus path and args on 7.0+).
        let field = |name: &str| {
            entry.chunks(2).find_map(|pair| match pair {
                [redis::Value::BulkString(k), v] if k.as_slice() == name.as_bytes() => {
                    Some(v.clone())
                }
                _ => None,
            })
        };
        if field("name") == Some(redis::Value::BulkString(b"ratelimit".to_vec())) {
            found = field("ver");
        }
    }
    let Some(redis::Value::Int(version)) = found else {
        panic!("no ratelimit module with an integer version in MODULE LIST: {modules:?}");
    };
    // Encoded here, not with the crate's `version`: linking the crate into a test
    // brings its Redis allocator, which a test process does not have.
    let part = |p: &str| p.parse::<i64>().unwrap();
    let (major, minor, patch) = (
        part(env!("CARGO_PKG_VERSION_MAJOR")),
        part(env!("CARGO_PKG_VERSION_MINOR")),
        part(env!("CARGO_PKG_VERSION_PATCH")),
    );
    assert_eq!(version, major * 10_000 + minor * 100 + patch);
}
