//! The demo against a 3-node Redis Cluster, through redis-rs's cluster client: each
//! client's limits share a hash tag, so even a policy of two limits (MCHECK) works.

mod common;

use common::*;
use reqwest::StatusCode;

fn cluster() -> Vec<Redis> {
    redis_test_harness::cluster(3, with_module)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_url_limits_through_the_cluster_client() {
    let nodes = cluster();
    // redis_test_harness::cluster has waited for cluster_state:ok on every node.
    // The policy's name makes the client's hash tag `guest:ip:127.0.0.1`, whose slot
    // (11754) belongs to another node than the slot of "2" (5649), MCHECK's first
    // argument: a call the client routed by its first argument would meet MOVED.
    let two_limits = config(|c| {
        c.replace(
            "limits = [{ limit = 10, window_s = 60 }]",
            "limits = [{ limit = 3, window_s = 60 }, { limit = 5, window_s = 3600 }]",
        )
        .replace("name = \"anon\"", "name = \"guest\"")
    });
    let url = format!(
        "redis+cluster://{}",
        nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    );
    let app = App::start(two_limits, &url).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/api/data", &[]).await.status());
    }
    assert_eq!(statuses[..3], [StatusCode::OK; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    // Both keys of the client live on one node, the owner of their hash tag.
    let calls: u64 = nodes.iter().map(|n| n.calls("ratelimit.mcheck")).sum();
    assert_eq!(calls, 4);
    // Each call went straight to the owner of its keys: no node answered MOVED.
    let moved: u64 = nodes.iter().map(|n| n.errors("MOVED")).sum();
    assert_eq!(
        moved, 0,
        "MCHECK was sent to a node that does not own its keys"
    );
    let holders: Vec<usize> = nodes
        .iter()
        .map(|n| {
            redis::cmd("DBSIZE")
                .query::<usize>(&mut n.connection())
                .unwrap()
        })
        .collect();
    assert_eq!(holders.iter().sum::<usize>(), 2, "{holders:?}");
    assert!(holders.contains(&2), "{holders:?}");
    // The premise of the MOVED check above: the keys' node does not own "2".
    let keys_node = holders.iter().position(|&n| n == 2).unwrap();
    assert!(
        !owns_slot(&nodes[keys_node], 5649),
        "the keys share a node with the slot of \"2\": the MOVED check proves nothing"
    );
}

/// Whether `node` serves `slot`, from its own line of `CLUSTER NODES`.
fn owns_slot(node: &Redis, slot: u16) -> bool {
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut node.connection())
        .unwrap();
    let own = nodes.lines().find(|l| l.contains("myself")).unwrap();
    own.split_whitespace().skip(8).any(|range| {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        (a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap()).contains(&slot)
    })
}
