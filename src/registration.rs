//! Module registration: commands, flags, key positions and key specs, options.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

use redis_module::{raw, Context, RedisString, Status};

use crate::command::{self, guarded};
use crate::command_docs::{self, Arg, ArgType, CommandDoc};
use crate::load_args;
use crate::stats::Command;

type Handler =
    extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

/// A command's C entry point: the body behind the panic guard, counted as `$command`.
macro_rules! entry_point {
    ($(#[$attr:meta])* $name:ident, $command:expr, $body:path) => {
        $(#[$attr])*
        extern "C" fn $name(
            ctx: *mut raw::RedisModuleCtx,
            argv: *mut *mut raw::RedisModuleString,
            argc: c_int,
        ) -> c_int {
            guarded(ctx, argv, argc, $command, $body)
        }
    };
}

entry_point!(check, Command::Check, command::check);
entry_point!(peek, Command::Peek, command::check);
entry_point!(mcheck, Command::MCheck, command::mcheck);
entry_point!(throttle, Command::Throttle, command::throttle);
// Counted under PEEK: the crash test has no counters of its own.
entry_point!(
    #[cfg(feature = "crash-test")]
    crash_test,
    Command::Peek,
    command::crash_test
);

/// How a command's keys are declared to Redis.
#[derive(Clone, Copy)]
enum Keys {
    /// One key at argv[1], read and written.
    OneWritten,
    /// One key at argv[1], only read.
    OneRead,
    /// `numlimits` at argv[1], then a written key every three arguments from argv[2]
    /// (MCHECK). The legacy (first, last, step) triple cannot say this, so the command
    /// also answers the getkeys API.
    Numbered,
    /// No keys (the crash-test command).
    #[cfg(feature = "crash-test")]
    None,
}

impl Keys {
    /// The legacy (first, last, step) triple given to `RedisModule_CreateCommand`.
    fn legacy(self) -> (c_int, c_int, c_int) {
        match self {
            Keys::OneWritten | Keys::OneRead => (1, 1, 1),
            Keys::Numbered => (0, 0, 0),
            #[cfg(feature = "crash-test")]
            Keys::None => (0, 0, 0),
        }
    }
}

/// One command as registered: its name and docs, entry point, flags and keys.
struct Spec {
    name: &'static CStr,
    /// What `COMMAND DOCS` shows; `None` only for the crash-test command.
    doc: Option<&'static CommandDoc>,
    handler: Handler,
    flags: &'static CStr,
    keys: Keys,
}

impl Spec {
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
}

fn create(ctx: &Context, spec: &Spec) -> Status {
    let (first, last, step) = spec.keys.legacy();
    // SAFETY: called from OnLoad with its context; strings are NUL-terminated.
    let created = unsafe {
        raw::RedisModule_CreateCommand.unwrap()(
            ctx.ctx,
            spec.name.as_ptr(),
            Some(spec.handler),
            spec.flags.as_ptr(),
            first,
            last,
            step,
        )
    };
    if created != raw::REDISMODULE_OK as c_int {
        ctx.log_warning(&format!(
            "could not register {}",
            spec.name.to_string_lossy()
        ));
        return Status::Err;
    }
    set_command_info(ctx, spec);
    Status::Ok
}

/// The documented arguments as the API takes them: each list ends with a zeroed
/// entry, and `lists` owns every list (a subargument list before its parent) until
/// `RedisModule_SetCommandInfo`, which copies them, has returned.
fn raw_args(
    args: &[Arg],
    lists: &mut Vec<Vec<raw::RedisModuleCommandArg>>,
) -> *mut raw::RedisModuleCommandArg {
    let mut list: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(args.len() + 1);
    for arg in args {
        let subargs = if arg.subargs.is_empty() {
            std::ptr::null_mut()
        } else {
            raw_args(arg.subargs, lists)
        };
        let (kind, key_spec_index) = match arg.kind {
            ArgType::Key { key_spec } => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                key_spec,
            ),
            ArgType::Integer => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                -1,
            ),
            ArgType::PureToken => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN,
                -1,
            ),
            ArgType::OneOf => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                -1,
            ),
            ArgType::Block => (
                raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
                -1,
            ),
        };
        let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
        if arg.optional {
            flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
        }
        if arg.multiple {
            flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
        }
        let text = |s: Option<&'static CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
        list.push(raw::RedisModuleCommandArg {
            name: arg.name.as_ptr(),
            type_: kind,
            key_spec_index,
            token: text(arg.token),
            summary: text(arg.summary),
            since: std::ptr::null(),
            flags: flags as c_int,
            deprecated_since: std::ptr::null(),
            subargs,
            display_text: std::ptr::null(),
        });
    }
    // SAFETY: an all-zero RedisModuleCommandArg (null pointers, zero numbers) is the
    // terminator the API looks for.
    list.push(unsafe { std::mem::zeroed() });
    let first = list.as_mut_ptr();
    // Moving the Vec into `lists` keeps its heap buffer, and so `first`, where it is.
    lists.push(list);
    first
}

