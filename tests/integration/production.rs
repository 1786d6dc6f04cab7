//! What production needs: persistence, failover, ACL, memory limits, loading and
//! unloading at run time.

use crate::server::{binary_version, module_path, Server, Start};
use crate::util::*;

const ALGORITHMS: [&str; 4] = ["FIXED", "SLIDING", "GCRA", "LOG"];

/// The arguments plus what allows DEBUG on servers that refuse it by default (7.0+).
fn with_debug<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    if binary_version() >= (7, 0) {
        v.extend(["--enable-debug-command", "local"]);
    }
    v
}

/// Makes a mix of allowed and denied calls on every algorithm over 40 keys.
fn populate(c: &mut redis::Connection) -> Vec<String> {
    let keys: Vec<String> = (0..40).map(|i| format!("p:{i}")).collect();
    for round in 0..4 {
        for (i, key) in keys.iter().enumerate() {
            let alg = ALGORITHMS[i % 4];
            five(
                c,
                &format!(
                    "RATELIMIT.CHECK {key} 3 {} COST {} ALGORITHM {alg}",
                    300 + i,
                    round % 2 + 1
                ),
            );
        }
    }
    keys
}

fn all_snapshots(c: &mut redis::Connection, keys: &[String]) -> Vec<Snap> {
    keys.iter().map(|k| snapshot(c, k.as_bytes())).collect()
}

#[test]
fn aof_replica_reload_and_crash_restart_hold_the_same_state() {
    let primary = Server::start_with(&with_debug(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]));
    let replica = Server::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut p = primary.client();
    let mut r = replica.client();
    wait_for_link(&mut r);
    let keys = populate(&mut p);
    wait_for_replica(&mut p, &mut r);
    let expected = all_snapshots(&mut p, &keys);
    assert!(expected.iter().all(|s| s.value.is_some() && s.at > 0));
    assert_eq!(all_snapshots(&mut r, &keys), expected, "replica");

    redis::cmd("DEBUG")
        .arg("LOADAOF")
        .query::<()>(&mut p)
        .unwrap();
    assert_eq!(
        all_snapshots(&mut p, &keys),
        expected,
        "after DEBUG LOADAOF"
    );

    drop(p);
    let dir = primary.crash_keep_dir();
    let restarted = Server::start_in(dir, &["--appendonly", "yes"]);
    let mut p = restarted.client();
    assert_eq!(
        all_snapshots(&mut p, &keys),
        expected,
        "after kill -9 and restart from the AOF"
    );
    // And the restarted primary keeps limiting from that state.
    let r = five(&mut p, "RATELIMIT.CHECK p:0 3 300 ALGORITHM FIXED");
    assert_eq!(r[0], 0, "p:0 was full before the crash: {r:?}");
}

#[test]
fn rdb_reload_and_restart_keep_state() {
    let primary = Server::start_with(&with_debug(&[]));
    let mut p = primary.client();
    let keys = populate(&mut p);
    let expected = all_snapshots(&mut p, &keys);
    redis::cmd("DEBUG")
        .arg("RELOAD")
        .query::<()>(&mut p)
        .unwrap();
    assert_eq!(all_snapshots(&mut p, &keys), expected, "after DEBUG RELOAD");
    save(&mut p);
    drop(p);
    let restarted = Server::start_in(primary.crash_keep_dir(), &[]);
    let mut p = restarted.client();
    assert_eq!(
        all_snapshots(&mut p, &keys),
        expected,
        "after a restart from the RDB file"
    );
    for (i, key) in keys.iter().enumerate() {
        let peek = five(
            &mut p,
            &format!(
                "RATELIMIT.PEEK {key} 3 {} ALGORITHM {}",
                300 + i,
                ALGORITHMS[i % 4]
            ),
        );
        assert_eq!(peek[1], 3, "{key} still readable");
    }
}

