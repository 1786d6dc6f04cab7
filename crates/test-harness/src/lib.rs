//! Real `redis-server` processes for tests.
//!
//! Every server gets a free loopback port and its own temporary directory, is waited
//! for within a bound (never an endless retry), and is killed when dropped, whatever
//! the test did. One builder says what to start:
//!
//! ```no_run
//! use redis_test_harness::Server;
//!
//! let primary = Server::builder().module("target/release/libredis_ratelimit.so", &[]).start();
//! let replica = Server::builder()
//!     .module("target/release/libredis_ratelimit.so", &[])
//!     .replica_of(&primary)
//!     .start();
//! let mut con = primary.client();
//! ```
//!
//! The binary is `$REDIS_SERVER` unless the builder names one (default `redis-server`
//! on the `PATH`); `module_path()` is the module under test (`$RATELIMIT_MODULE`).

mod cluster;
mod module;
mod server;

pub use cluster::cluster;
pub use module::module_path;
pub use server::{binary_version, free_port, server_binary, wait_until, Server, ServerBuilder};
