//! Replication: replicas receive effects with absolute expiry, never the command.

use crate::server::{Server, Start};
use crate::util::*;

fn offset(c: &mut redis::Connection) -> u64 {
    info_field(c, "replication", "master_repl_offset")
        .parse()
        .unwrap()
}

#[test]
fn replica_holds_the_same_value_and_expiry_for_every_key() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    wait_for_link(&mut r);
    let keys: Vec<String> = (0..20).map(|i| format!("rep:{i}")).collect();
    for round in 0..5 {
        for (i, key) in keys.iter().enumerate() {
            // Mixed limits, costs and windows, including denied calls.
            let alg = ["FIXED", "SLIDING", "GCRA", "LOG"][i % 4];
            let line = format!(
                "RATELIMIT.CHECK {key} {} {} COST {} ALGORITHM {alg}",
                3 + i % 4,
                10 + i,
                round % 3
            );
            five(&mut p, &line);
        }
    }
    wait_for_replica(&mut p, &mut r);
    for key in &keys {
        let on_primary = snapshot(&mut p, key.as_bytes());
        assert!(
            on_primary.value.is_some() && on_primary.at > 0,
            "{key} on primary: {on_primary:?}"
        );
        assert_eq!(snapshot(&mut r, key.as_bytes()), on_primary, "{key}");
    }
    // The replica answers PEEK with the primary's view.
    let on_primary = five(&mut p, "RATELIMIT.PEEK rep:0 3 10 ALGORITHM FIXED");
    let on_replica = five(&mut r, "RATELIMIT.PEEK rep:0 3 10 ALGORITHM FIXED");
    assert_eq!(on_primary[..3], on_replica[..3]);
}

#[test]
fn denied_calls_send_nothing_to_replicas() {
    let (primary, replica) = Server::primary_and_replica();
    let mut p = primary.client();
    let mut r = replica.client();
    wait_for_link(&mut r);
    five(&mut p, "RATELIMIT.CHECK d 1 60");
    let before = offset(&mut p);
    for _ in 0..50 {
        assert_eq!(five(&mut p, "RATELIMIT.CHECK d 1 60")[0], 0);
    }
    five(&mut p, "RATELIMIT.CHECK d 1 60 COST 0");
    assert_eq!(
        offset(&mut p),
        before,
        "denied and COST 0 calls replicate nothing"
    );
    five(&mut p, "RATELIMIT.CHECK other 1 60");
    assert!(offset(&mut p) > before, "an allowed call replicates");
}
