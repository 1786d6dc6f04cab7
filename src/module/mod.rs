//! Everything that touches the Redis module API, compiled only with the `module`
//! feature (on by default) and outside unit tests: it installs the Redis allocator as
//! the global allocator, which exists only inside redis-server.
//!
//! | file | holds |
//! |---|---|
//! | `wrap/` | the thin safe layer over the raw API: the only `unsafe` besides `entry.rs` |
//! | `entry.rs` | the C entry points: OnLoad, OnUnload, each command behind its panic guard, INFO, config |
//! | `registration.rs` | the command table (names, docs, flags, keys) and what a load sets up |
//! | `commands.rs` | the command bodies and their one failure path |
//! | `storage.rs` | the two ways state is read and written (key API, compact state) |
//! | `info.rs` | the `INFO ratelimit` section |

mod commands;
mod entry;
mod info;
mod registration;
mod storage;
mod wrap;
