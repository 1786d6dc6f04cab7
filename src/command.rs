//! The thin glue between Redis and the pure code: read the arguments, open the key
//! once, decode, decide, write in place, expire, replicate the effect, reply.
//!
//! Everything here goes through the raw module API rather than the crate's high-level
//! wrappers: the hot path must not allocate, must open the key once, and must write
//! the value in place without dropping its expiry (`RM_StringSet` deletes and re-adds
//! the key).

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_longlong};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::slice;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use redis_module::raw;

use crate::algorithm::{self, Now, Outcome, Refusal, Update};
use crate::args::{self, Algorithm, ArgError};
use crate::cell;
use crate::state;
use crate::stats::{self, Command};

type Ctx = *mut raw::RedisModuleCtx;
type RString = *mut raw::RedisModuleString;

const OK: c_int = raw::REDISMODULE_OK as c_int;

/// The Redis error for a key holding another type, or a string that is not our state.
const WRONGTYPE: &CStr = c"WRONGTYPE Operation against a key holding the wrong kind of value";

/// Reply when a command panicked: the panic was caught and the server keeps serving.
const INTERNAL: &CStr = c"ERR internal error in the ratelimit module; the server is unaffected";

/// Reply when Redis refused to write a value into a key opened for writing, which the
/// module API does not do for string keys; kept so that the case is never silent.
const WRITE_FAILED: &CStr = c"ERR could not write the rate-limit state";

/// Runs a command body behind a panic guard. A Rust panic that crossed into Redis would
/// abort the server; here it becomes an error reply instead. Bodies decide everything
/// before they write or reply, and keys close on drop (also while unwinding).
pub fn guarded(
    ctx: Ctx,
    argv: *mut RString,
    argc: c_int,
    command: Command,
    body: fn(Ctx, &[RString], Command),
) -> c_int {
    let argv: &[RString] = if argv.is_null() || argc <= 0 {
        &[]
    } else {
        // SAFETY: Redis passes `argc` valid strings that live for the whole call.
        unsafe { slice::from_raw_parts(argv, argc as usize) }
    };
    if catch_unwind(AssertUnwindSafe(|| body(ctx, argv, command))).is_err() {
        stats::error(command);
        reply_error(ctx, INTERNAL);
    }
    OK
}

/// The bytes of a command argument. No copy: the slice points into Redis's string,
/// which outlives the command call.
fn bytes<'a>(s: RString) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: `s` is a valid module string for the duration of the command.
    let p = unsafe { raw::RedisModule_StringPtrLen.unwrap()(s, &mut len) };
    if p.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: Redis guarantees `len` readable bytes at `p`.
    unsafe { slice::from_raw_parts(p.cast::<u8>(), len) }
}

/// Calls `f` with the arguments as byte slices, without allocating for the usual
/// short command lines.
fn with_args<R>(argv: &[RString], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    const INLINE: usize = 16;
    if argv.len() <= INLINE {
        let mut buf: [&[u8]; INLINE] = [&[]; INLINE];
        for (slot, &a) in buf.iter_mut().zip(argv) {
            *slot = bytes(a);
        }
        f(&buf[..argv.len()])
    } else {
        let v: Vec<&[u8]> = argv.iter().map(|&a| bytes(a)).collect();
        f(&v)
    }
}

