//! What the demo's tests run against: a real redis-server with the module, and the app
//! serving on a loopback port.
//!
//! `REDIS_SERVER` and `RATELIMIT_MODULE` name the server binary and the module
//! (`make test` sets both); the defaults are Debian's redis-server and the harness's
//! `module_path()`.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratelimit_demo::config::{self, Config, ConfigFile};
use ratelimit_demo::load::FixedLoad;

pub use redis_test_harness::module_path;

pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A redis-server with the module loaded, from the workspace's harness (free port,
/// bounded wait, killed on drop; `restart` comes back on the same port).
pub type Redis = redis_test_harness::Server;

/// How the demo's tests start servers.
pub trait StartRedis {
    fn start() -> Redis;
    fn start_with(extra: &[&str]) -> Redis;
    fn connection(&self) -> redis::Connection;
}

impl StartRedis for Redis {
    fn start() -> Redis {
        Redis::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Redis {
        with_module().args(extra).start()
    }

    fn connection(&self) -> redis::Connection {
        self.client()
    }
}

/// A server with the module loaded.
pub fn with_module() -> redis_test_harness::ServerBuilder {
    Redis::builder().module(module_path(), &[])
}

pub fn config(edit: impl FnOnce(String) -> String) -> Config {
    Config::parse(&edit(config::DEFAULT.to_string())).expect("test configuration parses")
}

/// The app, serving on a loopback port in this process until dropped.
pub struct App {
    pub addr: SocketAddr,
    pub load: Arc<FixedLoad>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl App {
    pub async fn start(config: Config, redis_url: &str) -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let load = Arc::new(FixedLoad(Mutex::new(Some(0.0))));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let url = redis_url.to_string();
        let source = load.clone();
        tokio::spawn(async move {
            ratelimit_demo::serve(listener, config, &url, source, async {
                let _ = stopped.await;
            })
            .await
            .expect("the app serves");
        });
        App {
            addr,
            load,
            stop: Some(stop),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path` with extra headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = reqwest::Client::new().get(self.url(path));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.expect("the app answers")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response's header as text ("" when missing).
pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
