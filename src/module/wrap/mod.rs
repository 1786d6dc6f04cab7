//! The thin safe layer over the raw module API: the only place, with the C entry
//! points in `entry.rs`, where this crate writes `unsafe`.
//!
//! Each type wraps one raw handle for the length of one command call (or of the load):
//! `Ctx` the command's context, `RString` an argument, [`Key`] an open key (closed on
//! drop), [`CallReply`] a reply of `RM_Call` (freed on drop). Every API function the
//! module uses exists on every server it supports, except those looked up as
//! `Option`s, which degrade as documented where they are called.
//!
//! `unwrap()` on an API function pointer: the server filled the pointer in at load
//! (`RedisModule_Init` fails otherwise), so it cannot be `None` by the time a command
//! runs; the optional ones are matched instead.

mod call;
mod key;
pub mod register;

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_long, c_longlong};
use std::ptr;
use std::slice;
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::raw;

use crate::algorithm::Now;

pub use call::CallReply;
pub use key::{Key, Kind};

/// The context of one command call.
#[derive(Clone, Copy)]
pub struct Ctx(*mut raw::RedisModuleCtx);

/// One argument of a command call, valid for the whole call. `repr(transparent)`, so
/// that Redis's `argv` array is a slice of these.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct RString(*mut raw::RedisModuleString);

impl RString {
    /// The argument's bytes, without a copy: they live as long as the call.
    pub fn bytes<'a>(self) -> &'a [u8] {
        let mut len = 0usize;
        // SAFETY: `self` is a command argument, valid for the duration of the call.
        let p = unsafe { raw::RedisModule_StringPtrLen.unwrap()(self.0, &mut len) };
        if p.is_null() || len == 0 {
            return &[];
        }
        // SAFETY: Redis guarantees `len` readable bytes at `p` for the call.
        unsafe { slice::from_raw_parts(p.cast::<u8>(), len) }
    }
}

/// The arguments Redis passed to a command, as a slice.
///
/// # Safety
/// `argv` must point at `argc` valid module strings that outlive the returned slice
/// (Redis's guarantee for a command call).
pub unsafe fn args<'a>(argv: *mut *mut raw::RedisModuleString, argc: c_int) -> &'a [RString] {
    if argv.is_null() || argc <= 0 {
        return &[];
    }
    // SAFETY: the caller's guarantee; RString is repr(transparent) over the pointer.
    unsafe { slice::from_raw_parts(argv.cast::<RString>(), argc as usize) }
}

/// Where every command's C entry point hands over: `run` gets the call's context and
/// arguments as safe values behind the panic guard (a Rust panic that crossed into
/// Redis would abort the server); `on_panic` answers for it if it panicked. Bodies
/// decide everything before they write or reply, and keys close on drop (also while
/// unwinding).
pub fn command_call(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    run: impl FnOnce(Ctx, &[RString]),
    on_panic: impl FnOnce(Ctx),
) -> c_int {
    let ctx = Ctx::new(ctx);
    // SAFETY: Redis passes `argc` valid strings that live for the whole call.
    let argv = unsafe { args(argv, argc) };
    let guarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(ctx, argv)));
    if guarded.is_err() {
        on_panic(ctx);
    }
    raw::REDISMODULE_OK as c_int
}

fn ll(v: u64) -> c_longlong {
    c_longlong::try_from(v).unwrap_or(c_longlong::MAX)
}

impl Ctx {
    pub fn new(ctx: *mut raw::RedisModuleCtx) -> Ctx {
        Ctx(ctx)
    }

    pub fn reply_error(self, message: &CStr) {
        // SAFETY: the command's context; a NUL-terminated message.
        unsafe { raw::RedisModule_ReplyWithError.unwrap()(self.0, message.as_ptr()) };
    }

    /// Redis's own "wrong number of arguments for '<command>' command".
    pub fn reply_wrong_arity(self) {
        // SAFETY: the command's context.
        unsafe { raw::RedisModule_WrongArity.unwrap()(self.0) };
    }

    /// Starts an array reply of `len` elements (the next `len` replies).
    pub fn reply_array(self, len: usize) {
        // SAFETY: the command's context.
        unsafe { raw::RedisModule_ReplyWithArray.unwrap()(self.0, len as c_long) };
    }

    pub fn reply_i64(self, value: i64) {
        // SAFETY: the command's context.
        unsafe { raw::RedisModule_ReplyWithLongLong.unwrap()(self.0, value) };
    }

    /// Reply with an unsigned number, saturating at `i64::MAX` (never reached: every
    /// bound is far below it).
    pub fn reply_u64(self, value: u64) {
        self.reply_i64(ll(value));
    }

    /// Invalidates `WATCH`es and client-side caches of the key (the module loads with
    /// `NO_IMPLICIT_SIGNAL_MODIFIED`, so only writes do this).
    pub fn signal_modified(self, name: RString) {
        // SAFETY: the command's context and argument.
        unsafe { raw::RedisModule_SignalModifiedKey.unwrap()(self.0, name.0) };
    }

    /// The keyspace event `ratelimit` (class string) for the key.
    pub fn notify_ratelimit(self, name: RString) {
        // SAFETY: the command's context and argument; a static event name.
        unsafe {
            raw::RedisModule_NotifyKeyspaceEvent.unwrap()(
                self.0,
                raw::REDISMODULE_NOTIFY_STRING as c_int,
                c"ratelimit".as_ptr(),
                name.0,
            )
        };
    }

