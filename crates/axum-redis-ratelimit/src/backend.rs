//! The Redis side: one call per request (`RATELIMIT.CHECK` for one limit, `MCHECK` for
//! several, or the same through the function library or the script, as `forms` finds
//! the server offers), through a connection that reconnects by itself, each call
//! bounded by a timeout.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, RedisError, Value};
use redis_ratelimit::algorithm::Outcome;
use tokio::sync::Mutex;

use super::plan::{Plan, Verdict};
use crate::forms::{self, Ask, Charge, Form, Selector};
use redis_ratelimit::script;

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
    selector: Selector,
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

/// Why a check got no verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer in time, a connection that failed, or an answer that is not a
    /// verdict: an outage, for the failure mode.
    Unavailable(String),
    /// The server answers but offers no form of the limiter: a configuration error
    /// (logged once at ERROR with the fix, by the selector); the failure mode decides
    /// meanwhile.
    Unsupported(String),
}

/// What became of one command that got no reply.
enum Sent {
    /// No answer: a timeout, a connection that failed.
    Lost(String),
    /// The server answered with an error.
    Refused(RedisError),
}

/// Why one form could not answer.
enum Attempt {
    /// This form is not offered here; the reason, for the log.
    NotOffered(String),
    Failed(String),
}

impl Attempt {
    /// A refusal of the command itself means the form is not offered; anything else
    /// (a timeout, a refusal of the input) fails the request.
    fn from(sent: Sent, reason: &str) -> Attempt {
        match sent {
            Sent::Refused(e) if forms::refused(&e) => Attempt::NotOffered(format!("{reason}: {e}")),
            Sent::Refused(e) => Attempt::Failed(e.to_string()),
            Sent::Lost(e) => Attempt::Failed(e),
        }
    }
}

