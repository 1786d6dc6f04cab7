//! RATELIMIT.CHARGE (a cost known after the request, or a refund) and MCHECK's COSTS:
//! debt that the next requests wait out, refunds that give back no more than was
//! counted, all-or-nothing costs per limit, and writes that replicate as effects.

use std::thread::sleep;
use std::time::Duration;

use redis::Value;

use crate::server::{Server, Start};
use crate::util::*;

const ALGORITHMS: [&str; 4] = ["FIXED", "SLIDING", "GCRA", "LOG"];

fn exists(c: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(c).unwrap() == 1
}

#[test]
fn a_charge_past_the_limit_is_debt_that_the_next_check_waits_out() {
    let s = Server::start();
    let mut c = s.client();
    let mut waits = vec![];
    for alg in ALGORITHMS {
        let key = format!("debt:{alg}");
        let limit = format!("{key} 10 2000 MS ALGORITHM {alg}");
        assert_eq!(
            five(&mut c, &format!("RATELIMIT.CHECK {limit} COST 4"))[..3],
            [1, 10, 6]
        );
        // 15 more than the 6 left: CHARGE never denies, and the key is in debt.
        let charged = five(
            &mut c,
            &format!("RATELIMIT.CHARGE {key} 10 2000 15 MS ALGORITHM {alg}"),
        );
        assert_eq!(charged[..3], [1, 10, 0], "{alg}");
        assert!(
            charged[3] > 0,
            "{alg}: a request of cost 1 must wait: {charged:?}"
        );
        let denied = five(&mut c, &format!("RATELIMIT.CHECK {limit}"));
        assert_eq!(denied[0], 0, "{alg}: denied while in debt");
        assert!(
            denied[3] > 0 && denied[3] <= charged[3],
            "{alg}: {denied:?}"
        );
        waits.push((limit, denied[3]));
    }
    // Once the debt is paid by time, requests pass again.
    let longest = waits.iter().map(|(_, w)| *w).max().unwrap();
    sleep(Duration::from_millis(longest as u64 + 20));
    for (limit, _) in &waits {
        assert_eq!(
            five(&mut c, &format!("RATELIMIT.CHECK {limit}"))[0],
            1,
            "{limit}"
        );
    }
}

#[test]
fn a_refund_gives_back_what_was_counted_and_never_more() {
    let s = Server::start();
    let mut c = s.client();
    for alg in ALGORITHMS {
        let key = format!("refund:{alg}");
        let limit = format!("10 60 ALGORITHM {alg}");
        assert_eq!(
            five(&mut c, &format!("RATELIMIT.CHECK {key} {limit} COST 8"))[2],
            2
        );
        let back = five(
            &mut c,
            &format!("RATELIMIT.CHARGE {key} 10 60 -5 ALGORITHM {alg}"),
        );
        assert_eq!(back[..4], [1, 10, 7, 0], "{alg}");
        let all = five(
            &mut c,
            &format!("RATELIMIT.CHARGE {key} 10 60 -100 ALGORITHM {alg}"),
        );
        assert_eq!(all, [1, 10, 10, 0, 0], "{alg}: never more than was counted");
        assert!(
            !exists(&mut c, &key),
            "{alg}: nothing left counted, the key is gone"
        );
        // And the next request counts from a full limit.
        assert_eq!(
            five(&mut c, &format!("RATELIMIT.CHECK {key} {limit}"))[2],
            9,
            "{alg}"
        );
    }
}

#[test]
fn a_refund_for_a_fixed_window_that_has_ended_changes_nothing() {
    let s = Server::start();
    let mut c = s.client();
    five(&mut c, "RATELIMIT.CHECK ended 10 300 MS COST 8");
    sleep(Duration::from_millis(320));
    let dirty_before = dirty(&mut c);
    let after = five(&mut c, "RATELIMIT.CHARGE ended 10 300 -5 MS");
    assert_eq!(after[..3], [1, 10, 10]);
    assert_eq!(dirty(&mut c), dirty_before, "nothing written");
    // The next window starts afresh: the refund did not carry over as credit.
    assert_eq!(
        five(&mut c, "RATELIMIT.CHECK ended 10 300 MS COST 10")[..3],
        [1, 10, 0]
    );
}

