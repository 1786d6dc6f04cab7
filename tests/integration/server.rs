//! The module's servers for the integration tests, on the workspace's harness
//! (`crates/test-harness`: free loopback ports, bounded waits, killed on drop).
//!
//! The module is the harness's `module_path()` (`$RATELIMIT_MODULE`: `make test` sets
//! it to the release's module); every server of a run also gets the load
//! arguments in `$RATELIMIT_LOAD_ARGS` (for example `COMPACT-STATE yes`, with which
//! `make test` runs the suite again).

pub use redis_test_harness::{module_path, wait_until, Server, ServerBuilder};

/// Load arguments every server of this run gets, from `$RATELIMIT_LOAD_ARGS`.
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

/// The server binary's major and minor version.
pub fn binary_version() -> (u32, u32) {
    redis_test_harness::binary_version(&redis_test_harness::server_binary())
}

/// A server with the module loaded with the run's arguments, then `module_args` (so
/// that a test's own choice wins).
pub fn with_module(module_args: &[&str]) -> ServerBuilder {
    Server::builder()
        .module(module_path(), &[])
        .module_args(&suite_load_args())
        .module_args(module_args)
}

/// The ways the tests start servers.
pub trait Start {
    /// The module loaded, persistence off.
    fn start() -> Server;
    /// The same, with extra `--option value` arguments.
    fn start_with(extra: &[&str]) -> Server;
    /// In a given directory (to restart from its files).
    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server;
    /// The module loaded with redis-cell compatibility (`CL.THROTTLE`).
    fn start_cell_compat(extra: &[&str]) -> Server;
    /// FIXED and GCRA state in the compact form (`COMPACT-STATE yes`) or the binary
    /// form (`no`), whatever the run's default.
    fn start_storing(compact: bool, dir: tempfile::TempDir, extra: &[&str]) -> Server;
    /// A primary and a replica of it, both with the module loaded.
    fn primary_and_replica() -> (Server, Server);
    /// No module, and `MODULE LOAD` allowed.
    fn without_module() -> Server;
}

impl Start for Server {
    fn start() -> Server {
        with_module(&[]).start()
    }

    fn start_with(extra: &[&str]) -> Server {
        with_module(&[]).args(extra).start()
    }

    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        with_module(&[]).args(extra).start_in(dir)
    }

    fn start_cell_compat(extra: &[&str]) -> Server {
        with_module(&["CELL-COMPAT", "yes"]).args(extra).start()
    }

    fn start_storing(compact: bool, dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let choice = if compact { "yes" } else { "no" };
        with_module(&["COMPACT-STATE", choice])
            .args(extra)
            .start_in(dir)
    }

    fn primary_and_replica() -> (Server, Server) {
        let primary = Server::start();
        let replica = with_module(&[]).replica_of(&primary).start();
        (primary, replica)
    }

    fn without_module() -> Server {
        // 7.0+ refuses the MODULE command unless enabled; 6.2 has no such setting.
        let enable: &[&str] = if binary_version() >= (7, 0) {
            &["--enable-module-command", "local"]
        } else {
            &[]
        };
        Server::builder().args(enable).start()
    }
}
