//! Redis Cluster: three primaries on loopback, each with the module loaded.

use std::process::Command;

use crate::server::{compact_run, with_module, Server};
use crate::util::*;

fn start_cluster() -> Vec<Server> {
    redis_test_harness::cluster(3, || with_module(&[]))
}

fn slot(c: &mut redis::Connection, key: &str) -> u16 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(c)
        .unwrap()
}

/// The node that owns a key, by trying each one.
fn owner<'a>(nodes: &'a [Server], key: &str) -> &'a Server {
    nodes
        .iter()
        .find(|n| {
            run(
                &mut n.client(),
                &words(&format!("RATELIMIT.PEEK {key} 1 1")),
            )
            .is_ok()
        })
        .expect("some node owns every slot")
}

fn node_id(c: &mut redis::Connection) -> String {
    redis::cmd("CLUSTER").arg("MYID").query(c).unwrap()
}

#[test]
fn cluster_redirects_routes_and_migrates_rate_limit_keys() {
    let nodes = start_cluster();
    let keys: Vec<String> = (0..30).map(|i| format!("user:{i}")).collect();

    // A plain client on the wrong node gets MOVED naming the owner.
    let mut first = nodes[0].client();
    let mut moved = 0;
    let mut counted = std::collections::HashMap::new();
    for key in &keys {
        match run(&mut first, &words(&format!("RATELIMIT.CHECK {key} 5 600"))) {
            Ok(_) => {
                counted.insert(key.clone(), 1);
            }
            Err(e) => {
                assert_eq!(e.code(), Some("MOVED"), "{e}");
                let owner_port = owner(&nodes, key).port;
                assert!(e.to_string().contains(&format!(":{owner_port}")), "{e}");
                moved += 1;
            }
        }
    }
    assert!(moved > 0, "some of 30 keys live on other nodes");

    // redis-cli -c follows redirects.
    for key in &keys {
        let out = Command::new("redis-cli")
            .args([
                "-c",
                "-p",
                &nodes[0].port.to_string(),
                "RATELIMIT.CHECK",
                key,
                "5",
                "600",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.lines().next() == Some("1"), "{key}: {text}");
    }

    // A cluster-aware client lands every key on its owner.
    let client =
        redis::cluster::ClusterClient::new(vec![format!("redis://127.0.0.1:{}/", nodes[1].port)])
            .unwrap();
    let mut cc = client.get_connection().unwrap();
    for key in &keys {
        let r: Vec<i64> = redis::cmd("RATELIMIT.CHECK")
            .arg(key)
            .arg(5)
            .arg(600)
            .query(&mut cc)
            .unwrap();
        // Counted once by redis-cli, once here, and once before for node 0's own keys.
        let before = counted.get(key).copied().unwrap_or(0);
        assert_eq!(r[..3], [1, 5, 3 - before], "{key}");
        let on_owner = snapshot(&mut owner(&nodes, key).client(), key.as_bytes());
        assert!(on_owner.value.is_some(), "{key} stored on its owner");
    }

    // Migrate one key's slot to another node: ASK during migration, value and expiry
    // intact after.
    let key = &keys[0];
    let src = owner(&nodes, key);
    let dst = nodes.iter().find(|n| n.port != src.port).unwrap();
    let (mut s, mut d) = (src.client(), dst.client());
    let slot = slot(&mut s, key);
    let before = snapshot(&mut s, key.as_bytes());
    let (src_id, dst_id) = (node_id(&mut s), node_id(&mut d));
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("IMPORTING")
        .arg(&src_id)
        .query::<()>(&mut d)
        .unwrap();
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(&dst_id)
        .query::<()>(&mut s)
        .unwrap();
    redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(dst.port)
        .arg(key)
        .arg(0)
        .arg(5000)
        .query::<()>(&mut s)
        .unwrap();
    let e = run(&mut s, &words(&format!("RATELIMIT.CHECK {key} 5 600"))).unwrap_err();
    assert_eq!(e.code(), Some("ASK"), "{e}");
    // On the importing node, after ASKING, the key answers with its migrated state.
    let r: Vec<i64> = redis::pipe()
        .cmd("ASKING")
        .ignore()
        .cmd("RATELIMIT.CHECK")
        .arg(key)
        .arg(5)
        .arg(600)
        .query::<(Vec<i64>,)>(&mut d)
        .unwrap()
        .0;
    let expected = 5 - 3 - counted.get(key).copied().unwrap_or(0);
    assert_eq!(r[..3], [1, 5, expected], "the count moved with the key");
    for n in [&mut s, &mut d] {
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&dst_id)
            .query::<()>(n)
            .unwrap();
    }
    let after = snapshot(&mut d, key.as_bytes());
    // MIGRATE carries the time to live, not the absolute expiry, so the importing node
    // may place it a millisecond or two later. The binary state holds its own absolute
    // times and the next check restores the exact expiry; a compact state is relative
    // to the expiry, so it keeps the later one, which only makes it stricter.
    let kept = if compact_run() {
        let earliest = if before.exact && after.exact { 0 } else { -5 };
        (earliest..=5).contains(&(after.at - before.at))
    } else {
        after.same_expiry(&before)
    };
    assert!(
        after.value.is_some() && kept,
        "expiry intact: {before:?} -> {after:?}"
    );
}

#[test]
fn mcheck_keys_must_share_a_slot() {
    let nodes = start_cluster();
    let (a, b) = ("user:1", "user:2");
    let mut any = nodes[0].client();
    assert_ne!(slot(&mut any, a), slot(&mut any, b));
    // Keys in different slots: CROSSSLOT, from the owner of either key.
    let e = run(
        &mut owner(&nodes, a).client(),
        &words(&format!("RATELIMIT.MCHECK 2 {a} 2 60 {b} 3 3600")),
    )
    .unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");

    // Keys sharing a hash tag: one slot, served by its owner, MOVED elsewhere.
    let (min, hour) = ("{user:1}:min", "{user:1}:hour");
    assert_eq!(slot(&mut any, min), slot(&mut any, hour));
    let line = format!("RATELIMIT.MCHECK 2 {min} 2 60 {hour} 3 3600");
    let home = owner(&nodes, min);
    for n in nodes.iter().filter(|n| n.port != home.port) {
        let e = run(&mut n.client(), &words(&line)).unwrap_err();
        assert_eq!(e.code(), Some("MOVED"), "{e}");
    }
    let mut h = home.client();
    for allowed in [1, 1, 0] {
        let reply = run(&mut h, &words(&line)).unwrap();
        let redis::Value::Array(items) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(items[0], redis::Value::Int(allowed));
    }
    assert_eq!(
        five(&mut h, &format!("RATELIMIT.PEEK {hour} 3 3600"))[2],
        1,
        "the denied call took nothing from the hourly limit"
    );
}