/// Declares the docs and key specs where the server has `RedisModule_SetCommandInfo`
/// (Redis 7.0+, Valkey; 6.2 shows neither). The legacy (first, last, step) triple
/// makes every key read-write; a read-only spec is what lets a user with
/// `%R~pattern` permission run PEEK.
fn set_command_info(ctx: &Context, spec: &Spec) {
    let (name, keys) = (spec.name, spec.keys);
    #[cfg(feature = "crash-test")]
    if matches!(keys, Keys::None) {
        return;
    }
    // SAFETY: plain API calls during OnLoad; `specs` and `version` outlive the call,
    // which copies what it needs.
    unsafe {
        let (Some(get_command), Some(set_info)) =
            (raw::RedisModule_GetCommand, raw::RedisModule_SetCommandInfo)
        else {
            return;
        };
        let command = get_command(ctx.ctx, name.as_ptr());
        if command.is_null() {
            return;
        }
        let written = raw::REDISMODULE_CMD_KEY_RW
            | raw::REDISMODULE_CMD_KEY_ACCESS
            | raw::REDISMODULE_CMD_KEY_UPDATE;
        let read = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
        // A zeroed second entry terminates the list.
        let mut specs: [raw::RedisModuleCommandKeySpec; 2] = std::mem::zeroed();
        specs[0].begin_search_type =
            raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
        specs[0].bs.index.pos = 1;
        match keys {
            Keys::OneWritten | Keys::OneRead => {
                let flags = if matches!(keys, Keys::OneRead) {
                    read
                } else {
                    written
                };
                specs[0].flags = u64::from(flags);
                specs[0].find_keys_type =
                    raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
                specs[0].fk.range.lastkey = 0;
                specs[0].fk.range.keystep = 1;
                specs[0].fk.range.limit = 0;
            }
            #[cfg(feature = "crash-test")]
            Keys::None => unreachable!("no key spec for commands without keys"),
            Keys::Numbered => {
                // Relative to the begin-search index: the count at +0 (argv[1]), the
                // first key at +1 (argv[2]), then every third argument. Redis 7.0
                // reads a keynum spec as if its keys were consecutive (it finds only
                // the first of two keys three apart), so the spec also carries
                // VARIABLE_FLAGS, which makes the server ask the getkeys callback
                // instead; clients reading COMMAND INFO still see the true layout.
                specs[0].flags = u64::from(written | raw::REDISMODULE_CMD_KEY_VARIABLE_FLAGS);
                specs[0].find_keys_type =
                    raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_KEYNUM;
                specs[0].fk.keynum.keynumidx = 0;
                specs[0].fk.keynum.firstkey = 1;
                specs[0].fk.keynum.keystep = 3;
            }
        }
        let version = raw::RedisModuleCommandInfoVersion {
            version: 1,
            sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
            sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
            sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
        };
        let mut info: raw::RedisModuleCommandInfo = std::mem::zeroed();
        info.version = &version;
        info.key_specs = specs.as_mut_ptr();
        // Owns the argument lists until SetCommandInfo has copied them.
        let mut arg_lists = vec![];
        if let Some(doc) = spec.doc {
            info.summary = doc.summary.as_ptr();
            info.since = doc.since.as_ptr();
            info.complexity = doc.complexity.as_ptr();
            info.arity = doc.arity;
            info.args = raw_args(doc.args, &mut arg_lists);
        }
        if set_info(command, &info) != raw::REDISMODULE_OK as c_int {
            ctx.log_warning(&format!(
                "could not set the docs and key specs of {}",
                name.to_string_lossy()
            ));
        }
    }
}

/// Every entry point catches panics; this hook only writes the message to the server
/// log. The default hook writes to stderr and, with RUST_BACKTRACE set, symbolizes a
/// backtrace into caches that are never freed.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = std::ffi::CString::new(format!("caught a panic: {info}"))
            .unwrap_or_else(|_| c"caught a panic".to_owned());
        // SAFETY: RedisModule_Log accepts a NULL context; "%s" matches one C string.
        unsafe {
            raw::RedisModule_Log.unwrap()(
                std::ptr::null_mut(),
                c"warning".as_ptr(),
                c"ratelimit: %s".as_ptr(),
                message.as_ptr(),
            );
        }
    }));
}

