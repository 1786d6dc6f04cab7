//! Real redis-server processes for the integration tests.
//!
//! Each server gets a free loopback port and its own temporary directory, is waited
//! for with a bound, and is killed when dropped, whatever the test did. The binary is
//! `$REDIS_SERVER` (default `redis-server` on the PATH) and the module is
//! `$RATELIMIT_MODULE` (default `target/release/libredis_ratelimit.so`, which
//! `make test` builds first).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(15);

pub fn module_path() -> PathBuf {
    let path = std::env::var_os("RATELIMIT_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/libredis_ratelimit.so")
        });
    assert!(
        path.exists(),
        "module not found at {}: run `make build` (or set RATELIMIT_MODULE)",
        path.display()
    );
    path
}

/// Load arguments every server of this run gets, from `$RATELIMIT_LOAD_ARGS`
/// (for example `COMPACT-STATE yes`, with which `make test` runs the suite again).
pub fn suite_load_args() -> Vec<String> {
    std::env::var("RATELIMIT_LOAD_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// True when this run stores FIXED and GCRA state in the compact form.
pub fn compact_run() -> bool {
    suite_load_args()
        .windows(2)
        .any(|w| w[0].eq_ignore_ascii_case("COMPACT-STATE") && w[1].eq_ignore_ascii_case("yes"))
}

pub fn server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string())
}

/// The server binary's major and minor version, from `--version` ("v=7.0.15").
pub fn binary_version() -> (u32, u32) {
    let out = Command::new(server_binary())
        .arg("--version")
        .output()
        .expect("run redis-server --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .unwrap_or("0.0");
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A port nobody listens on right now. Another process may take it before the server
/// binds it; `Server::start_with` then retries with a new one.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    child: Child,
    pub port: u16,
    /// The server's working directory (RDB, AOF, log); `None` once taken back.
    dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server with the module loaded and persistence off.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A primary and a replica of it, both with the module loaded.
    pub fn primary_and_replica() -> (Server, Server) {
        let primary = Server::start();
        let replica = Server::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
        (primary, replica)
    }

    /// A server with the module loaded and extra `--option value` arguments.
    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().expect("temporary directory"), extra)
    }

    /// A server in a given directory (to restart from its files), module loaded.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Server::start_loading(dir, &[], extra)
    }

    /// A server whose module was loaded with redis-cell compatibility (`CL.THROTTLE`).
    pub fn start_cell_compat(extra: &[&str]) -> Server {
        Server::start_loading(tempfile::tempdir().unwrap(), &["CELL-COMPAT", "yes"], extra)
    }

    /// A server that stores FIXED and GCRA state in the compact form
    /// (`COMPACT-STATE yes`), or in the binary form (`no`), whatever the run's default.
    pub fn start_storing(compact: bool, dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let choice = if compact { "yes" } else { "no" };
        Server::start_loading(dir, &["COMPACT-STATE", choice], extra)
    }

    /// A server with the module loaded with `module_args`, plus extra options.
    fn start_loading(dir: tempfile::TempDir, module_args: &[&str], extra: &[&str]) -> Server {
        let module = module_path();
        let mut args: Vec<String> = vec!["--loadmodule".into(), module.display().to_string()];
        // The run's arguments first, so that a test's own choice wins.
        args.extend(suite_load_args());
        args.extend(module_args.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::launch(dir, &args)
    }

    /// A server without the module, where `MODULE LOAD` is allowed (7.0+ refuses the
    /// MODULE command unless enabled; 6.2 has no such setting).
    pub fn without_module() -> Server {
        let enable: Vec<String> = if binary_version() >= (7, 0) {
            vec!["--enable-module-command".into(), "local".into()]
        } else {
            vec![]
        };
        Server::launch(tempfile::tempdir().expect("temporary directory"), &enable)
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
    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_ref().expect("directory still owned").path()
    }

    /// A server with exactly these arguments (no module unless they load it).
    pub fn launch(dir: tempfile::TempDir, args: &[String]) -> Server {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = dir.path().join(format!("redis-{port}.log"));
            let mut cmd = Command::new(server_binary());
            cmd.arg("--port")
                .arg(port.to_string())
                .arg("--bind")
                .arg("127.0.0.1")
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log)
                .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
                // Redis 7 syncs replicas diskless by default, after waiting 5 s for
                // more replicas to join; the tests' replicas attach one at a time.
                .args(["--repl-diskless-sync-delay", "0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_binary()));
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    break; // exited: most likely the port was taken; try another one
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() && ping(port) {
                    return Server {
                        child,
                        port,
                        dir: Some(dir),
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("redis-server on port {port} did not answer within {START_TIMEOUT:?}");
                }
                sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server would not start:\n{last_log}");
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

    /// Kills the server (SIGKILL, as a crash would) and hands back its directory, to
    /// start another server from the files it left.
    pub fn crash_keep_dir(mut self) -> tempfile::TempDir {
        self.kill();
        self.dir.take().expect("directory still owned")
    }

    /// Stops the server normally (SHUTDOWN NOSAVE; SAVE first to keep the data) and
    /// hands back its directory, to start another server from its files.
    pub fn stop_keep_dir(mut self) -> tempfile::TempDir {
        self.shutdown();
        self.kill();
        self.dir.take().expect("directory still owned")
    }

    /// The server's major and minor version, from INFO (Valkey reports the Redis
    /// version it is compatible with).
    pub fn version(&self) -> (u32, u32) {
        let mut c = self.client();
        let info: String = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
        let v = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .expect("redis_version in INFO");
        let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Under `make sanitize` servers exit normally, so that valgrind can check
        // for leaks at exit; otherwise they are killed at once.
        if std::env::var_os("RATELIMIT_GRACEFUL_STOP").is_some() {
            self.shutdown();
        }
        self.kill();
    }
}

impl Server {
    /// SHUTDOWN NOSAVE, then waits (bounded) for the process to exit.
    fn shutdown(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(client) = redis::Client::open(self.url()) {
            if let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(5)) {
                let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(50));
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