/// The server's wall clock, in nanoseconds since the Unix epoch (0 if it reads earlier).
fn now() -> Now {
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

/// A key opened for one command, closed when dropped.
struct Key {
    ptr: *mut raw::RedisModuleKey,
}

impl Key {
    fn open(ctx: Ctx, name: RString, write: bool) -> Key {
        let mode = if write {
            raw::REDISMODULE_READ | raw::REDISMODULE_WRITE
        } else {
            raw::REDISMODULE_READ
        };
        // SAFETY: ctx and name are valid for the command call.
        let ptr = unsafe { raw::RedisModule_OpenKey.unwrap()(ctx, name, mode as c_int) };
        Key { ptr }
    }

    /// Opens a key to look at its type and expiry only, before reading its value with
    /// a command. Where the server can (Redis 7.2+, Valkey), the look is left out of
    /// the keyspace hit and miss counters, so that only the command counts.
    fn probe(ctx: Ctx, name: RString) -> Key {
        let mut mode = raw::REDISMODULE_READ;
        // SAFETY: plain API calls with the command's context and argument.
        let ptr = unsafe {
            if let Some(modes) = raw::RedisModule_GetOpenKeyModesAll {
                mode |= modes() as u32 & raw::REDISMODULE_OPEN_KEY_NOSTATS;
            }
            raw::RedisModule_OpenKey.unwrap()(ctx, name, mode as c_int)
        };
        Key { ptr }
    }

    /// The key's type (`REDISMODULE_KEYTYPE_*`); the key must be open.
    fn kind(&self) -> c_int {
        // SAFETY: self.ptr is an open key.
        unsafe { raw::RedisModule_KeyType.unwrap()(self.ptr) }
    }

    /// The stored value: `Ok(None)` for a missing key, `Err` for another type.
    ///
    /// The slice stays valid until the key is written or closed.
    fn value(&self) -> Result<Option<&[u8]>, ()> {
        if self.ptr.is_null() {
            return Ok(None);
        }
        let kind = self.kind();
        if kind == raw::REDISMODULE_KEYTYPE_EMPTY as c_int {
            return Ok(None);
        }
        if kind != raw::REDISMODULE_KEYTYPE_STRING as c_int {
            return Err(());
        }
        let mut len = 0usize;
        // SAFETY: the key holds a string; DMA in read mode returns its bytes.
        let p = unsafe {
            raw::RedisModule_StringDMA.unwrap()(self.ptr, &mut len, raw::REDISMODULE_READ as c_int)
        };
        if p.is_null() {
            return Err(());
        }
        // SAFETY: DMA returns `len` readable bytes, valid until the key changes.
        Ok(Some(unsafe { slice::from_raw_parts(p.cast::<u8>(), len) }))
    }

    /// Replaces the value with `bytes`, in place when the length is unchanged, and
    /// returns false if Redis refused (which an open-for-write string key never does).
    fn write(&self, bytes: &[u8]) -> bool {
        let mut len = 0usize;
        // SAFETY: the key is open for writing; the DMA pointer is used at once, for at
        // most `len` bytes, which truncate made equal to bytes.len().
        unsafe {
            let mut p = raw::RedisModule_StringDMA.unwrap()(
                self.ptr,
                &mut len,
                raw::REDISMODULE_WRITE as c_int,
            );
            if p.is_null() || len != bytes.len() {
                if raw::RedisModule_StringTruncate.unwrap()(self.ptr, bytes.len()) != OK {
                    return false;
                }
                p = raw::RedisModule_StringDMA.unwrap()(
                    self.ptr,
                    &mut len,
                    raw::REDISMODULE_WRITE as c_int,
                );
                if p.is_null() || len != bytes.len() {
                    return false;
                }
            }
            ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), len);
        }
        true
    }

    /// Sets the key to expire at `at_ms` (Unix ms). Redis 7.0 and later take the
    /// absolute time as is; 6.2 has only a relative expiry, computed from its clock.
    fn expire_at(&self, at_ms: u64) {
        let at = c_longlong::try_from(at_ms).unwrap_or(c_longlong::MAX);
        // SAFETY: the key is open for writing and holds a value.
        unsafe {
            if let Some(set_abs) = raw::RedisModule_SetAbsExpire {
                set_abs(self.ptr, at);
            } else {
                let now = raw::RedisModule_Milliseconds.unwrap()();
                raw::RedisModule_SetExpire.unwrap()(self.ptr, at.saturating_sub(now).max(1));
            }
        }
    }
}

