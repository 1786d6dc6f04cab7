//! One redis-server process and the builder that starts it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The server binary: `$REDIS_SERVER`, else `redis-server` on the `PATH`.
pub fn server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// A binary's major and minor version, from `--version` ("v=7.0.15").
pub fn binary_version(binary: &str) -> (u32, u32) {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary} --version: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .unwrap_or("0.0");
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A port nobody listens on right now. Another process may take it before the server
/// binds it; `ServerBuilder::start` then retries with a new one.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `cond` every 20 ms until it holds, failing the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        sleep(Duration::from_millis(20));
    }
}

/// What to start. Persistence is off and the server binds 127.0.0.1 only, unless the
/// arguments say otherwise.
#[derive(Clone, Debug, Default)]
pub struct ServerBuilder {
    binary: Option<String>,
    module: Option<(PathBuf, Vec<String>)>,
    args: Vec<String>,
    port: Option<u16>,
}

impl ServerBuilder {
    /// The server binary (default: `server_binary()`).
    pub fn binary(mut self, binary: impl Into<String>) -> Self {
        self.binary = Some(binary.into());
        self
    }

    /// Loads a module with its load arguments.
    pub fn module(mut self, path: impl Into<PathBuf>, args: &[&str]) -> Self {
        self.module = Some((path.into(), args.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// Adds load arguments to the module (after those already given).
    pub fn module_args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        if let Some((_, list)) = self.module.as_mut() {
            list.extend(args.iter().map(|s| s.as_ref().to_string()));
        }
        self
    }

    /// Extra `--option value` arguments, after the harness's own (so they win).
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.args
            .extend(args.iter().map(|s| s.as_ref().to_string()));
        self
    }

    /// A replica of `primary`.
    pub fn replica_of(self, primary: &Server) -> Self {
        let port = primary.port.to_string();
        self.args(&["--replicaof", "127.0.0.1", &port])
    }

    /// AOF persistence on (`appendfsync always`), RDB snapshots off.
    pub fn aof(self) -> Self {
        self.args(&["--appendonly", "yes", "--appendfsync", "always"])
    }

    /// A node of a Redis Cluster (see `cluster`).
    pub fn cluster_node(self) -> Self {
        self.args(&[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
    }

    /// The `DEBUG` and `MODULE` commands, which 7.0 and later refuse by default (6.2
    /// has no such setting and takes them as they are).
    pub fn debug_commands(self) -> Self {
        let binary = self.binary.clone().unwrap_or_else(server_binary);
        if binary_version(&binary) >= (7, 0) {
            self.args(&[
                "--enable-debug-command",
                "local",
                "--enable-module-command",
                "local",
            ])
        } else {
            self
        }
    }

    /// Listens on this port (for a restart on the same address); by default a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Starts the server in a new temporary directory.
    pub fn start(self) -> Server {
        self.start_in(tempfile::tempdir().expect("a temporary directory"))
    }

    /// Starts the server in `dir`, for example to load the RDB or AOF another left.
    pub fn start_in(self, dir: tempfile::TempDir) -> Server {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = self.port.unwrap_or_else(free_port);
            match self.launch(dir.path(), port) {
                Ok(child) => {
                    return Server {
                        child: Some(child),
                        port,
                        dir: Some(dir),
                        builder: self,
                    }
                }
                // Exited: most likely the port was taken; try another one.
                Err(log) => last_log = log,
            }
            if self.port.is_some() {
                break;
            }
        }
        panic!("redis-server would not start:\n{last_log}");
    }

    fn command_line(&self) -> Vec<String> {
        let mut line = vec![];
        if let Some((path, args)) = &self.module {
            line.push("--loadmodule".to_string());
            line.push(path.display().to_string());
            line.extend(args.iter().cloned());
        }
        line.extend(self.args.iter().cloned());
        line
    }

    /// Runs the server and waits for PING; `Err(log)` if it exited first.
    fn launch(&self, dir: &Path, port: u16) -> Result<Child, String> {
        let binary = self.binary.clone().unwrap_or_else(server_binary);
        let log = dir.join(format!("redis-{port}.log"));
        let mut child = Command::new(&binary)
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .args(["--save", "", "--appendonly", "no"])
            // Redis 7 syncs replicas diskless by default, after waiting 5 s for more
            // replicas to join; the tests' replicas attach one at a time.
            .args(["--repl-diskless-sync-delay", "0"])
            .args(self.command_line())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Err(std::fs::read_to_string(&log).unwrap_or_default());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() && ping(port) {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server on port {port} did not answer within {START_TIMEOUT:?}");
            }
            sleep(Duration::from_millis(20));
        }
    }
}

fn ping(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return false;
    };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return false;
    };
    let _ = con.set_read_timeout(Some(Duration::from_secs(2)));
    redis::cmd("PING")
        .query::<String>(&mut con)
        .map(|p| p == "PONG")
        .unwrap_or(false)
}

