//! The load-time API: commands with their flags, key specs and docs, module options,
//! the INFO callback and the module config.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;

use redis_module::raw;

use super::Ctx;
use crate::command_docs::{Arg, ArgType, CommandDoc};

const OK: c_int = raw::REDISMODULE_OK as c_int;

/// A command's C entry point.
pub type Handler =
    extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

/// How a command's keys are declared to Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keys {
    /// One key at argv[1], read and written.
    OneWritten,
    /// One key at argv[1], only read.
    OneRead,
    /// `numlimits` at argv[1], then a written key every three arguments from argv[2]
    /// (MCHECK). The legacy (first, last, step) triple cannot say this, so the command
    /// also answers the getkeys API.
    Numbered,
    /// No keys (the crash-test command).
    None,
}

impl Keys {
    /// The legacy (first, last, step) triple given to `RedisModule_CreateCommand`.
    fn legacy(self) -> (c_int, c_int, c_int) {
        match self {
            Keys::OneWritten | Keys::OneRead => (1, 1, 1),
            Keys::Numbered | Keys::None => (0, 0, 0),
        }
    }
}

impl Ctx {
    /// A warning in the server log, naming the module.
    pub fn log_warning(self, message: &str) {
        let message = CString::new(message).unwrap_or_else(|_| c"(unprintable)".to_owned());
        // SAFETY: the load's context; "%s" matches one C string.
        unsafe {
            raw::RedisModule_Log.unwrap()(
                self.raw(),
                c"warning".as_ptr(),
                c"%s".as_ptr(),
                message.as_ptr(),
            )
        };
    }

    /// Registers a command; false (and a log line) if Redis refused.
    pub fn create_command(self, name: &CStr, handler: Handler, flags: &CStr, keys: Keys) -> bool {
        let (first, last, step) = keys.legacy();
        // SAFETY: called from OnLoad with its context; the strings are NUL-terminated.
        let created = unsafe {
            raw::RedisModule_CreateCommand.unwrap()(
                self.raw(),
                name.as_ptr(),
                Some(handler),
                flags.as_ptr(),
                first,
                last,
                step,
            )
        };
        if created != OK {
            self.log_warning(&format!("could not register {}", name.to_string_lossy()));
        }
        created == OK
    }

    /// Declares a command's docs and key specs where the server has
    /// `RedisModule_SetCommandInfo` (Redis 7.0+, Valkey; 6.2 shows neither). The legacy
    /// triple makes every key read-write; a read-only spec is what lets a user with
    /// `%R~pattern` permission run PEEK.
    pub fn set_command_info(self, name: &CStr, keys: Keys, doc: Option<&CommandDoc>) {
        if keys == Keys::None {
            return;
        }
        // SAFETY: reading the API's function table, filled in before OnLoad runs.
        let (Some(get_command), Some(set_info)) =
            (unsafe { (raw::RedisModule_GetCommand, raw::RedisModule_SetCommandInfo) })
        else {
            return;
        };
        // SAFETY: a plain API call during OnLoad, for a command just created.
        let command = unsafe { get_command(self.raw(), name.as_ptr()) };
        if command.is_null() {
            return;
        }
        let mut specs = key_specs(keys);
        let version = raw::RedisModuleCommandInfoVersion {
            version: 1,
            sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
            sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
            sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
        };
        // SAFETY: an all-zero RedisModuleCommandInfo is "no field set".
        let mut info: raw::RedisModuleCommandInfo = unsafe { std::mem::zeroed() };
        info.version = &version;
        info.key_specs = specs.as_mut_ptr();
        // Owns the argument lists until SetCommandInfo has copied them.
        let mut arg_lists = vec![];
        if let Some(doc) = doc {
            info.summary = doc.summary.as_ptr();
            info.since = doc.since.as_ptr();
            info.complexity = doc.complexity.as_ptr();
            info.arity = doc.arity;
            info.args = raw_args(doc.args, &mut arg_lists);
        }
        // SAFETY: every pointer in `info` (specs, version, docs, argument lists) lives
        // until the call returns, and the call copies what it keeps.
        if unsafe { set_info(command, &info) } != OK {
            self.log_warning(&format!(
                "could not set the docs and key specs of {}",
                name.to_string_lossy()
            ));
        }
    }

    /// Opening a key for writing must not invalidate `WATCH` by itself: a denied call
    /// writes nothing, so it must look like nothing happened. Allowed calls signal the
    /// key explicitly.
    pub fn disable_implicit_signal_modified(self) {
        // SAFETY: reading the API's function table, filled in before OnLoad runs.
        if let Some(set_options) = unsafe { raw::RedisModule_SetModuleOptions } {
            // SAFETY: an API call during OnLoad with its context.
            unsafe {
                set_options(
                    self.raw(),
                    raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED as c_int,
                )
            };
        }
    }