impl Key {
    /// The key's absolute expiry (Unix ms), `None` if it has none. Redis 7.0 and later
    /// give it as is; 6.2 only gives the time left, so the expiry is computed from the
    /// clock read *after* it: a millisecond tick in between makes it later, never
    /// earlier, and a later expiry only makes a compact state more conservative.
    fn expiry(&self) -> Option<u64> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: the key is open.
        let at = unsafe {
            if let Some(get_abs) = raw::RedisModule_GetAbsExpire {
                get_abs(self.ptr)
            } else {
                let left = raw::RedisModule_GetExpire.unwrap()(self.ptr);
                if left < 0 {
                    left
                } else {
                    raw::RedisModule_Milliseconds.unwrap()().saturating_add(left)
                }
            }
        };
        u64::try_from(at).ok()
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: the key was opened by Key::open and is closed exactly once.
            unsafe { raw::RedisModule_CloseKey.unwrap()(self.ptr) };
        }
    }
}

fn reply_error(ctx: Ctx, msg: &CStr) {
    // SAFETY: ctx is the command's context; msg is NUL-terminated.
    unsafe { raw::RedisModule_ReplyWithError.unwrap()(ctx, msg.as_ptr()) };
}

fn reply_arg_error(ctx: Ctx, err: ArgError) {
    if err == ArgError::WrongArity {
        // SAFETY: ctx is the command's context.
        unsafe { raw::RedisModule_WrongArity.unwrap()(ctx) };
    } else {
        reply_error(ctx, err.message());
    }
}

fn reply_refusal(ctx: Ctx, refusal: Refusal) {
    let msg = match refusal {
        Refusal::OtherAlgorithm(Algorithm::Fixed) => {
            c"WRONGTYPE the key holds ALGORITHM FIXED state: use the same ALGORITHM or delete the key"
        }
        Refusal::OtherAlgorithm(Algorithm::Sliding) => {
            c"WRONGTYPE the key holds ALGORITHM SLIDING state: use the same ALGORITHM or delete the key"
        }
        Refusal::OtherAlgorithm(Algorithm::Gcra) => {
            c"WRONGTYPE the key holds ALGORITHM GCRA state: use the same ALGORITHM or delete the key"
        }
        Refusal::OtherAlgorithm(Algorithm::Log) => {
            c"WRONGTYPE the key holds ALGORITHM LOG state: use the same ALGORITHM or delete the key"
        }
    };
    reply_error(ctx, msg);
}

fn ll(v: u64) -> c_longlong {
    c_longlong::try_from(v).unwrap_or(c_longlong::MAX)
}

/// Replies with the five numbers, as an array in every protocol. A RESP3 map would
/// turn the usual `allowed, limit, ... = reply` unpacking into an unpacking of the
/// map's keys, with `allowed` always truthy: one shape keeps every client limiting.
fn reply_outcome(ctx: Ctx, o: &Outcome) {
    let values: [c_longlong; 5] = [
        c_longlong::from(o.allowed),
        ll(o.limit),
        ll(o.remaining),
        o.retry_after_ms,
        ll(o.reset_after_ms),
    ];
    // SAFETY: reply calls on the command's context.
    unsafe {
        raw::RedisModule_ReplyWithArray.unwrap()(ctx, 5);
        for value in values {
            raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, value);
        }
    }
}

/// The argument "PXAT", created once at load: `RM_Replicate` takes a module string
/// (format `s`) by reference count, where a C string (`c`) would be copied into a new
/// object on every allowed call.
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

/// Stores an update and tells the rest of Redis about it: expiry, WATCH and client
/// tracking, keyspace notification, and one `SET key value PXAT ms` to replicas and
/// the AOF, so that they hold the same bytes and the same absolute expiry.
fn store(ctx: Ctx, key: &Key, name: RString, update: &Update) -> bool {
    let Update {
        value,
        expire_at_ms,
    } = update;
    let bytes = value.as_bytes();
    if !key.write(bytes) {
        return false;
    }
    key.expire_at(*expire_at_ms);
    let pxat = PXAT.load(Ordering::Relaxed);
    // SAFETY: API calls on the command's context with valid, NUL-terminated strings;
    // the formats match the arguments that follow them.
    unsafe {
        raw::RedisModule_SignalModifiedKey.unwrap()(ctx, name);
        raw::RedisModule_NotifyKeyspaceEvent.unwrap()(
            ctx,
            raw::REDISMODULE_NOTIFY_STRING as c_int,
            c"ratelimit".as_ptr(),
            name,
        );
        let replicate = raw::RedisModule_Replicate.unwrap();
        let (value, len, at) = (
            bytes.as_ptr().cast::<c_char>(),
            bytes.len(),
            ll(*expire_at_ms),
        );
        if pxat.is_null() {
            replicate(
                ctx,
                c"SET".as_ptr(),
                c"sbcl".as_ptr(),
                name,
                value,
                len,
                c"PXAT".as_ptr(),
                at,
            );
        } else {
            replicate(
                ctx,
                c"SET".as_ptr(),
                c"sbsl".as_ptr(),
                name,
                value,
                len,
                pxat,
                at,
            );
        }
    }
    true
}

