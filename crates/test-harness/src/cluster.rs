//! A Redis Cluster of masters on loopback.

use std::process::Command;
use std::time::Duration;

use crate::server::{wait_until, Server, ServerBuilder};

/// `n` masters (from `node`, made cluster nodes here) sharing the slots, created with
/// `redis-cli --cluster create` (`$REDIS_CLI`, default `redis-cli`) and waited for
/// until every node reports `cluster_state:ok`.
pub fn cluster(n: usize, node: impl Fn() -> ServerBuilder) -> Vec<Server> {
    let nodes: Vec<Server> = (0..n).map(|_| node().cluster_node().start()).collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_string());
    let out = Command::new(&cli)
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cli}: {e}"));
    assert!(
        out.status.success(),
        "cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for node in &nodes {
        let mut c = node.client();
        wait_until("cluster_state:ok", Duration::from_secs(30), || {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut c).unwrap();
            info.contains("cluster_state:ok")
        });
    }
    nodes
}
