//! `COMPACT-STATE yes`: FIXED and GCRA state stored as an int-encoded integer relative
//! to the key's expiry, read through GET and written through SET or INCRBY. (The whole
//! suite also runs once more with the option on; these tests check what is particular
//! to it, whatever the run's default.)

use crate::server::{Server, Start};
use crate::util::*;

fn compact() -> Server {
    Server::start_storing(true, tempfile::tempdir().unwrap(), &[])
}

fn binary() -> Server {
    Server::start_storing(false, tempfile::tempdir().unwrap(), &[])
}

fn encoding(c: &mut redis::Connection, key: &str) -> String {
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(c)
        .unwrap()
}

fn value(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(c).unwrap()
}

/// A compact primary and its replica (compact or not), the link up.
fn compact_primary_and_replica(compact_replica: bool) -> (Server, Server) {
    let primary = compact();
    let replica = Server::start_storing(
        compact_replica,
        tempfile::tempdir().unwrap(),
        &["--replicaof", "127.0.0.1", &primary.port.to_string()],
    );
    wait_for_link(&mut replica.client());
    (primary, replica)
}

/// Copies a key's value and expiry to another server, as a restart with the other
/// setting (or a replica fed by the other form) would present it.
fn copy_key(from: &mut redis::Connection, to: &mut redis::Connection, key: &str) {
    let snap = snapshot(from, key.as_bytes());
    redis::cmd("SET")
        .arg(key)
        .arg(snap.value.expect("the key exists"))
        .arg("PXAT")
        .arg(snap.at)
        .query::<()>(to)
        .unwrap();
}

#[test]
fn fixed_and_gcra_state_is_an_int_encoded_integer() {
    let s = compact();
    let mut c = s.client();
    for line in [
        "RATELIMIT.CHECK f 3 60",
        "RATELIMIT.CHECK g 3 60 ALGORITHM GCRA",
    ] {
        let key = line.split(' ').nth(1).unwrap();
        five(&mut c, line);
        five(&mut c, line);
        assert_eq!(encoding(&mut c, key), "int", "{line}");
        let text = String::from_utf8(value(&mut c, key)).unwrap();
        let v: i64 = text.parse().unwrap();
        // The tag (0xA1 or 0xA3) in the top byte: below every counter's range.
        assert!(v < -6_600_000_000_000_000_000, "{line}: {v}");
    }
    // What is read stays compact: a denied call and a PEEK change neither the value,
    // nor the expiry, nor the encoding (DMA would have turned it into a raw string).
    five(&mut c, "RATELIMIT.CHECK f 3 60");
    let before = snapshot(&mut c, b"f");
    assert_eq!(five(&mut c, "RATELIMIT.CHECK f 3 60")[0], 0);
    assert_eq!(five(&mut c, "RATELIMIT.PEEK f 3 60")[..3], [0, 3, 0]);
    assert_eq!(snapshot(&mut c, b"f"), before);
    assert_eq!(encoding(&mut c, "f"), "int");
    // SLIDING and LOG have no compact form.
    five(&mut c, "RATELIMIT.CHECK s 3 60 ALGORITHM SLIDING");
    five(&mut c, "RATELIMIT.CHECK l 3 60 ALGORITHM LOG");
    assert_ne!(encoding(&mut c, "s"), "int");
    assert_ne!(encoding(&mut c, "l"), "int");
}

#[test]
fn state_moves_between_the_two_forms_without_losing_a_count() {
    let (small, plain) = (compact(), binary());
    let (mut sc, mut pc) = (small.client(), plain.client());
    // Compact -> binary: two of five counted on one side, the third on the other.
    for line in [
        "RATELIMIT.CHECK f 5 60",
        "RATELIMIT.CHECK g 5 60 ALGORITHM GCRA",
    ] {
        let key = line.split(' ').nth(1).unwrap();
        five(&mut sc, line);
        five(&mut sc, line);
        copy_key(&mut sc, &mut pc, key);
        assert_eq!(five(&mut pc, line)[..3], [1, 5, 2], "{line}");
        assert_ne!(encoding(&mut pc, key), "int");
        // ... and back: the binary state carries on in the compact form.
        copy_key(&mut pc, &mut sc, key);
        assert_eq!(five(&mut sc, line)[..3], [1, 5, 1], "{line}");
        assert_eq!(encoding(&mut sc, key), "int");
    }
}

#[test]
fn a_compact_value_means_nothing_without_its_expiry() {
    let s = compact();
    let mut c = s.client();
    five(&mut c, "RATELIMIT.CHECK k 5 60");
    let kept = value(&mut c, "k");
    let _: i64 = redis::cmd("PERSIST").arg("k").query(&mut c).unwrap();
    for line in [
        "RATELIMIT.CHECK k 5 60",
        "RATELIMIT.PEEK k 5 60",
        "RATELIMIT.MCHECK 1 k 5 60",
    ] {
        assert!(error(&mut c, line).starts_with("WRONGTYPE"), "{line}");
    }
    assert_eq!(value(&mut c, "k"), kept);
    let ttl: i64 = redis::cmd("PTTL").arg("k").query(&mut c).unwrap();
    assert_eq!(ttl, -1, "still persistent: nothing was written");
}