/// `COMPACT-STATE yes`: FIXED and GCRA state is read through `GET` and written through
/// `SET` or `INCRBY`. Set at load, and by `CONFIG SET ratelimit.compact-state`; each
/// command reads it once per key it opens, and either value reads both forms.
static COMPACT_STATE: AtomicBool = AtomicBool::new(false);

/// Called at load with the `COMPACT-STATE` load argument, and by the config.
pub fn set_compact_state(on: bool) {
    COMPACT_STATE.store(on, Ordering::Relaxed);
}

/// Whether the module was loaded with `COMPACT-STATE yes`.
pub fn compact_state() -> bool {
    COMPACT_STATE.load(Ordering::Relaxed)
}

/// A reply from `RM_Call`, freed when dropped.
struct CallReply {
    ptr: *mut raw::RedisModuleCallReply,
}

impl CallReply {
    /// The reply's bytes if it is a string, `None` for anything else (null, error).
    fn string(&self) -> Option<&[u8]> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: ptr is a live reply; a string reply's pointer and length stay valid
        // until the reply is freed, which borrowing `self` prevents.
        unsafe {
            if raw::RedisModule_CallReplyType.unwrap()(self.ptr)
                != raw::REDISMODULE_REPLY_STRING as c_int
            {
                return None;
            }
            let mut len = 0usize;
            let p = raw::RedisModule_CallReplyStringPtr.unwrap()(self.ptr, &mut len);
            if p.is_null() || len == 0 {
                return Some(&[]);
            }
            Some(slice::from_raw_parts(p.cast::<u8>(), len))
        }
    }

    /// True for a null reply (`GET` of a missing key).
    fn is_null(&self) -> bool {
        // SAFETY: ptr is a live reply.
        !self.ptr.is_null()
            && unsafe { raw::RedisModule_CallReplyType.unwrap()(self.ptr) }
                == raw::REDISMODULE_REPLY_NULL as c_int
    }

    /// True unless the call failed or replied with an error.
    fn succeeded(&self) -> bool {
        // SAFETY: ptr is a live reply.
        !self.ptr.is_null()
            && unsafe { raw::RedisModule_CallReplyType.unwrap()(self.ptr) }
                != raw::REDISMODULE_REPLY_ERROR as c_int
    }
}

impl Drop for CallReply {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: the reply came from RM_Call and is freed exactly once.
            unsafe { raw::RedisModule_FreeCallReply.unwrap()(self.ptr) };
        }
    }
}

/// One key as a command reads and writes it.
enum Slot {
    /// Opened through the key API: read by DMA, written in place, the effect
    /// replicated as `SET`. The fast path.
    Direct(Key),
    /// Compact state: read through `GET` and written through `SET`, the only paths on
    /// which Redis keeps an integer value int-encoded (DMA turns it into a raw string
    /// even to read it). `value` is `None` for a missing key.
    Called {
        value: Option<CallReply>,
        expiry: Option<u64>,
    },
}

