//! The demo against a 3-node Redis Cluster, through redis-rs's cluster client: each
//! client's limits share a hash tag, so even a policy of two limits (MCHECK) works.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;

fn cluster() -> Vec<Redis> {
    let nodes: Vec<Redis> = (0..3)
        .map(|_| {
            Redis::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
        })
        .collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_url_limits_through_the_cluster_client() {
    let nodes = cluster();
    for n in &nodes {
        let mut c = n.connection();
        wait_until("cluster_state:ok", Duration::from_secs(30), async || {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
            info.contains("cluster_state:ok")
        })
        .await;
    }
    let two_limits = config(|c| {
        c.replace(
            "limits = [{ limit = 10, window_s = 60 }]",
            "limits = [{ limit = 3, window_s = 60 }, { limit = 5, window_s = 3600 }]",
        )
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
}
