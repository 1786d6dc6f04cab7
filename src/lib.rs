//! redis-ratelimit: atomic, in-server rate limiting for Redis.
//!
//! This file only registers the module: commands with their flags and key positions,
//! module options and the INFO section. The pure parts (`args`, `algorithm`, `state`)
//! know nothing of Redis; `command` is the glue between the two.
//!
//! The registration is compiled only with the `module` feature (on by default) and
//! outside unit tests: it installs the Redis allocator as the global allocator, which
//! exists only inside redis-server.

pub mod algorithm;
pub mod args;
pub mod cell;
pub mod command_docs;
pub mod load_args;
pub mod state;
pub mod stats;

#[cfg(all(feature = "module", not(test)))]
mod command;
#[cfg(all(feature = "module", not(test)))]
mod info;
#[cfg(all(feature = "module", not(test)))]
mod registration;