impl Slot {
    /// Opens `name` for an `algorithm` call. `Err` when the key holds another type.
    fn open(ctx: Ctx, name: RString, write: bool, algorithm: Algorithm) -> Result<Slot, ()> {
        let compact = matches!(algorithm, Algorithm::Fixed | Algorithm::Gcra) && compact_state();
        if !compact {
            return Ok(Slot::Direct(Key::open(ctx, name, write)));
        }
        let key = Key::probe(ctx, name);
        let kind = if key.ptr.is_null() {
            raw::REDISMODULE_KEYTYPE_EMPTY as c_int
        } else {
            key.kind()
        };
        if kind == raw::REDISMODULE_KEYTYPE_EMPTY as c_int {
            return Ok(Slot::Called {
                value: None,
                expiry: None,
            });
        }
        if kind != raw::REDISMODULE_KEYTYPE_STRING as c_int {
            return Err(());
        }
        let expiry = key.expiry();
        // RM_Call must not run on a key the module holds open.
        drop(key);
        // SAFETY: the format "s" matches the one module string that follows it.
        let reply = CallReply {
            ptr: unsafe {
                raw::RedisModule_Call.unwrap()(ctx, c"GET".as_ptr(), c"s".as_ptr(), name)
            },
        };
        if reply.string().is_some() {
            return Ok(Slot::Called {
                value: Some(reply),
                expiry,
            });
        }
        if reply.is_null() {
            // Redis before 7.2 reads the clock afresh for each lookup: the key may
            // have reached its expiry between the look above and the GET, and is gone.
            return Ok(Slot::Called {
                value: None,
                expiry: None,
            });
        }
        Err(())
    }

    /// The decoded state: `Ok(None)` for a missing key, `Err` for a value that is not
    /// this module's state.
    fn state(&self) -> Result<Option<state::State<'_>>, ()> {
        let decoded = match self {
            Slot::Direct(key) => match key.value()? {
                None => return Ok(None),
                Some(bytes) => state::decode_with(bytes, || key.expiry()),
            },
            Slot::Called { value: None, .. } => return Ok(None),
            Slot::Called {
                value: Some(reply),
                expiry,
            } => state::decode_with(reply.string().unwrap_or(&[]), || *expiry),
        };
        decoded.map(Some).map_err(|_| ())
    }

    /// Stores an allowed call's update. False if Redis refused the write.
    fn store(&self, ctx: Ctx, name: RString, update: &Update) -> bool {
        match self {
            Slot::Direct(key) => store(ctx, key, name, update),
            Slot::Called {
                value: Some(reply),
                expiry: Some(expiry),
            } => {
                let stored = reply.string().and_then(state::compact_value);
                store_compact(ctx, name, update, stored.map(|v| (v, *expiry)))
            }
            Slot::Called { .. } => store_compact(ctx, name, update, None),
        }
    }
}

/// Stores an update through a native command, run so that Redis encodes an integer
/// value as an integer, and replicated as it ran (the `!` flag): `INCRBY key delta`
/// when the key already holds a compact value with the same expiry (the usual call
/// within a FIXED window: the integer changes in place and the expiry stays), else
/// `SET key value PXAT ms`. States without a compact form are written in the binary
/// form, through `SET` as well. `stored` is the key's compact integer and expiry.
fn store_compact(ctx: Ctx, name: RString, update: &Update, stored: Option<(i64, u64)>) -> bool {
    let bytes = update.value.as_bytes();
    let at = ll(update.expire_at_ms);
    let pxat = PXAT.load(Ordering::Relaxed);
    let compact = state::compact(bytes, update.expire_at_ms);
    let delta = match (compact, stored) {
        (Some(new), Some((old, expiry))) if expiry == update.expire_at_ms => new.checked_sub(old),
        _ => None,
    };
    // SAFETY: reading the function pointer the API filled in at load.
    let call = unsafe { raw::RedisModule_Call.unwrap() };
    // SAFETY: each format matches the arguments that follow it; PXAT is a live module
    // string created at load (checked non-null), name is the command's argument.
    let reply = CallReply {
        ptr: unsafe {
            match (compact, delta) {
                _ if pxat.is_null() => ptr::null_mut(),
                (Some(_), Some(delta)) => {
                    call(ctx, c"INCRBY".as_ptr(), c"!sl".as_ptr(), name, delta)
                }
                (Some(v), None) => call(ctx, c"SET".as_ptr(), c"!slsl".as_ptr(), name, v, pxat, at),
                (None, _) => call(
                    ctx,
                    c"SET".as_ptr(),
                    c"!sbsl".as_ptr(),
                    name,
                    bytes.as_ptr().cast::<c_char>(),
                    bytes.len(),
                    pxat,
                    at,
                ),
            }
        },
    };
    if !reply.succeeded() {
        return false;
    }
    // SET or INCRBY has signalled the key and sent its own event; the `ratelimit`
    // event is sent in both modes, so that subscribers need not know how state is
    // stored.
    // SAFETY: API call on the command's context with a static C string.
    unsafe {
        raw::RedisModule_NotifyKeyspaceEvent.unwrap()(
            ctx,
            raw::REDISMODULE_NOTIFY_STRING as c_int,
            c"ratelimit".as_ptr(),
            name,
        );
    }
    true
}

