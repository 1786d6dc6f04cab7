//! The Redis side: one `RATELIMIT.CHECK` (one limit) or `RATELIMIT.MCHECK` (several)
//! per request, through a connection that reconnects by itself, each call bounded by a
//! timeout.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Value};
use redis_ratelimit::algorithm::Outcome;
use tokio::sync::Mutex;

use super::plan::{Plan, Verdict};

enum Connection {
    /// One server: the connection manager connects lazily and reconnects after a
    /// failure, so the app starts and keeps running while Redis is down.
    Single(ConnectionManager),
    /// Redis Cluster: connected on first use, and again after an error.
    Cluster(Box<Cluster>),
}

struct Cluster {
    client: ClusterClient,
    connection: Mutex<Option<ClusterConnection>>,
}

pub struct Backend {
    connection: Connection,
    timeout: Duration,
}

/// The nodes of a cluster URL: `redis+cluster://h1:p1,h2:p2` or
/// `redis://h1:p1,redis://h2:p2`; `None` for a single-server URL.
pub fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    if let Some(rest) = url.strip_prefix("redis+cluster://") {
        return Some(
            rest.split(',')
                .map(|n| format!("redis://{}", n.trim().trim_end_matches('/')))
                .collect(),
        );
    }
    url.contains(',')
        .then(|| url.split(',').map(|n| n.trim().to_string()).collect())
}

impl Backend {
    /// Prepares the connection without waiting for Redis.
    pub fn new(url: &str, timeout: Duration) -> Result<Backend, String> {
        let connection = match cluster_nodes(url) {
            Some(nodes) => Connection::Cluster(Box::new(Cluster {
                client: ClusterClient::builder(nodes)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .build()
                    .map_err(|e| format!("bad cluster URL {url:?}: {e}"))?,
                connection: Mutex::new(None),
            })),
            None => {
                let client =
                    redis::Client::open(url).map_err(|e| format!("bad Redis URL {url:?}: {e}"))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Connection::Single(
                    ConnectionManager::new_lazy_with_config(client, config)
                        .map_err(|e| format!("cannot prepare a connection to {url:?}: {e}"))?,
                )
            }
        };
        Ok(Backend {
            connection,
            timeout,
        })
    }

    /// Checks a plan in Redis. Any failure (timeout, connection, unexpected reply)
    /// is an `Err` with a message for the log.
    pub async fn check(&self, plan: &Plan) -> Result<Verdict, String> {
        let cmd = command(plan);
        let reply = tokio::time::timeout(self.timeout, self.query(&cmd, plan.keys.first()))
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))??;
        parse_reply(&reply, plan.keys.len())
    }

    /// Whether Redis answers PING now.
    pub async fn ping(&self) -> bool {
        let reply = tokio::time::timeout(self.timeout, self.query(&redis::cmd("PING"), None)).await;
        matches!(reply, Ok(Ok(Value::SimpleString(ref s))) if s == "PONG")
    }

    /// Sends `cmd`; in a cluster, to the primary that owns `key` when one is given.
    /// The cluster client takes the first argument of a command it does not know as
    /// its key; MCHECK's is `numlimits`, so without a route the call would go to the
    /// owner of the slot of "2", which answers MOVED unless it also owns the keys.
    async fn query(&self, cmd: &Cmd, key: Option<&String>) -> Result<Value, String> {
        match &self.connection {
            Connection::Single(manager) => {
                let mut con = manager.clone();
                cmd.query_async(&mut con).await.map_err(|e| e.to_string())
            }
            Connection::Cluster(cluster) => {
                let Cluster { client, connection } = &**cluster;
                let mut guard = connection.lock().await;
                let mut con = match guard.as_ref() {
                    Some(c) => c.clone(),
                    None => {
                        let c = client
                            .get_async_connection()
                            .await
                            .map_err(|e| e.to_string())?;
                        *guard = Some(c.clone());
                        c
                    }
                };
                drop(guard);
                let result = match key {
                    Some(key) => {
                        let owner = Route::with_key(key.as_bytes(), SlotAddr::Master);
                        let routing =
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(owner));
                        con.route_command(cmd.clone(), routing).await
                    }
                    None => cmd.query_async(&mut con).await,
                };
                if result.is_err() {
                    // Connect afresh next time rather than reuse a broken connection.
                    *connection.lock().await = None;
                }
                result.map_err(|e| e.to_string())
            }
        }
    }
}