    /// Replicates `SET name value PXAT at_ms` to replicas and the AOF.
    pub fn replicate_set_pxat(self, name: RString, value: &[u8], at_ms: u64) {
        let pxat = PXAT.load(Ordering::Relaxed);
        let (bytes, len, at) = (value.as_ptr().cast::<c_char>(), value.len(), ll(at_ms));
        // SAFETY: the command's context; each format matches the arguments after it
        // (s: module string, b: pointer and length, c: C string, l: long long).
        unsafe {
            let replicate = raw::RedisModule_Replicate.unwrap();
            if pxat.is_null() {
                let pxat = c"PXAT".as_ptr();
                replicate(
                    self.0,
                    c"SET".as_ptr(),
                    c"sbcl".as_ptr(),
                    name.0,
                    bytes,
                    len,
                    pxat,
                    at,
                );
            } else {
                replicate(
                    self.0,
                    c"SET".as_ptr(),
                    c"sbsl".as_ptr(),
                    name.0,
                    bytes,
                    len,
                    pxat,
                    at,
                );
            }
        }
    }

    /// Replicates `DEL name` to replicas and the AOF.
    pub fn replicate_del(self, name: RString) {
        // SAFETY: the command's context; the format "s" matches the module string.
        unsafe {
            raw::RedisModule_Replicate.unwrap()(self.0, c"DEL".as_ptr(), c"s".as_ptr(), name.0)
        };
    }

    /// True when Redis calls a getkeys-api command only to learn its key positions.
    pub fn is_keys_position_request(self) -> bool {
        // SAFETY: the command's context.
        unsafe { raw::RedisModule_IsKeysPositionRequest.is_some_and(|f| f(self.0) != 0) }
    }

    /// Declares the argument at `pos` a key that is read and written (with its flags
    /// where the server takes them, Redis 7.0+).
    pub fn key_at(self, pos: usize) {
        let flags = (raw::REDISMODULE_CMD_KEY_RW
            | raw::REDISMODULE_CMD_KEY_ACCESS
            | raw::REDISMODULE_CMD_KEY_UPDATE) as c_int;
        let pos = pos as c_int;
        // SAFETY: the command's context during a keys-position request.
        unsafe {
            if let Some(with_flags) = raw::RedisModule_KeyAtPosWithFlags {
                with_flags(self.0, pos, flags);
            } else {
                raw::RedisModule_KeyAtPos.unwrap()(self.0, pos);
            }
        }
    }

    pub(crate) fn raw(self) -> *mut raw::RedisModuleCtx {
        self.0
    }
}

/// The server's wall clock, in nanoseconds since the Unix epoch (0 if it reads earlier).
/// `RedisModule_Milliseconds` is too coarse for GCRA and `RedisModule_Microseconds` is
/// missing on 7.0.
pub fn now() -> Now {
    #[cfg(feature = "test-clock")]
    if let Some(fixed) = test_clock::get() {
        return fixed;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter; CLOCK_REALTIME always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Now::from_ns(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// The server's clock in ms, as it computes expiries (Redis 6.2's relative expiry).
fn server_ms() -> c_longlong {
    // SAFETY: a plain API call that reads the clock.
    unsafe { raw::RedisModule_Milliseconds.unwrap()() }
}

/// The argument "PXAT", created once at load: `RM_Replicate` and `RM_Call` take a
/// module string (format `s`) by reference count, where a C string (`c`) would be
/// copied into a new object on every allowed call.
static PXAT: AtomicPtr<raw::RedisModuleString> = AtomicPtr::new(ptr::null_mut());

/// Creates the strings the hot path reuses. Called from OnLoad.
pub fn create_shared_strings() {
    // SAFETY: a NULL context creates a string that lives until freed explicitly.
    let s = unsafe { raw::RedisModule_CreateString.unwrap()(ptr::null_mut(), c"PXAT".as_ptr(), 4) };
    PXAT.store(s, Ordering::Relaxed);
}

/// Frees what `create_shared_strings` made. Called when the module is unloaded.
pub fn free_shared_strings() {
    let s = PXAT.swap(ptr::null_mut(), Ordering::Relaxed);
    if !s.is_null() {
        // SAFETY: created with a NULL context by create_shared_strings, freed once.
        unsafe { raw::RedisModule_FreeString.unwrap()(ptr::null_mut(), s) };
    }
}

/// Writes a warning to the server log, from any thread and without a context (the
/// panic hook's path).
pub fn log_warning(message: &CStr) {
    // SAFETY: RedisModule_Log accepts a NULL context; "%s" matches one C string.
    unsafe {
        raw::RedisModule_Log.unwrap()(
            ptr::null_mut(),
            c"warning".as_ptr(),
            c"ratelimit: %s".as_ptr(),
            message.as_ptr(),
        );
    }
}

/// The clock `RATELIMIT.TESTCLOCK` sets (feature `test-clock` only): 0 reads the real
/// clock.
#[cfg(feature = "test-clock")]
pub mod test_clock {
    use std::sync::atomic::{AtomicU64, Ordering};

    use crate::algorithm::Now;

    static FIXED_NS: AtomicU64 = AtomicU64::new(0);

    pub fn set(ns: u64) {
        FIXED_NS.store(ns, Ordering::Relaxed);
    }

    pub fn get() -> Option<Now> {
        let ns = FIXED_NS.load(Ordering::Relaxed);
        (ns != 0).then(|| Now::from_ns(ns))
    }
}
