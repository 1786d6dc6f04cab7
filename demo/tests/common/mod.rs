//! What the demo's tests run against: a real redis-server with the module, and the app
//! serving on a loopback port.
//!
//! `REDIS_SERVER` and `RATELIMIT_MODULE` name the server binary and the module
//! (`make test` sets both); the defaults are Debian's redis-server and the release
//! build in this workspace.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratelimit_demo::config::{self, Config};
use ratelimit_demo::load::FixedLoad;

pub fn module_path() -> PathBuf {
    std::env::var_os("RATELIMIT_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/release/libredis_ratelimit.so")
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `cond` until it holds, failing after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A redis-server with the module loaded, killed when dropped.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// A server with extra `--option value` arguments.
    pub fn start_with(extra: &[&str]) -> Redis {
        let mut r = Redis {
            child: None,
            port: 0,
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for _ in 0..5 {
            r.port = free_port();
            if r.launch() {
                return r;
            }
        }
        panic!("redis-server would not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port; false if it exited (the port was taken).
    fn launch(&mut self) -> bool {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let mut child = Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .arg("--loadmodule")
            .arg(module_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // exited, and reaped by try_wait
            }
            if self.ping() {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server on port {} did not answer in time", self.port);
    }

    fn ping(&self) -> bool {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (the data is gone: persistence is off).
    pub fn restart(&mut self) {
        self.kill();
        assert!(self.launch(), "port {} was taken meanwhile", self.port);
    }

    /// How many times a command ran, from INFO commandstats.
    /// How many error replies starting with `code` (MOVED, ASK, ...) this server sent
    /// (`INFO errorstats`, Redis 7.0+).
    pub fn errors(&self, code: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("errorstats")
            .query(&mut self.connection())
            .unwrap();
        let prefix = format!("errorstat_{code}:count=");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|n| n.trim().parse().unwrap()))
            .unwrap_or(0)
    }

    pub fn calls(&self, command: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.connection())
            .unwrap();
        let prefix = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
        // Redis keeps the case a module registered the command with.
        info.to_ascii_lowercase()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .and_then(|rest| rest.split(',').next().map(str::to_string))
            .map_or(0, |n| n.parse().unwrap())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The bundled configuration, edited by `edit` (TOML text in, TOML text out).
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
