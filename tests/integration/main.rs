//! Integration tests: the module loaded into real redis-server processes.

mod server;
mod util;

mod algorithms;
mod check;
mod cluster;
mod production;
mod replication;