/// How a single-key command reads its arguments.
type Parser = for<'a> fn(&[&'a [u8]]) -> Result<args::Request<'a>, ArgError>;

/// The body shared by every single-key command: parse, open the key, decide, store
/// when allowed. Returns the outcome to reply with, or `None` after replying with an
/// error. Only `RATELIMIT.PEEK` opens the key read-only and never writes.
fn one_key(ctx: Ctx, argv: &[RString], command: Command, parse: Parser) -> Option<Outcome> {
    let write = command != Command::Peek;
    let parsed = with_args(argv.get(1..).unwrap_or(&[]), |args| {
        parse(args).map(|r| (r.limit, r.options))
    });
    let (limit, options) = match parsed {
        Ok(p) => p,
        Err(e) => {
            stats::error(command);
            reply_arg_error(ctx, e);
            return None;
        }
    };
    let name = argv[1];
    let Ok(slot) = Slot::open(ctx, name, write, options.algorithm) else {
        stats::refused(command, options.algorithm);
        reply_error(ctx, WRONGTYPE);
        return None;
    };
    let Ok(stored) = slot.state() else {
        stats::refused(command, options.algorithm);
        reply_error(ctx, WRONGTYPE);
        return None;
    };
    let decided: Result<(Outcome, Option<Update>), Refusal> = if write {
        algorithm::decide(stored, limit, &options, now()).map(|d| (d.outcome, d.update))
    } else {
        algorithm::peek(stored, limit, &options, now()).map(|o| (o, None))
    };
    let (outcome, update) = match decided {
        Ok(d) => d,
        Err(refusal) => {
            stats::refused(command, options.algorithm);
            reply_refusal(ctx, refusal);
            return None;
        }
    };
    if let Some(update) = &update {
        if !slot.store(ctx, name, update) {
            stats::refused(command, options.algorithm);
            reply_error(ctx, WRITE_FAILED);
            return None;
        }
    }
    stats::decided(command, options.algorithm, outcome.allowed);
    Some(outcome)
}

/// `RATELIMIT.CHECK` (write) and `RATELIMIT.PEEK` (read-only).
pub fn check(ctx: Ctx, argv: &[RString], command: Command) {
    if let Some(outcome) = one_key(ctx, argv, command, args::parse_check) {
        reply_outcome(ctx, &outcome);
    }
}

/// `CL.THROTTLE`, registered with `CELL-COMPAT yes`: redis-cell's arguments and reply
/// (always an array, as redis-cell sends), computed by our GCRA.
pub fn throttle(ctx: Ctx, argv: &[RString], command: Command) {
    if let Some(outcome) = one_key(ctx, argv, command, cell::parse_throttle) {
        // SAFETY: reply calls on the command's context.
        unsafe {
            raw::RedisModule_ReplyWithArray.unwrap()(ctx, 5);
            for value in cell::reply(&outcome) {
                raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, value);
            }
        }
    }
}

/// True when Redis calls a getkeys-api command only to learn its key positions.
fn keys_position_request(ctx: Ctx) -> bool {
    // SAFETY: plain API call on the command's context.
    unsafe { raw::RedisModule_IsKeysPositionRequest.is_some_and(|f| f(ctx) != 0) }
}