#[test]
fn a_promoted_replica_continues_each_count() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    for alg in ALGORITHMS {
        for _ in 0..3 {
            five(
                &mut p,
                &format!("RATELIMIT.CHECK f:{alg} 5 600 ALGORITHM {alg}"),
            );
        }
    }
    wait_for_replica(&mut p, &mut r);
    drop(p);
    drop(primary);
    redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query::<()>(&mut r)
        .unwrap();
    for alg in ALGORITHMS {
        let line = format!("RATELIMIT.CHECK f:{alg} 5 600 ALGORITHM {alg}");
        assert_eq!(
            five(&mut r, &line)[..3],
            [1, 5, 1],
            "{alg}: continues from 3 of 5"
        );
        assert_eq!(five(&mut r, &line)[..3], [1, 5, 0], "{alg}");
        assert_eq!(five(&mut r, &line)[0], 0, "{alg}");
    }
}

#[test]
fn acl_key_patterns_apply_and_read_only_users_may_peek() {
    let s = Server::start();
    let mut app = s.user("app", &["~app:*", "+@all"]);
    assert_eq!(five(&mut app, "RATELIMIT.CHECK app:1 10 60")[0], 1);
    assert!(error(&mut app, "RATELIMIT.CHECK other:1 10 60").starts_with("NOPERM"));
    assert!(error(&mut app, "RATELIMIT.PEEK other:1 10 60").starts_with("NOPERM"));

    if s.version() >= (7, 0) {
        // Selectors with read-only key permissions exist from Redis 7.0.
        let mut viewer = s.user("viewer", &["%R~app:*", "+@all"]);
        assert_eq!(
            five(&mut viewer, "RATELIMIT.PEEK app:1 10 60")[..3],
            [1, 10, 9]
        );
        assert!(error(&mut viewer, "RATELIMIT.CHECK app:1 10 60").starts_with("NOPERM"));
    }
}

#[test]
fn over_maxmemory_check_is_refused_and_peek_still_answers() {
    let s = Server::start_cell_compat(&[]);
    let mut c = s.client();
    five(&mut c, "RATELIMIT.CHECK existing 10 60");
    redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory-policy", "noeviction"])
        .query::<()>(&mut c)
        .unwrap();
    redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"])
        .query::<()>(&mut c)
        .unwrap();
    // Every writing command is deny-oom, MCHECK and CL.THROTTLE included.
    for line in [
        "RATELIMIT.CHECK new 10 60",
        "RATELIMIT.MCHECK 2 new 10 60 other 5 60",
        "CL.THROTTLE new 4 1 60",
    ] {
        let e = error(&mut c, line);
        assert!(e.starts_with("OOM"), "{line}: {e}");
    }
    assert_eq!(
        five(&mut c, "RATELIMIT.PEEK existing 10 60")[..3],
        [1, 10, 9]
    );
    redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "0"])
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(five(&mut c, "RATELIMIT.CHECK new 10 60")[0], 1);
}

#[test]
fn module_load_and_unload_at_run_time() {
    let s = Server::without_module();
    let mut c = s.client();
    let path = module_path().display().to_string();
    assert!(error(&mut c, "RATELIMIT.CHECK k 1 1").contains("unknown command"));
    redis::cmd("MODULE")
        .arg("LOAD")
        .arg(&path)
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(five(&mut c, "RATELIMIT.CHECK k 1 60")[0], 1);
    redis::cmd("MODULE")
        .arg("UNLOAD")
        .arg("ratelimit")
        .query::<()>(&mut c)
        .unwrap();
    assert!(error(&mut c, "RATELIMIT.CHECK k 1 60").contains("unknown command"));
    // The state outlives the module: loading it again continues the count.
    redis::cmd("MODULE")
        .arg("LOAD")
        .arg(&path)
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(five(&mut c, "RATELIMIT.CHECK k 1 60")[0], 0);
    assert_eq!(redis::cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
}