impl Backend {
    /// Prepares the connection without waiting for Redis. A client on the function
    /// library or the script asks for the module every `module_probe` (and after a
    /// lost connection), so a module loaded later is found without a restart.
    pub fn new(url: &str, timeout: Duration, module_probe: Duration) -> Result<Backend, String> {
        let (connection, place) = match cluster_nodes(url) {
            Some(nodes) => {
                let place = format!("the Redis Cluster at {}", addresses(&nodes));
                let cluster = Connection::Cluster(Box::new(Cluster {
                    client: ClusterClient::builder(nodes)
                        .connection_timeout(timeout)
                        .response_timeout(timeout)
                        .retries(1)
                        .build()
                        .map_err(|e| format!("bad cluster URL {url:?}: {e}"))?,
                    connection: Mutex::new(None),
                }));
                (cluster, place)
            }
            None => {
                let client =
                    redis::Client::open(url).map_err(|e| format!("bad Redis URL {url:?}: {e}"))?;
                let place = client.get_connection_info().addr().to_string();
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                let manager = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| format!("cannot prepare a connection to {url:?}: {e}"))?;
                (Connection::Single(manager), place)
            }
        };
        Ok(Backend {
            connection,
            timeout,
            selector: Selector::new(place, module_probe),
        })
    }

    /// The form the server answers in, once one has.
    pub fn form(&self) -> Option<Form> {
        self.selector.current()
    }

    /// Checks a plan in Redis, in the best form the server offers.
    pub async fn check(&self, plan: &Plan) -> Result<Verdict, Failure> {
        let reply = self.run(Ask::Check(plan)).await?;
        parse_reply(&reply, plan.keys.len()).map_err(Failure::Unavailable)
    }

    /// Charges or refunds one limit (`RATELIMIT.CHARGE`), in the same form.
    pub async fn charge(&self, charge: &Charge) -> Result<Outcome, Failure> {
        let reply = self.run(Ask::Charge(charge)).await?;
        outcome(&reply).map_err(Failure::Unavailable)
    }

    async fn run(&self, ask: Ask<'_>) -> Result<Value, Failure> {
        let mut tried: Vec<Form> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let mut form = self.selector.current();
        if form.is_some_and(|f| f != Form::Module) && self.selector.module_probe_due() {
            // Loaded since this client chose (MODULE LOAD, a restart with
            // --loadmodule): the faster form, on the same keys.
            match self.attempt(Form::Module, ask).await {
                Ok(reply) => {
                    self.selector.chose(Form::Module);
                    return Ok(reply);
                }
                Err(Attempt::NotOffered(_)) => {}
                Err(Attempt::Failed(e)) => return Err(Failure::Unavailable(e)),
            }
        }
        loop {
            let next = form.or_else(|| Form::ALL.into_iter().find(|f| !tried.contains(f)));
            let Some(f) = next else {
                return Err(Failure::Unsupported(self.selector.unsupported(&reasons)));
            };
            match self.attempt(f, ask).await {
                Ok(reply) => {
                    self.selector.chose(f);
                    return Ok(reply);
                }
                Err(Attempt::NotOffered(reason)) => {
                    tried.push(f);
                    reasons.push(reason);
                    self.selector.forget(f);
                    form = None;
                }
                Err(Attempt::Failed(e)) => return Err(Failure::Unavailable(e)),
            }
        }
    }

    async fn attempt(&self, form: Form, ask: Ask<'_>) -> Result<Value, Attempt> {
        let key = ask.key();
        let send = |load| async move { self.send(&forms::command(form, ask, load), key).await };
        match form {
            Form::Module => send(false)
                .await
                .map_err(|e| Attempt::from(e, "the module is not loaded")),
            Form::Functions => {
                if !self.selector.library_ready() {
                    self.ensure_library().await?;
                }
                match send(false).await {
                    Err(Sent::Refused(e)) if forms::function_missing(&e) => {
                        // Gone since it was loaded: flushed, or a failover.
                        self.selector.set_library_ready(false);
                        self.ensure_library().await?;
                        send(false)
                            .await
                            .map_err(|e| Attempt::from(e, "functions are refused"))
                    }
                    other => other.map_err(|e| Attempt::from(e, "functions are refused")),
                }
            }
            Form::Script => match send(false).await {
                // NOSCRIPT: a restart, a failover or SCRIPT FLUSH; EVAL sends and
                // caches it.
                Err(Sent::Refused(e)) if forms::no_script(&e) => send(true)
                    .await
                    .map_err(|e| Attempt::from(e, "scripts are refused")),
                other => other.map_err(|e| Attempt::from(e, "scripts are refused")),
            },
        }
    }

    /// The library on every primary, at this crate's version or newer.
    async fn ensure_library(&self) -> Result<(), Attempt> {
        for node in self.primaries().await.map_err(Attempt::Failed)? {
            self.ensure_library_on(node.as_ref()).await?;
        }
        self.selector.set_library_ready(true);
        Ok(())
    }

    async fn ensure_library_on(&self, node: Option<&(String, u16)>) -> Result<(), Attempt> {
        let not_offered = |e| Attempt::from(e, "FUNCTION LOAD or FCALL is refused");
        // Another client may load it between our look and our load: look again.
        for _ in 0..3 {
            let mut probe = redis::cmd("FCALL_RO");
            probe.arg("ratelimit_version").arg(0);
            let loaded = match self.send_to(&probe, node).await {
                Ok(Value::BulkString(v)) => Some(String::from_utf8_lossy(&v).into_owned()),
                Ok(Value::SimpleString(v)) => Some(v),
                Ok(other) => return Err(Attempt::Failed(format!("version reply {other:?}"))),
                Err(Sent::Refused(e)) if forms::function_missing(&e) => None,
                Err(e) => return Err(not_offered(e)),
            };
            let Some(words) = forms::library_action(loaded.as_deref()) else {
                return Ok(());
            };
            let mut load = redis::cmd(words[0]);
            load.arg(&words[1..]).arg(script::SOURCE);
            match self.send_to(&load, node).await {
                Ok(_) => {
                    tracing::info!(
                        version = script::version(),
                        replaced = loaded.as_deref().unwrap_or(""),
                        "rate limiting: loaded the ratelimit function library"
                    );
                    return Ok(());
                }
                Err(Sent::Refused(e)) if forms::already_loaded(&e) => continue,
                Err(e) => return Err(not_offered(e)),
            }
        }
        Err(Attempt::NotOffered(
            "the function library kept changing while it was loaded".into(),
        ))
    }

    /// The primaries' addresses in a cluster; `[None]` (the one server) otherwise.
    async fn primaries(&self) -> Result<Vec<Option<(String, u16)>>, String> {
        if matches!(self.connection, Connection::Single(_)) {
            return Ok(vec![None]);
        }
        let mut nodes = redis::cmd("CLUSTER");
        nodes.arg("NODES");
        let text = match self.send(&nodes, None).await {
            Ok(Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
            Ok(Value::VerbatimString { text, .. }) => text,
            Ok(other) => return Err(format!("CLUSTER NODES answered {other:?}")),
            Err(Sent::Lost(e)) => return Err(e),
            Err(Sent::Refused(e)) => return Err(e.to_string()),
        };
        Ok(cluster_primaries(&text).into_iter().map(Some).collect())
    }

    /// Whether Redis answers PING now.
    pub async fn ping(&self) -> bool {
        let reply = self.send(&redis::cmd("PING"), None).await;
        matches!(reply, Ok(Value::SimpleString(ref s)) if s == "PONG")
    }

    /// Sends `cmd`, to the primary that owns `key` in a cluster.
    async fn send(&self, cmd: &Cmd, key: Option<&String>) -> Result<Value, Sent> {
        let routing = key.map(|key| {
            let owner = Route::with_key(key.as_bytes(), SlotAddr::Master);
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(owner))
        });
        self.bounded(cmd, routing).await
    }

    /// Sends `cmd` to one node of a cluster (`None`: the one server).
    async fn send_to(&self, cmd: &Cmd, node: Option<&(String, u16)>) -> Result<Value, Sent> {
        let routing = node.map(|(host, port)| {
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port: *port,
            })
        });
        self.bounded(cmd, routing).await
    }

    /// One command, bounded by the timeout, with a server's refusal told apart from a
    /// command that got no answer.
    async fn bounded(&self, cmd: &Cmd, routing: Option<RoutingInfo>) -> Result<Value, Sent> {
        let sent = match tokio::time::timeout(self.timeout, self.query(cmd, routing)).await {
            Err(_) => Err(Sent::Lost(format!("no answer within {:?}", self.timeout))),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.code().is_some() => Err(Sent::Refused(e)),
            Ok(Err(e)) => Err(Sent::Lost(e.to_string())),
        };
        if matches!(sent, Err(Sent::Lost(_))) {
            self.selector.connection_lost();
        }
        sent
    }

    /// Sends `cmd`; in a cluster, as `routing` says. The cluster client takes the first
    /// argument of a command it does not know as its key (MCHECK's is `numlimits`,
    /// FCALL's the function's name), so every keyed command is routed to the primary
    /// that owns its first key.
    async fn query(&self, cmd: &Cmd, routing: Option<RoutingInfo>) -> Result<Value, RedisError> {
        match &self.connection {
            Connection::Single(manager) => {
                let mut con = manager.clone();
                cmd.query_async(&mut con).await
            }
            Connection::Cluster(cluster) => {
                let Cluster { client, connection } = &**cluster;
                let mut guard = connection.lock().await;
                let mut con = match guard.as_ref() {
                    Some(c) => c.clone(),
                    None => {
                        let c = client.get_async_connection().await?;
                        *guard = Some(c.clone());
                        c
                    }
                };
                drop(guard);
                let result = match routing {
                    Some(routing) => con.route_command(cmd.clone(), routing).await,
                    None => cmd.query_async(&mut con).await,
                };
                if matches!(&result, Err(e) if e.code().is_none()) {
                    // Connect afresh next time rather than reuse a broken connection.
                    *connection.lock().await = None;
                }
                result
            }
        }
    }
}

/// `host:port` of each node of a cluster URL's list.
fn addresses(nodes: &[String]) -> String {
    nodes
        .iter()
        .map(|n| {
            redis::Client::open(n.as_str())
                .map(|c| c.get_connection_info().addr().to_string())
                .unwrap_or_else(|_| "?".into())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The primaries that serve slots, from `CLUSTER NODES`.
fn cluster_primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let serving = flags.contains("master") && !flags.contains("fail") && fields.len() > 8;
            let address = fields.get(1)?.split('@').next()?;
            let (host, port) = address.rsplit_once(':')?;
            serving.then_some((host.to_string(), port.parse().ok()?))
        })
        .collect()
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
    fn the_primaries_that_serve_slots_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922
c3 127.0.0.1:7002@17002 slave b2 0 1 2 connected
d4 127.0.0.1:7003@17003 master,fail - 0 1 4 connected 10923-16383
e5 127.0.0.1:7004@17004 master - 0 1 5 connected
";
        assert_eq!(
            cluster_primaries(nodes),
            [
                ("127.0.0.1".to_string(), 7000),
                ("127.0.0.1".to_string(), 7001)
            ]
        );
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
