//! Integration tests: the module loaded into real redis-server processes.

mod server;
mod util;

mod check;
mod replication;
