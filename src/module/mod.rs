//! Everything that touches the Redis module API, compiled only with the `module`
//! feature (on by default) and outside unit tests: it installs the Redis allocator as
//! the global allocator, which exists only inside redis-server.
//!
//! | file | holds |
//! |---|---|
//! | `wrap/` | the thin safe layer over the raw API, with each command's panic guard (`command_call`): the only `unsafe` besides `entry.rs` |
//! | `entry.rs` | the module's C entry points, OnLoad and OnUnload, and the allocator |
//! | `registration.rs` | the command table (docs, body, counters, flags, keys: one row per command, which makes its entry point), INFO and config callbacks, what a load sets up |
//! | `commands.rs` | the command bodies and their one failure path |
//! | `storage.rs` | the two ways state is read and written (key API, compact state) |
//! | `info.rs` | the `INFO ratelimit` section |

mod commands;
mod entry;
mod info;
mod registration;
mod storage;
mod wrap;