#[test]
fn states_beyond_the_compact_ranges_are_stored_in_the_binary_form() {
    let s = compact();
    let mut c = s.client();
    // A count above 2^24 - 1 and a window above 2^32 - 1 ms have no compact form.
    let many = "RATELIMIT.CHECK many 1000000000 60 COST 20000000";
    assert_eq!(five(&mut c, many)[..3], [1, 1_000_000_000, 980_000_000]);
    assert_ne!(encoding(&mut c, "many"), "int");
    assert_eq!(five(&mut c, many)[..3], [1, 1_000_000_000, 960_000_000]);
    let long = "RATELIMIT.CHECK long 2 5000000";
    five(&mut c, long);
    assert_ne!(encoding(&mut c, "long"), "int");
    assert_eq!(five(&mut c, long)[..3], [1, 2, 0]);
    assert_eq!(five(&mut c, long)[0], 0);
}

#[test]
fn replicas_and_restarts_keep_the_int_encoding() {
    let (primary, replica) = compact_primary_and_replica(true);
    let (mut p, mut r) = (primary.client(), replica.client());
    // The first call creates each key (SET ... PXAT), the second changes it: FIXED
    // within its window by INCRBY, GCRA (whose expiry moves) by SET again.
    for _ in 0..2 {
        five(&mut p, "RATELIMIT.CHECK f 5 60");
        five(&mut p, "RATELIMIT.CHECK g 5 60 ALGORITHM GCRA");
    }
    wait_for_replica(&mut p, &mut r);
    for key in ["f", "g"] {
        assert_eq!(encoding(&mut r, key), "int", "{key} on the replica");
        assert_eq!(
            snapshot(&mut r, key.as_bytes()),
            snapshot(&mut p, key.as_bytes())
        );
    }
    drop(r);
    drop(replica);
    save(&mut p);
    let before = snapshot(&mut p, b"f");
    drop(p);
    let restarted = Server::start_storing(true, primary.stop_keep_dir(), &[]);
    let mut c = restarted.client();
    assert_eq!(snapshot(&mut c, b"f"), before);
    assert_eq!(encoding(&mut c, "f"), "int", "after loading the RDB");
    assert_eq!(five(&mut c, "RATELIMIT.CHECK f 5 60")[..3], [1, 5, 2]);
}

#[test]
fn writes_are_set_for_a_new_expiry_and_incrby_within_a_window() {
    let s = compact();
    let mut c = s.client();
    let mut created = None;
    let events: Vec<String> = keyspace_events(&s, "ev:", |c| {
        five(c, "RATELIMIT.CHECK ev:f 5 60");
        created = Some(snapshot(c, b"ev:f"));
        five(c, "RATELIMIT.CHECK ev:f 5 60");
        five(c, "RATELIMIT.CHECK ev:g 5 60 ALGORITHM GCRA");
        five(c, "RATELIMIT.CHECK ev:g 5 60 ALGORITHM GCRA");
    })
    .into_iter()
    .map(|(key, event)| format!("{} {event}", &key["ev:".len()..]))
    .collect();
    assert_eq!(
        events,
        [
            "f set",
            "f expire",
            "f ratelimit",
            "f incrby",
            "f ratelimit",
            "g set",
            "g expire",
            "g ratelimit",
            "g set",
            "g expire",
            "g ratelimit",
        ]
    );
    // INCRBY counted the second call and left the window's expiry where it was.
    assert_eq!(five(&mut c, "RATELIMIT.PEEK ev:f 5 60")[..3], [1, 5, 3]);
    assert!(snapshot(&mut c, b"ev:f").same_expiry(&created.unwrap()));
    assert_eq!(encoding(&mut c, "ev:f"), "int");
}

fn config_get(c: &mut redis::Connection, name: &str) -> Option<String> {
    let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(c).unwrap();
    pair.get(1).cloned()
}