fn init(ctx: &Context, args: &[RedisString]) -> Status {
    install_panic_hook();
    let args: Vec<&[u8]> = args.iter().map(RedisString::as_slice).collect();
    let options = match load_args::parse(&args) {
        Ok(o) => o,
        Err(reason) => {
            ctx.log_warning(&format!("ratelimit not loaded: {reason}"));
            return Status::Err;
        }
    };
    command::create_shared_strings();
    command::set_compact_state(options.compact_state);
    // SAFETY: API calls during OnLoad with its context.
    unsafe {
        if let Some(set_options) = raw::RedisModule_SetModuleOptions {
            // Opening a key for writing must not invalidate WATCH by itself: a denied
            // call writes nothing, so it must look like nothing happened. Allowed calls
            // signal the key explicitly.
            set_options(
                ctx.ctx,
                raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED as c_int,
            );
        }
        raw::RedisModule_RegisterInfoFunc.unwrap()(ctx.ctx, Some(crate::info::info));
    }
    // Names in lower case, as Redis's own commands and other modules register theirs:
    // INFO commandstats, COMMAND INFO, SLOWLOG and ACL LOG show them as registered.
    // Callers may use any case.
    let mut commands = vec![
        Spec::documented(
            &command_docs::CHECK,
            check,
            c"write deny-oom fast",
            Keys::OneWritten,
        ),
        Spec::documented(&command_docs::PEEK, peek, c"readonly fast", Keys::OneRead),
        // Not `fast`: up to 64 keys per call.
        Spec::documented(
            &command_docs::MCHECK,
            mcheck,
            c"write deny-oom getkeys-api",
            Keys::Numbered,
        ),
    ];
    #[cfg(feature = "crash-test")]
    commands.push(Spec {
        name: c"ratelimit.crashtest",
        doc: None,
        handler: crash_test,
        flags: c"readonly",
        keys: Keys::None,
    });
    if options.cell_compat {
        commands.push(Spec::documented(
            &command_docs::THROTTLE,
            throttle,
            c"write deny-oom fast",
            Keys::OneWritten,
        ));
    }
    for spec in &commands {
        if create(ctx, spec) == Status::Err {
            return Status::Err;
        }
    }
    register_configs(ctx, options.compact_state)
}

/// `ratelimit.compact-state` (Redis 7.0+, Valkey): `COMPACT-STATE` as a config, so that
/// `CONFIG SET` switches it at run time. The load
/// argument gives its starting value; a `ratelimit.compact-state` line in the
/// configuration file, or on the command line, overrides it. Switching is safe at any
/// moment: both forms are read in either mode. Redis 6.2 has no module configs.
fn register_configs(ctx: &Context, compact_state: bool) -> Status {
    extern "C" fn get(_name: *const c_char, _privdata: *mut c_void) -> c_int {
        c_int::from(command::compact_state())
    }
    extern "C" fn set(
        _name: *const c_char,
        value: c_int,
        _privdata: *mut c_void,
        _err: *mut *mut raw::RedisModuleString,
    ) -> c_int {
        command::set_compact_state(value != 0);
        raw::Status::Ok as c_int
    }
    // SAFETY: API calls during OnLoad with its context; the callbacks match the
    // signatures the API expects and ignore the (null) private data.
    unsafe {
        let (Some(register), Some(load)) = (
            raw::RedisModule_RegisterBoolConfig,
            raw::RedisModule_LoadConfigs,
        ) else {
            return Status::Ok;
        };
        let registered = register(
            ctx.ctx,
            c"compact-state".as_ptr(),
            c_int::from(compact_state),
            raw::REDISMODULE_CONFIG_DEFAULT,
            Some(get),
            Some(set),
            None,
            std::ptr::null_mut(),
        );
        if registered != raw::Status::Ok as c_int || load(ctx.ctx) != raw::Status::Ok as c_int {
            ctx.log_warning("ratelimit not loaded: its configuration could not be registered");
            return Status::Err;
        }
    }
    Status::Ok
}

fn deinit(_ctx: &Context) -> Status {
    command::free_shared_strings();
    Status::Ok
}

// The module's entry points, written out rather than generated by the crate's
// `redis_module!` macro: the macro also creates a detached thread-safe context at load
// that nothing ever frees (valgrind reports it as lost at every shutdown), and this
// module needs none of the macro's other machinery.

/// Every allocation of the module goes through Redis's allocator, so it shows in
/// `used_memory` and counts against `maxmemory`.
#[global_allocator]
static ALLOCATOR: redis_module::alloc::RedisAlloc = redis_module::alloc::RedisAlloc;

/// Called by Redis on `loadmodule` / `MODULE LOAD`.
///
/// # Safety
/// Redis passes a valid context and `argc` valid argument strings.
#[no_mangle]
pub unsafe extern "C" fn RedisModule_OnLoad(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    // Nothing may allocate before the API is initialised: the allocator is Redis's.
    let initialised = raw::Export_RedisModule_Init(
        ctx,
        c"ratelimit".as_ptr(),
        1,
        raw::REDISMODULE_APIVER_1 as c_int,
    );
    if initialised == raw::Status::Err as c_int {
        return raw::Status::Err as c_int;
    }
    let context = Context::new(ctx);
    let args = redis_module::decode_args(ctx, argv, argc);
    init(&context, &args) as c_int
}

/// Called by Redis on `MODULE UNLOAD`.
#[no_mangle]
pub extern "C" fn RedisModule_OnUnload(ctx: *mut raw::RedisModuleCtx) -> c_int {
    deinit(&Context::new(ctx)) as c_int
}