#[test]
fn a_gcra_refund_never_moves_the_arrival_time_before_now() {
    let s = Server::start();
    let mut c = s.client();
    // 10 per 1 s: one unit back every 100 ms.
    five(&mut c, "RATELIMIT.CHECK g 10 1 ALGORITHM GCRA COST 5");
    sleep(Duration::from_millis(250));
    let back = five(&mut c, "RATELIMIT.CHARGE g 10 1 -100 ALGORITHM GCRA");
    assert_eq!(back, [1, 10, 10, 0, 0]);
    assert!(!exists(&mut c, "g"));
    // No credit: ten pass at once, the eleventh waits as from a full bucket. One
    // pipeline, so that the eleven calls are microseconds apart however loaded the
    // machine (a token comes back every 100 ms).
    let mut pipe = redis::pipe();
    for _ in 0..11 {
        pipe.cmd("RATELIMIT.CHECK")
            .arg("g")
            .arg(10)
            .arg(1)
            .arg("ALGORITHM")
            .arg("GCRA");
    }
    let replies: Vec<Vec<i64>> = pipe.query(&mut c).unwrap();
    let allowed: Vec<i64> = replies.iter().map(|r| r[0]).collect();
    assert_eq!(allowed, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
}

#[test]
fn charge_zero_and_bad_input_write_nothing() {
    let s = Server::start();
    let mut c = s.client();
    put_foreign_values(&mut c);
    five(&mut c, "RATELIMIT.CHECK k 10 60 COST 4");
    let before = snapshot(&mut c, b"k");
    let dirty_before = dirty(&mut c);
    assert_eq!(five(&mut c, "RATELIMIT.CHARGE k 10 60 0")[..3], [1, 10, 6]);
    assert_eq!(
        five(&mut c, "RATELIMIT.CHARGE none 10 60 -3")[..3],
        [1, 10, 10]
    );
    for (line, want) in [
        (
            "RATELIMIT.CHARGE k 10 60 x",
            "ERR amount must be an integer",
        ),
        (
            "RATELIMIT.CHARGE k 10 60 -0",
            "ERR amount must be an integer",
        ),
        (
            "RATELIMIT.CHARGE k 10 60 1000000000001",
            "ERR amount must be an integer",
        ),
        (
            "RATELIMIT.CHARGE k 10 60 5 COST 1",
            "ERR CHARGE takes no COST",
        ),
        ("RATELIMIT.CHARGE k 0 60 5", "ERR limit must be"),
        (
            "RATELIMIT.CHARGE k 10 60 5 BURST 3",
            "ERR BURST applies only",
        ),
        (
            "RATELIMIT.CHARGE k 10 60 5 ALGORITHM GCRA",
            "WRONGTYPE the key holds ALGORITHM FIXED",
        ),
        ("RATELIMIT.CHARGE list 10 60 5", "WRONGTYPE"),
        ("RATELIMIT.CHARGE text 10 60 5", "WRONGTYPE"),
        ("RATELIMIT.CHARGE k 10 60", "ERR wrong number of arguments"),
    ] {
        let e = error(&mut c, line);
        assert!(e.starts_with(want), "{line}: {e}");
    }
    assert_eq!(dirty(&mut c), dirty_before, "nothing written");
    assert_eq!(snapshot(&mut c, b"k"), before);
}

#[test]
fn mcheck_costs_count_each_limit_in_its_own_unit_all_or_nothing() {
    let s = Server::start();
    let mut c = s.client();
    let allowed = run(
        &mut c,
        &words("RATELIMIT.MCHECK 2 {k}:rpm 60 60 {k}:tpm 100000 60 COSTS 1 90000"),
    )
    .unwrap();
    let Value::Array(items) = allowed else {
        panic!("{allowed:?}")
    };
    assert_eq!(items[0], Value::Int(1));
    let remaining = |v: &Value| match v {
        Value::Array(five) => five[2].clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(remaining(&items[1]), Value::Int(59));
    assert_eq!(remaining(&items[2]), Value::Int(10_000));
    let before = (snapshot(&mut c, b"{k}:rpm"), snapshot(&mut c, b"{k}:tpm"));
    let dirty_before = dirty(&mut c);
    let denied = run(
        &mut c,
        &words("RATELIMIT.MCHECK 2 {k}:rpm 60 60 {k}:tpm 100000 60 COSTS 1 20000"),
    )
    .unwrap();
    let Value::Array(items) = denied else {
        panic!("{denied:?}")
    };
    assert_eq!(items[0], Value::Int(0));
    assert_eq!(
        remaining(&items[1]),
        Value::Int(59),
        "the request limit lost nothing"
    );
    assert_eq!(remaining(&items[2]), Value::Int(10_000));
    assert_eq!(dirty(&mut c), dirty_before);
    assert_eq!(
        (snapshot(&mut c, b"{k}:rpm"), snapshot(&mut c, b"{k}:tpm")),
        before,
        "counted against neither"
    );
    let e = error(
        &mut c,
        "RATELIMIT.MCHECK 2 {k}:rpm 60 60 {k}:tpm 100000 60 COSTS 1 2 COST 1",
    );
    assert_eq!(e, "ERR COST and COSTS cannot be given together");
    let e = error(
        &mut c,
        "RATELIMIT.MCHECK 2 {k}:rpm 60 60 {k}:tpm 100000 60 COSTS 1",
    );
    assert_eq!(e, "ERR COSTS needs one cost per limit");
    assert_eq!(dirty(&mut c), dirty_before);
}

#[test]
fn charges_and_refunds_replicate_their_effects() {
    let primary = Server::builder()
        .module(crate::server::module_path(), &[])
        .module_args(&crate::server::suite_load_args())
        .aof()
        .start();
    let replica = crate::server::with_module(&[]).replica_of(&primary).start();
    let mut p = primary.client();
    let mut r = replica.client();
    wait_for_link(&mut r);
    let mut keys = vec![];
    for alg in ALGORITHMS {
        let key = format!("rep:{alg}");
        let opts = format!("10 60 ALGORITHM {alg}");
        five(&mut p, &format!("RATELIMIT.CHECK {key} {opts} COST 3"));
        five(
            &mut p,
            &format!("RATELIMIT.CHARGE {key} 10 60 12 ALGORITHM {alg}"),
        );
        five(
            &mut p,
            &format!("RATELIMIT.CHARGE {key} 10 60 -4 ALGORITHM {alg}"),
        );
        // Refunded to nothing: DEL replicates.
        let gone = format!("gone:{alg}");
        five(&mut p, &format!("RATELIMIT.CHECK {gone} {opts} COST 2"));
        five(
            &mut p,
            &format!("RATELIMIT.CHARGE {gone} 10 60 -2 ALGORITHM {alg}"),
        );
        keys.push(key);
        keys.push(gone);
    }
    wait_for_replica(&mut p, &mut r);
    let snaps: Vec<Snap> = keys
        .iter()
        .map(|k| snapshot(&mut p, k.as_bytes()))
        .collect();
    for (key, snap) in keys.iter().zip(&snaps) {
        assert_eq!(
            &snapshot(&mut r, key.as_bytes()),
            snap,
            "{key} on the replica"
        );
        assert_eq!(snap.value.is_none(), key.starts_with("gone:"), "{key}");
    }
    drop(r);
    drop(replica);
    let reloaded = Server::start_in(primary.crash_keep_dir(), &["--appendonly", "yes"]);
    let mut l = reloaded.client();
    for (key, snap) in keys.iter().zip(&snaps) {
        assert_eq!(
            &snapshot(&mut l, key.as_bytes()),
            snap,
            "{key} from the AOF"
        );
    }
}

#[test]
fn cl_throttle_with_a_negative_quantity_refunds() {
    let s = Server::start_cell_compat(&[]);
    let mut c = s.client();
    // Capacity 5 (max_burst 4), 1 per second.
    assert_eq!(five(&mut c, "CL.THROTTLE t 4 1 1 5")[..3], [0, 5, 0]);
    assert_eq!(five(&mut c, "CL.THROTTLE t 4 1 1 1")[0], 1, "limited");
    let back = five(&mut c, "CL.THROTTLE t 4 1 1 -2");
    assert_eq!(
        back[..4],
        [0, 5, 2, -1],
        "redis-cell's reply: not limited, 2 left"
    );
    assert_eq!(five(&mut c, "CL.THROTTLE t 4 1 1 2")[..3], [0, 5, 0]);
}