/// Tells Redis where MCHECK's keys are (for ACL, Cluster and `COMMAND GETKEYS` on
/// servers without key specs, and as their fallback).
fn declare_mcheck_keys(ctx: Ctx, argv: &[RString]) {
    let flags = (raw::REDISMODULE_CMD_KEY_RW
        | raw::REDISMODULE_CMD_KEY_ACCESS
        | raw::REDISMODULE_CMD_KEY_UPDATE) as c_int;
    with_args(argv, |line| {
        for pos in args::mcheck_key_positions(line) {
            let pos = pos as c_int;
            // SAFETY: plain API calls on the command's context, positions within argv.
            unsafe {
                if let Some(with_flags) = raw::RedisModule_KeyAtPosWithFlags {
                    with_flags(ctx, pos, flags);
                } else {
                    raw::RedisModule_KeyAtPos.unwrap()(ctx, pos);
                }
            }
        }
    });
}

/// `RATELIMIT.MCHECK`: the request counts against every limit only if all allow it.
/// Every key is opened once; nothing is written unless every limit allowed, and then
/// each key is stored and replicated in turn, within this one command, which Redis
/// sends to replicas and the AOF as one MULTI/EXEC.
pub fn mcheck(ctx: Ctx, argv: &[RString], command: Command) {
    if keys_position_request(ctx) {
        return declare_mcheck_keys(ctx, argv);
    }
    let parsed = with_args(argv.get(1..).unwrap_or(&[]), args::parse_mcheck);
    let args::MultiRequest { limits, options } = match parsed {
        Ok(p) => p,
        Err(e) => {
            stats::error(command);
            return reply_arg_error(ctx, e);
        }
    };
    // parse_mcheck checked that argv holds numlimits triples after argv[1]: limit i
    // belongs to the key at argv[2 + 3i].
    let name = |i: usize| argv[2 + 3 * i];
    let Ok(keys) = (0..limits.len())
        .map(|i| Slot::open(ctx, name(i), true, options.algorithm))
        .collect::<Result<Vec<Slot>, ()>>()
    else {
        stats::refused(command, options.algorithm);
        return reply_error(ctx, WRONGTYPE);
    };
    let Ok(stored) = keys.iter().map(Slot::state).collect::<Result<Vec<_>, ()>>() else {
        stats::refused(command, options.algorithm);
        return reply_error(ctx, WRONGTYPE);
    };
    let decided = algorithm::decide_all(&stored, &limits, &options, now());
    // The stored states point into the keys' values, which the writes below replace.
    drop(stored);
    let joint = match decided {
        Ok(j) => j,
        Err(refusal) => {
            stats::refused(command, options.algorithm);
            return reply_refusal(ctx, refusal);
        }
    };
    for (i, (key, update)) in keys.iter().zip(&joint.updates).enumerate() {
        if let Some(update) = update {
            if !key.store(ctx, name(i), update) {
                stats::refused(command, options.algorithm);
                return reply_error(ctx, WRITE_FAILED);
            }
        }
    }
    drop(keys);
    stats::decided(command, options.algorithm, joint.allowed);
    // SAFETY: reply calls on the command's context.
    unsafe {
        raw::RedisModule_ReplyWithArray.unwrap()(
            ctx,
            1 + joint.outcomes.len() as std::os::raw::c_long,
        );
        raw::RedisModule_ReplyWithLongLong.unwrap()(ctx, c_longlong::from(joint.allowed));
    }
    for outcome in &joint.outcomes {
        reply_outcome(ctx, outcome);
    }
}

/// `RATELIMIT.CRASHTEST` (feature `crash-test` only): panics halfway through a
/// command, after opening a key, to prove that the guard turns a panic into an error
/// reply, closes the key and leaves the server serving.
#[cfg(feature = "crash-test")]
pub fn crash_test(ctx: Ctx, argv: &[RString], _command: Command) {
    let _key = argv.get(1).map(|&name| Key::open(ctx, name, false));
    let depth = argv.len();
    panic!("RATELIMIT.CRASHTEST panics on purpose (argc {depth})");
}
