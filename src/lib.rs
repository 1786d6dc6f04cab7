//! redis-ratelimit: atomic, in-server rate limiting for Redis.
//!
//! Two halves. The pure half knows nothing of Redis and is unit-tested, property-tested
//! and fuzzed without a server: `args` (bytes to a typed request, every validation),
//! `algorithm` (state, limit, now to a decision), `state` (state to the bytes stored),
//! `cell` (redis-cell's `CL.THROTTLE`), `command_docs`, `failure`, `load_args`,
//! `script` (the same commands as a Lua library), `stats` and `version`. The glue half,
//! `module`, is the only one that touches the Redis module API.

pub mod algorithm;
pub mod args;
pub mod cell;
pub mod command_docs;
pub mod failure;
pub mod load_args;
pub mod script;
pub mod state;
pub mod stats;
pub mod version;

#[cfg(all(feature = "module", not(test)))]
mod module;