/// `RATELIMIT.CHECK key limit window ALGORITHM a` for one limit, `RATELIMIT.MCHECK`
/// for several.
pub fn command(plan: &Plan) -> Cmd {
    let mut cmd;
    if let ([key], [(limit, window)]) = (plan.keys.as_slice(), plan.limits.as_slice()) {
        cmd = redis::cmd("RATELIMIT.CHECK");
        cmd.arg(key).arg(limit).arg(window);
    } else {
        cmd = redis::cmd("RATELIMIT.MCHECK");
        cmd.arg(plan.keys.len());
        for (key, (limit, window)) in plan.keys.iter().zip(&plan.limits) {
            cmd.arg(key).arg(limit).arg(window);
        }
    }
    cmd.arg("ALGORITHM").arg(plan.algorithm.as_str());
    cmd
}

fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(format!("expected an integer, got {other:?}")),
    }
}

fn outcome(v: &Value) -> Result<Outcome, String> {
    let Value::Array(items) = v else {
        return Err(format!("expected five integers, got {v:?}"));
    };
    let [allowed, limit, remaining, retry, reset] = items.as_slice() else {
        return Err(format!("expected five integers, got {items:?}"));
    };
    let unsigned = |v: &Value| u64::try_from(int(v)?).map_err(|e| e.to_string());
    Ok(Outcome {
        allowed: int(allowed)? == 1,
        limit: unsigned(limit)?,
        remaining: unsigned(remaining)?,
        retry_after_ms: int(retry)?,
        reset_after_ms: unsigned(reset)?,
    })
}

/// Reads a CHECK reply (five integers) or an MCHECK reply (allowed, then one array of
/// five per limit).
pub fn parse_reply(reply: &Value, limits: usize) -> Result<Verdict, String> {
    if limits == 1 {
        let o = outcome(reply)?;
        return Ok(Verdict {
            allowed: o.allowed,
            outcomes: vec![o],
        });
    }
    let Value::Array(items) = reply else {
        if let Value::ServerError(e) = reply {
            return Err(format!("{e:?}"));
        }
        return Err(format!("unexpected MCHECK reply {reply:?}"));
    };
    let (first, rest) = items.split_first().ok_or("empty MCHECK reply")?;
    if rest.len() != limits {
        return Err(format!(
            "MCHECK answered {} limits, not {limits}",
            rest.len()
        ));
    }
    Ok(Verdict {
        allowed: int(first)? == 1,
        outcomes: rest.iter().map(outcome).collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlgorithmName;

    fn plan(n: usize) -> Plan {
        Plan {
            policy: "p".into(),
            algorithm: AlgorithmName::Sliding,
            keys: (0..n).map(|i| format!("k{i}")).collect(),
            limits: (0..n).map(|i| (10 + i as u64, 60)).collect(),
        }
    }

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "<not a plain argument>".into(),
            })
            .collect()
    }

    #[test]
    fn one_limit_is_check_several_are_mcheck() {
        assert_eq!(
            args(&command(&plan(1))).join(" "),
            "RATELIMIT.CHECK k0 10 60 ALGORITHM SLIDING"
        );
        assert_eq!(
            args(&command(&plan(2))).join(" "),
            "RATELIMIT.MCHECK 2 k0 10 60 k1 11 60 ALGORITHM SLIDING"
        );
    }

    #[test]
    fn replies_are_read_and_anything_else_is_an_error() {
        let five = |a: i64| Value::Array([a, 10, 3, 0, 500].map(Value::Int).to_vec());
        let v = parse_reply(&five(1), 1).unwrap();
        assert!(v.allowed);
        assert_eq!(v.outcomes[0].remaining, 3);
        let m = Value::Array(vec![Value::Int(0), five(0), five(1)]);
        let v = parse_reply(&m, 2).unwrap();
        assert!(!v.allowed);
        assert!(v.outcomes[1].allowed);
        assert!(parse_reply(&m, 3).is_err());
        assert!(parse_reply(&Value::Nil, 1).is_err());
        assert!(parse_reply(&Value::Array(vec![Value::Int(1)]), 1).is_err());
    }

    #[test]
    fn cluster_urls_list_their_nodes() {
        assert_eq!(
            cluster_nodes("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"),
            Some(vec![
                "redis://127.0.0.1:7000".to_string(),
                "redis://127.0.0.1:7001".to_string()
            ])
        );
        assert_eq!(
            cluster_nodes("redis://a:1,redis://b:2").map(|n| n.len()),
            Some(2)
        );
        assert_eq!(cluster_nodes("redis://127.0.0.1:6379"), None);
    }
}