    pub fn register_info(self, callback: extern "C" fn(*mut raw::RedisModuleInfoCtx, c_int)) {
        // SAFETY: an API call during OnLoad with its context.
        unsafe { raw::RedisModule_RegisterInfoFunc.unwrap()(self.raw(), Some(callback)) };
    }

    /// Registers a boolean module config and loads its value (Redis 7.0+, Valkey).
    pub fn register_bool_config(
        self,
        name: &CStr,
        default: bool,
        get: extern "C" fn(*const c_char, *mut c_void) -> c_int,
        set: extern "C" fn(
            *const c_char,
            c_int,
            *mut c_void,
            *mut *mut raw::RedisModuleString,
        ) -> c_int,
    ) -> Config {
        // SAFETY: reading the API's function table, filled in before OnLoad runs.
        let (Some(register), Some(load)) = (unsafe {
            (
                raw::RedisModule_RegisterBoolConfig,
                raw::RedisModule_LoadConfigs,
            )
        }) else {
            return Config::Unsupported;
        };
        // SAFETY: API calls during OnLoad with its context; the callbacks match the
        // signatures the API expects and take no private data.
        let registered = unsafe {
            register(
                self.raw(),
                name.as_ptr(),
                c_int::from(default),
                raw::REDISMODULE_CONFIG_DEFAULT,
                Some(get),
                Some(set),
                None,
                ptr::null_mut(),
            )
        };
        // SAFETY: as above.
        if registered != OK || unsafe { load(self.raw()) } != OK {
            return Config::Refused;
        }
        Config::Registered
    }
}

/// What became of a module config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    Registered,
    /// The server has no module configs (Redis 6.2).
    Unsupported,
    Refused,
}

/// The key spec of one command; a zeroed second entry ends the list.
fn key_specs(keys: Keys) -> [raw::RedisModuleCommandKeySpec; 2] {
    // SAFETY: an all-zero key spec is the list's terminator and a blank to fill in.
    let mut specs: [raw::RedisModuleCommandKeySpec; 2] = unsafe { std::mem::zeroed() };
    let written = raw::REDISMODULE_CMD_KEY_RW
        | raw::REDISMODULE_CMD_KEY_ACCESS
        | raw::REDISMODULE_CMD_KEY_UPDATE;
    let read = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
    let spec = &mut specs[0];
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = 1;
    match keys {
        Keys::OneWritten | Keys::OneRead => {
            let flags = if keys == Keys::OneRead { read } else { written };
            spec.flags = u64::from(flags);
            spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
            spec.fk.range.lastkey = 0;
            spec.fk.range.keystep = 1;
            spec.fk.range.limit = 0;
        }
        Keys::Numbered => {
            // Relative to the begin-search index: the count at +0 (argv[1]), the first
            // key at +1 (argv[2]), then every third argument. Redis 7.0 reads a keynum
            // spec as if its keys were consecutive (it finds only the first of two keys
            // three apart), so the spec also carries VARIABLE_FLAGS, which makes the
            // server ask the getkeys callback instead; clients reading COMMAND INFO
            // still see the true layout.
            spec.flags = u64::from(written | raw::REDISMODULE_CMD_KEY_VARIABLE_FLAGS);
            spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_KEYNUM;
            spec.fk.keynum.keynumidx = 0;
            spec.fk.keynum.firstkey = 1;
            spec.fk.keynum.keystep = 3;
        }
        Keys::None => {}
    }
    specs
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
            ptr::null_mut()
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
        let text = |s: Option<&'static CStr>| s.map_or(ptr::null(), CStr::as_ptr);
        list.push(raw::RedisModuleCommandArg {
            name: arg.name.as_ptr(),
            type_: kind,
            key_spec_index,
            token: text(arg.token),
            summary: text(arg.summary),
            since: ptr::null(),
            flags: flags as c_int,
            deprecated_since: ptr::null(),
            subargs,
            display_text: ptr::null(),
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

/// The context of one INFO callback.
#[derive(Clone, Copy)]
pub struct InfoCtx(*mut raw::RedisModuleInfoCtx);

impl InfoCtx {
    pub fn new(ctx: *mut raw::RedisModuleInfoCtx) -> InfoCtx {
        InfoCtx(ctx)
    }

    /// Starts the module's own section (`# ratelimit`).
    pub fn add_section(self) {
        // SAFETY: the callback's context; NULL names the module's section.
        unsafe { raw::RedisModule_InfoAddSection.unwrap()(self.0, ptr::null()) };
    }

    pub fn add_u64(self, field: &CStr, value: u64) {
        // SAFETY: the callback's context; a NUL-terminated field name.
        unsafe { raw::RedisModule_InfoAddFieldULongLong.unwrap()(self.0, field.as_ptr(), value) };
    }
}
