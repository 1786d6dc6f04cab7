//! Native commands run through `RM_Call`: the compact state's `GET`, `SET .. PXAT` and
//! `INCRBY`, the only paths on which Redis keeps an integer value int-encoded, and
//! `DEL` when a refund leaves nothing.

use std::os::raw::{c_char, c_int, c_longlong};
use std::ptr;
use std::slice;
use std::sync::atomic::Ordering;

use redis_module::raw;

use super::{ll, Ctx, RString, PXAT};

/// A reply from `RM_Call`, freed when dropped.
pub struct CallReply {
    ptr: *mut raw::RedisModuleCallReply,
}

impl CallReply {
    fn kind(&self) -> Option<c_int> {
        // SAFETY: a live reply.
        (!self.ptr.is_null()).then(|| unsafe { raw::RedisModule_CallReplyType.unwrap()(self.ptr) })
    }

    /// The reply's bytes if it is a string, `None` for anything else (null, error).
    pub fn string(&self) -> Option<&[u8]> {
        if self.kind()? != raw::REDISMODULE_REPLY_STRING as c_int {
            return None;
        }
        let mut len = 0usize;
        // SAFETY: a live string reply; its pointer and length stay valid until the
        // reply is freed, which borrowing `self` prevents.
        unsafe {
            let p = raw::RedisModule_CallReplyStringPtr.unwrap()(self.ptr, &mut len);
            if p.is_null() || len == 0 {
                return Some(&[]);
            }
            Some(slice::from_raw_parts(p.cast::<u8>(), len))
        }
    }

    /// True for a null reply (`GET` of a missing key).
    pub fn is_null(&self) -> bool {
        self.kind() == Some(raw::REDISMODULE_REPLY_NULL as c_int)
    }

    /// True unless the call failed or replied with an error.
    pub fn succeeded(&self) -> bool {
        self.kind()
            .is_some_and(|k| k != raw::REDISMODULE_REPLY_ERROR as c_int)
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

impl Ctx {
    /// `GET name`. The key must not be open in this module (RM_Call's rule).
    pub fn call_get(self, name: RString) -> CallReply {
        // SAFETY: the format "s" matches the one module string that follows it.
        let ptr = unsafe {
            raw::RedisModule_Call.unwrap()(self.raw(), c"GET".as_ptr(), c"s".as_ptr(), name.0)
        };
        CallReply { ptr }
    }

    /// `DEL name`, replicated as it ran (`!`).
    pub fn call_del(self, name: RString) -> CallReply {
        // SAFETY: the format matches the one module string that follows it.
        let ptr = unsafe {
            raw::RedisModule_Call.unwrap()(self.raw(), c"DEL".as_ptr(), c"!s".as_ptr(), name.0)
        };
        CallReply { ptr }
    }

    /// `INCRBY name delta`, replicated as it ran (`!`).
    pub fn call_incrby(self, name: RString, delta: i64) -> CallReply {
        // SAFETY: the format matches the module string and long long that follow.
        let ptr = unsafe {
            raw::RedisModule_Call.unwrap()(
                self.raw(),
                c"INCRBY".as_ptr(),
                c"!sl".as_ptr(),
                name.0,
                delta,
            )
        };
        CallReply { ptr }
    }

    /// `SET name <integer> PXAT at_ms`, replicated as it ran: Redis stores the value
    /// int-encoded.
    pub fn call_set_int_pxat(self, name: RString, value: i64, at_ms: u64) -> CallReply {
        let pxat = PXAT.load(Ordering::Relaxed);
        if pxat.is_null() {
            return CallReply {
                ptr: ptr::null_mut(),
            };
        }
        let at: c_longlong = ll(at_ms);
        // SAFETY: the format matches what follows: a module string, a long long, the
        // live shared "PXAT" string (checked non-null) and a long long.
        let ptr = unsafe {
            raw::RedisModule_Call.unwrap()(
                self.raw(),
                c"SET".as_ptr(),
                c"!slsl".as_ptr(),
                name.0,
                value,
                pxat,
                at,
            )
        };
        CallReply { ptr }
    }

    /// `SET name <bytes> PXAT at_ms`, replicated as it ran.
    pub fn call_set_bytes_pxat(self, name: RString, value: &[u8], at_ms: u64) -> CallReply {
        let pxat = PXAT.load(Ordering::Relaxed);
        if pxat.is_null() {
            return CallReply {
                ptr: ptr::null_mut(),
            };
        }
        // SAFETY: the format matches what follows: a module string, a pointer and a
        // length, the live shared "PXAT" string (checked non-null) and a long long.
        let ptr = unsafe {
            raw::RedisModule_Call.unwrap()(
                self.raw(),
                c"SET".as_ptr(),
                c"!sbsl".as_ptr(),
                name.0,
                value.as_ptr().cast::<c_char>(),
                value.len(),
                pxat,
                ll(at_ms),
            )
        };
        CallReply { ptr }
    }
}
