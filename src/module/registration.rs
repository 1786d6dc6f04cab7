//! What the module registers, as a table: each command's docs, body, counters, flags
//! and keys in one row, whose C entry point the row makes; then the load arguments,
//! options, INFO and the config. A new command is a row here, its docs in
//! `command_docs` and its body in `commands`.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::catch_unwind;

use redis_module::raw;

use super::commands::{self, Failed};
use super::info;
use super::storage::{self, set_compact_state};
use super::wrap::register::{Config, Handler, InfoCtx, Keys};
use super::wrap::{self, Ctx};
use crate::command_docs::{self, CommandDoc};
use crate::load_args::{self, LoadOptions};
use crate::stats::Command;

/// A command's C entry point: `$body` behind the panic guard, counted as `$command`.
macro_rules! entry_point {
    ($command:expr, $body:path) => {{
        extern "C" fn entry_point(
            ctx: *mut raw::RedisModuleCtx,
            argv: *mut *mut raw::RedisModuleString,
            argc: c_int,
        ) -> c_int {
            wrap::command_call(
                ctx,
                argv,
                argc,
                |ctx, argv| commands::run(ctx, argv, $command, $body),
                |ctx| Failed::internal().answer(ctx, $command),
            )
        }
        entry_point as Handler
    }};
}

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
        entry_point!(Command::Check, commands::check),
        c"write deny-oom fast",
        Keys::OneWritten,
    ),
    documented(
        &command_docs::PEEK,
        entry_point!(Command::Peek, commands::check),
        c"readonly fast",
        Keys::OneRead,
    ),
    // Not `fast`: up to 64 keys per call.
    documented(
        &command_docs::MCHECK,
        entry_point!(Command::MCheck, commands::mcheck),
        c"write deny-oom getkeys-api",
        Keys::Numbered,
    ),
    documented(
        &command_docs::CHARGE,
        entry_point!(Command::Charge, commands::charge),
        c"write deny-oom fast",
        Keys::OneWritten,
    ),
];

/// With `CELL-COMPAT yes`.
const CELL_COMMAND: Spec = documented(
    &command_docs::THROTTLE,
    entry_point!(Command::Throttle, commands::throttle),
    c"write deny-oom fast",
    Keys::OneWritten,
);

// The test hooks are counted under PEEK: they have no counters of their own.
#[cfg(feature = "crash-test")]
const CRASH_TEST: Spec = Spec {
    name: c"ratelimit.crashtest",
    doc: None,
    handler: entry_point!(Command::Peek, commands::crash_test),
    flags: c"readonly",
    keys: Keys::None,
};

#[cfg(feature = "test-clock")]
const TEST_CLOCK: Spec = Spec {
    name: c"ratelimit.testclock",
    doc: None,
    handler: entry_point!(Command::Peek, commands::test_clock),
    flags: c"readonly",
    keys: Keys::None,
};

/// The INFO callback. A panic must not cross into Redis; INFO simply stays short if
/// one happens.
extern "C" fn info_section(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    let _ = catch_unwind(|| info::write(InfoCtx::new(ctx)));
}

/// `CONFIG GET ratelimit.compact-state`.
extern "C" fn get_compact_state(_name: *const c_char, _privdata: *mut c_void) -> c_int {
    c_int::from(storage::compact_state())
}

/// `CONFIG SET ratelimit.compact-state`.
extern "C" fn set_compact_state_config(
    _name: *const c_char,
    value: c_int,
    _privdata: *mut c_void,
    _err: *mut *mut raw::RedisModuleString,
) -> c_int {
    set_compact_state(value != 0);
    raw::REDISMODULE_OK as c_int
}

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
    ctx.register_info(info_section);
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
        get_compact_state,
        set_compact_state_config,
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
