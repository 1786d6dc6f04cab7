//! What the module registers, as a table: each command's name and docs, entry point,
//! flags and keys; then the load arguments, options, INFO and the config.

use std::ffi::CStr;

use super::entry;
use super::storage::set_compact_state;
use super::wrap::register::{Config, Handler, Keys};
use super::wrap::{self, Ctx};
use crate::command_docs::{self, CommandDoc};
use crate::load_args::{self, LoadOptions};

/// One command as registered.
struct Spec {
    /// Lower case, as Redis's own commands and other modules register theirs: `INFO
    /// commandstats`, `COMMAND INFO`, `SLOWLOG` and `ACL LOG` show it as registered.
    /// Callers may use any case.
    name: &'static CStr,
    /// What `COMMAND DOCS` shows; `None` only for the test hooks.
    doc: Option<&'static CommandDoc>,
    handler: Handler,
    flags: &'static CStr,
    keys: Keys,
}

const fn documented(
    doc: &'static CommandDoc,
    handler: Handler,
    flags: &'static CStr,
    keys: Keys,
) -> Spec {
    Spec {
        name: doc.name,
        doc: Some(doc),
        handler,
        flags,
        keys,
    }
}

/// The commands every load registers.
const COMMANDS: [Spec; 4] = [
    documented(
        &command_docs::CHECK,
        entry::check,
        c"write deny-oom fast",
        Keys::OneWritten,
    ),
    documented(
        &command_docs::PEEK,
        entry::peek,
        c"readonly fast",
        Keys::OneRead,
    ),
    // Not `fast`: up to 64 keys per call.
    documented(
        &command_docs::MCHECK,
        entry::mcheck,
        c"write deny-oom getkeys-api",
        Keys::Numbered,
    ),
    documented(
        &command_docs::CHARGE,
        entry::charge,
        c"write deny-oom fast",
        Keys::OneWritten,
    ),
];

/// With `CELL-COMPAT yes`.
const CELL_COMMAND: Spec = documented(
    &command_docs::THROTTLE,
    entry::throttle,
    c"write deny-oom fast",
    Keys::OneWritten,
);

#[cfg(feature = "crash-test")]
const CRASH_TEST: Spec = Spec {
    name: c"ratelimit.crashtest",
    doc: None,
    handler: entry::crash_test,
    flags: c"readonly",
    keys: Keys::None,
};

#[cfg(feature = "test-clock")]
const TEST_CLOCK: Spec = Spec {
    name: c"ratelimit.testclock",
    doc: None,
    handler: entry::test_clock,
    flags: c"readonly",
    keys: Keys::None,
};

fn create(ctx: Ctx, spec: &Spec) -> bool {
    if !ctx.create_command(spec.name, spec.handler, spec.flags, spec.keys) {
        return false;
    }
    ctx.set_command_info(spec.name, spec.keys, spec.doc);
    true
}

/// Everything OnLoad does once the API is initialised; false fails the load.
pub fn load(ctx: Ctx, args: &[&[u8]]) -> bool {
    let options: LoadOptions = match load_args::parse(args) {
        Ok(o) => o,
        Err(reason) => {
            ctx.log_warning(&format!("ratelimit not loaded: {reason}"));
            return false;
        }
    };
    wrap::create_shared_strings();
    set_compact_state(options.compact_state);
    ctx.disable_implicit_signal_modified();
    ctx.register_info(entry::info);
    let mut specs: Vec<&Spec> = COMMANDS.iter().collect();
    if options.cell_compat {
        specs.push(&CELL_COMMAND);
    }
    #[cfg(feature = "crash-test")]
    specs.push(&CRASH_TEST);
    #[cfg(feature = "test-clock")]
    specs.push(&TEST_CLOCK);
    if !specs.into_iter().all(|spec| create(ctx, spec)) {
        return false;
    }
    // `ratelimit.compact-state` (Redis 7.0+, Valkey): `COMPACT-STATE` as a config, so
    // that `CONFIG SET` switches it at run time. The load argument gives its starting
    // value; a `ratelimit.compact-state` line in the configuration file, or on the
    // command line, overrides it. Switching is safe at any moment: both forms are read
    // in either mode. Redis 6.2 has no module configs.
    let config = ctx.register_bool_config(
        c"compact-state",
        options.compact_state,
        entry::get_compact_state,
        entry::set_compact_state,
    );
    if config == Config::Refused {
        ctx.log_warning("ratelimit not loaded: its configuration could not be registered");
        return false;
    }
    true
}

/// What OnUnload undoes.
pub fn unload() {
    wrap::free_shared_strings();
}