#[test]
fn the_setting_is_a_config_that_switches_at_run_time() {
    if crate::server::binary_version() < (7, 0) {
        // Redis 6.2 has no module configs (and refuses to start with the option): the
        // load argument is the only switch.
        let s = compact();
        assert_eq!(config_get(&mut s.client(), "ratelimit.compact-state"), None);
        return;
    }
    // From the command line, over the load argument.
    let s = Server::start_storing(
        false,
        tempfile::tempdir().unwrap(),
        &["--ratelimit.compact-state", "yes"],
    );
    let mut c = s.client();
    assert_eq!(
        config_get(&mut c, "ratelimit.compact-state").unwrap(),
        "yes"
    );
    five(&mut c, "RATELIMIT.CHECK a 5 60");
    assert_eq!(encoding(&mut c, "a"), "int");
    // Switched off: new and rewritten keys take the binary form, counts carry on.
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "ratelimit.compact-state", "no"])
        .query(&mut c)
        .unwrap();
    assert_eq!(config_get(&mut c, "ratelimit.compact-state").unwrap(), "no");
    assert_eq!(
        info_field(&mut c, "ratelimit", "ratelimit_compact_state"),
        "0"
    );
    assert_eq!(five(&mut c, "RATELIMIT.CHECK a 5 60")[..3], [1, 5, 3]);
    assert_ne!(encoding(&mut c, "a"), "int");
    // And on again.
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "ratelimit.compact-state", "yes"])
        .query(&mut c)
        .unwrap();
    assert_eq!(five(&mut c, "RATELIMIT.CHECK a 5 60")[..3], [1, 5, 2]);
    assert_eq!(encoding(&mut c, "a"), "int");
    let e = redis::cmd("CONFIG")
        .arg(&["SET", "ratelimit.compact-state", "maybe"])
        .query::<()>(&mut c)
        .unwrap_err();
    assert!(e.to_string().contains("yes"), "{e}");
    assert_eq!(
        config_get(&mut c, "ratelimit.compact-state").unwrap(),
        "yes"
    );
}

#[test]
fn keyspace_hits_count_the_get_of_the_compact_path_only() {
    let counted = |c: &mut redis::Connection, line: &str| -> i64 {
        let hits = |c: &mut redis::Connection| -> i64 {
            info_field(c, "stats", "keyspace_hits").parse().unwrap()
        };
        let before = hits(c);
        run(c, &words(line)).unwrap();
        hits(c) - before
    };
    for compact in [false, true] {
        let s = Server::start_storing(compact, tempfile::tempdir().unwrap(), &[]);
        let mut c = s.client();
        for line in ["INCR i", "RATELIMIT.CHECK k 5 60"] {
            run(&mut c, &words(line)).unwrap();
        }
        // A write command's lookup is no read hit: INCR counts none.
        let incr = counted(&mut c, "INCR i");
        let check = counted(&mut c, "RATELIMIT.CHECK k 5 60");
        if !compact {
            assert_eq!(check, incr, "the default path counts as INCR does");
        } else if s.version() >= (7, 2) {
            // The compact path's GET is a read; its first look at the key is left out
            // of the counters (REDISMODULE_OPEN_KEY_NOSTATS, Redis 7.2+ and Valkey).
            assert_eq!(check, incr + 1);
        } else {
            // Older servers count the look as well.
            assert_eq!(check, incr + 2);
        }
    }
}

#[test]
fn the_expiry_is_part_of_a_compact_state() {
    let s = compact();
    let mut c = s.client();
    five(&mut c, "RATELIMIT.CHECK k 5 60");
    five(&mut c, "RATELIMIT.CHECK k 5 60");
    let pexpire = |c: &mut redis::Connection, ms: i64| {
        let _: i64 = redis::cmd("PEXPIRE").arg("k").arg(ms).query(c).unwrap();
    };
    // Moving the expiry moves the window with it: the count stays, the reset follows.
    pexpire(&mut c, 30_000);
    let r = five(&mut c, "RATELIMIT.PEEK k 5 60");
    assert_eq!(r[..3], [1, 5, 3]);
    assert!(r[4] > 29_000 && r[4] <= 30_000, "{r:?}");
    // A later expiry would start the window in the future; like a clock that stepped
    // back, that is taken as starting now, so no window lasts longer than `window`.
    pexpire(&mut c, 120_000);
    let r = five(&mut c, "RATELIMIT.PEEK k 5 60");
    assert_eq!(r[..3], [1, 5, 3]);
    assert!(r[4] > 59_000 && r[4] <= 60_000, "{r:?}");
}

#[test]
fn a_replica_loaded_without_the_option_reads_compact_state() {
    let (primary, replica) = compact_primary_and_replica(false);
    let (mut p, mut r) = (primary.client(), replica.client());
    five(&mut p, "RATELIMIT.CHECK k 5 60");
    five(&mut p, "RATELIMIT.CHECK k 5 60");
    wait_for_replica(&mut p, &mut r);
    assert_eq!(encoding(&mut r, "k"), "int");
    assert_eq!(
        five(&mut r, "RATELIMIT.PEEK k 5 60")[..3],
        five(&mut p, "RATELIMIT.PEEK k 5 60")[..3]
    );
    // Read through the key API, the value is a raw string from then on (same bytes).
    assert_eq!(encoding(&mut r, "k"), "raw");
    assert_eq!(value(&mut r, "k"), value(&mut p, "k"));
}