/// A running redis-server, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    /// The working directory (RDB, AOF, log); `None` once taken back.
    dir: Option<tempfile::TempDir>,
    builder: ServerBuilder,
}

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .expect("connect to redis-server")
    }

    pub fn resp3_client(&self) -> redis::Connection {
        redis::Client::open(format!("{}?protocol=resp3", self.url()))
            .unwrap()
            .get_connection()
            .expect("connect to redis-server with RESP3")
    }

    /// A connection authenticated as a new ACL user `name` (password "secret") with
    /// the given rules, for example `["~app:*", "+@all"]`.
    pub fn user(&self, name: &str, rules: &[&str]) -> redis::Connection {
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(name)
            .arg(&["on", ">secret"])
            .arg(rules)
            .query::<()>(&mut self.client())
            .unwrap();
        let mut con = self.client();
        redis::cmd("AUTH")
            .arg(name)
            .arg("secret")
            .query::<()>(&mut con)
            .unwrap();
        con
    }

    /// The server's working directory, where its RDB, AOF and log are.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("directory still owned").path()
    }

    /// One field of `INFO section`.
    pub fn info_field(&self, section: &str, field: &str) -> Option<String> {
        let info: String = redis::cmd("INFO")
            .arg(section)
            .query(&mut self.client())
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_string())
    }

    /// The server's major and minor version, from INFO (Valkey reports the Redis
    /// version it is compatible with).
    pub fn version(&self) -> (u32, u32) {
        let v = self
            .info_field("server", "redis_version")
            .expect("redis_version in INFO");
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// How many times `command` ran (`INFO commandstats`; any case).
    pub fn calls(&self, command: &str) -> u64 {
        let field = format!("cmdstat_{}", command.to_ascii_lowercase());
        self.info_field("commandstats", &field).map_or(0, |stats| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))
                .map_or(0, |n| n.parse().unwrap())
        })
    }

    /// How many replies carried the error `code` (`INFO errorstats`).
    pub fn errors(&self, code: &str) -> u64 {
        self.info_field("errorstats", &format!("errorstat_{code}"))
            .and_then(|v| v.strip_prefix("count=").map(|n| n.parse().unwrap()))
            .unwrap_or(0)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts it again on the same port and directory, as after
    /// an outage.
    pub fn restart(&mut self) {
        self.kill();
        let dir = self.dir.as_ref().expect("directory still owned").path();
        self.child = Some(
            self.builder
                .launch(dir, self.port)
                .unwrap_or_else(|log| panic!("port {} was taken meanwhile:\n{log}", self.port)),
        );
    }

    /// Kills the server (SIGKILL, as a crash would) and hands back its directory, to
    /// start another server from the files it left.
    pub fn crash_keep_dir(mut self) -> tempfile::TempDir {
        self.kill();
        self.dir.take().expect("directory still owned")
    }

    /// Stops the server normally (SHUTDOWN NOSAVE; SAVE first to keep the data) and
    /// hands back its directory.
    pub fn stop_keep_dir(mut self) -> tempfile::TempDir {
        self.shutdown();
        self.kill();
        self.dir.take().expect("directory still owned")
    }

    /// SHUTDOWN NOSAVE, then waits (bounded) for the process to exit.
    fn shutdown(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        if let Ok(client) = redis::Client::open(self.url()) {
            if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(5)) {
                let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
            }
        }
        // A server too busy to take the connection (valgrind on a loaded machine) is
        // asked by signal: SIGTERM is a normal shutdown for redis-server too.
        let started = Instant::now();
        let mut signalled = false;
        while started.elapsed() < Duration::from_secs(120) {
            let Some(child) = self.child.as_mut() else {
                return;
            };
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            if !signalled && started.elapsed() > Duration::from_secs(10) {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                signalled = true;
            }
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // With RATELIMIT_GRACEFUL_STOP (make sanitize) servers exit normally, so that
        // valgrind can check for leaks at exit; otherwise they are killed at once.
        if std::env::var_os("RATELIMIT_GRACEFUL_STOP").is_some() {
            self.shutdown();
        }
        self.kill();
    }
}
