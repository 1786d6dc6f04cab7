//! A key opened through the key API for one command, closed when dropped.

use std::os::raw::{c_int, c_longlong};
use std::ptr;
use std::slice;

use redis_module::raw;

use super::{server_ms, Ctx, RString};

const OK: c_int = raw::REDISMODULE_OK as c_int;

/// What a key holds, as far as the module cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Empty,
    String,
    Other,
}

pub struct Key {
    ptr: *mut raw::RedisModuleKey,
}

impl Key {
    /// Opens `name` for reading, and for writing when `write`.
    pub fn open(ctx: Ctx, name: RString, write: bool) -> Key {
        let mode = if write {
            raw::REDISMODULE_READ | raw::REDISMODULE_WRITE
        } else {
            raw::REDISMODULE_READ
        };
        // SAFETY: the command's context and argument.
        let ptr = unsafe { raw::RedisModule_OpenKey.unwrap()(ctx.raw(), name.0, mode as c_int) };
        Key { ptr }
    }

    /// Opens a key to look at its type and expiry only, before reading its value with
    /// a command. Where the server can (Redis 7.2+, Valkey), the look is left out of
    /// the keyspace hit and miss counters, so that only the command counts.
    pub fn probe(ctx: Ctx, name: RString) -> Key {
        let mut mode = raw::REDISMODULE_READ;
        // SAFETY: plain API calls with the command's context and argument.
        let ptr = unsafe {
            if let Some(modes) = raw::RedisModule_GetOpenKeyModesAll {
                mode |= modes() as u32 & raw::REDISMODULE_OPEN_KEY_NOSTATS;
            }
            raw::RedisModule_OpenKey.unwrap()(ctx.raw(), name.0, mode as c_int)
        };
        Key { ptr }
    }

    pub fn kind(&self) -> Kind {
        if self.ptr.is_null() {
            return Kind::Empty;
        }
        // SAFETY: an open key.
        let kind = unsafe { raw::RedisModule_KeyType.unwrap()(self.ptr) };
        if kind == raw::REDISMODULE_KEYTYPE_EMPTY as c_int {
            Kind::Empty
        } else if kind == raw::REDISMODULE_KEYTYPE_STRING as c_int {
            Kind::String
        } else {
            Kind::Other
        }
    }

    /// The stored string: `Ok(None)` for a missing key, `Err(kind)` for another type.
    /// The slice stays valid until the key is written or closed, which borrowing the
    /// key prevents.
    pub fn value(&self) -> Result<Option<&[u8]>, Kind> {
        match self.kind() {
            Kind::Empty => return Ok(None),
            Kind::String => {}
            other => return Err(other),
        }
        let mut len = 0usize;
        // SAFETY: the key holds a string; DMA in read mode returns its bytes.
        let p = unsafe {
            raw::RedisModule_StringDMA.unwrap()(self.ptr, &mut len, raw::REDISMODULE_READ as c_int)
        };
        if p.is_null() {
            return Err(Kind::Other);
        }
        // SAFETY: DMA returns `len` readable bytes, valid until the key changes.
        Ok(Some(unsafe { slice::from_raw_parts(p.cast::<u8>(), len) }))
    }

    /// Replaces the value with `bytes`, in place when the length is unchanged, and
    /// returns false if Redis refused (which an open-for-write string key never does).
    pub fn write(&self, bytes: &[u8]) -> bool {
        let mut len = 0usize;
        // SAFETY: the key is open for writing; the DMA pointer is used at once, for at
        // most `len` bytes, which truncate made equal to bytes.len().
        unsafe {
            let dma = raw::RedisModule_StringDMA.unwrap();
            let mut p = dma(self.ptr, &mut len, raw::REDISMODULE_WRITE as c_int);
            if p.is_null() || len != bytes.len() {
                if raw::RedisModule_StringTruncate.unwrap()(self.ptr, bytes.len()) != OK {
                    return false;
                }
                p = dma(self.ptr, &mut len, raw::REDISMODULE_WRITE as c_int);
                if p.is_null() || len != bytes.len() {
                    return false;
                }
            }
            ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), len);
        }
        true
    }

    /// Deletes the key (open for writing); false if Redis refused.
    pub fn delete(&self) -> bool {
        // SAFETY: the key is open for writing.
        unsafe { raw::RedisModule_DeleteKey.unwrap()(self.ptr) == OK }
    }

    /// Sets the key to expire at `at_ms` (Unix ms). Redis 7.0 and later take the
    /// absolute time as is; 6.2 has only a relative expiry, computed from its clock.
    pub fn expire_at(&self, at_ms: u64) {
        let at = c_longlong::try_from(at_ms).unwrap_or(c_longlong::MAX);
        // SAFETY: the key is open for writing and holds a value.
        unsafe {
            if let Some(set_abs) = raw::RedisModule_SetAbsExpire {
                set_abs(self.ptr, at);
            } else {
                raw::RedisModule_SetExpire.unwrap()(
                    self.ptr,
                    at.saturating_sub(server_ms()).max(1),
                );
            }
        }
    }

    /// The key's absolute expiry (Unix ms), `None` if it has none. Redis 7.0 and later
    /// give it as is; 6.2 only gives the time left, so the expiry is computed from the
    /// clock read *after* it: a millisecond tick in between makes it later, never
    /// earlier, and a later expiry only makes a compact state more conservative.
    pub fn expiry(&self) -> Option<u64> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: an open key.
        let at = unsafe {
            if let Some(get_abs) = raw::RedisModule_GetAbsExpire {
                get_abs(self.ptr)
            } else {
                let left = raw::RedisModule_GetExpire.unwrap()(self.ptr);
                if left < 0 {
                    left
                } else {
                    server_ms().saturating_add(left)
                }
            }
        };
        u64::try_from(at).ok()
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: the key was opened by `open` or `probe` and is closed exactly once.
            unsafe { raw::RedisModule_CloseKey.unwrap()(self.ptr) };
        }
    }
}
