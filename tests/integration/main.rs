//! Integration tests: the module loaded into real redis-server processes.

mod server;
mod util;

mod algorithms;
mod cell;
mod charge;
mod check;
mod clock;
mod cluster;
mod compact;
mod crash;
mod info;
mod mcheck;
mod production;
mod protocol;
mod replication;
mod script;
mod script_oracle;
mod stress;
