//! The two ways a key's state is read and written.
//!
//! - **Direct** (the default, and always for SLIDING and LOG): the key API. One open,
//!   the value read by DMA, written in place, its absolute expiry set, and the effect
//!   replicated as one `SET key value PXAT ms` (or `DEL key`, when a refund leaves
//!   nothing counted).
//! - **Called** (`COMPACT-STATE yes`, FIXED and GCRA): native commands through
//!   `RM_Call`, the only paths on which Redis keeps an integer value int-encoded (DMA
//!   turns it into a raw string even to read it): `GET`, then `SET .. PXAT` or
//!   `INCRBY`, replicated as they ran. See `docs/compact-state.md`.

use std::sync::atomic::{AtomicBool, Ordering};

use super::wrap::{CallReply, Ctx, Key, Kind, RString};
use crate::algorithm::{Update, Value};
use crate::args::Algorithm;
use crate::failure::Failure;
use crate::state;

/// `COMPACT-STATE yes`: set at load, and by `CONFIG SET ratelimit.compact-state`; each
/// command reads it once per key it opens, and either value reads both forms.
static COMPACT_STATE: AtomicBool = AtomicBool::new(false);

/// Called at load with the `COMPACT-STATE` load argument, and by the config.
pub fn set_compact_state(on: bool) {
    COMPACT_STATE.store(on, Ordering::Relaxed);
}

/// Whether FIXED and GCRA state is written in the compact form.
pub fn compact_state() -> bool {
    COMPACT_STATE.load(Ordering::Relaxed)
}

/// One key as a command reads and writes it.
pub enum Slot {
    Direct(Key),
    /// `value` is `None` for a missing key.
    Called {
        value: Option<CallReply>,
        expiry: Option<u64>,
    },
}

impl Slot {
    /// Opens `name` for an `algorithm` call; `WrongType` when it holds another type.
    pub fn open(
        ctx: Ctx,
        name: RString,
        write: bool,
        algorithm: Algorithm,
    ) -> Result<Slot, Failure> {
        let compact = matches!(algorithm, Algorithm::Fixed | Algorithm::Gcra) && compact_state();
        if !compact {
            return Ok(Slot::Direct(Key::open(ctx, name, write)));
        }
        let missing = Slot::Called {
            value: None,
            expiry: None,
        };
        let key = Key::probe(ctx, name);
        match key.kind() {
            Kind::Empty => return Ok(missing),
            Kind::String => {}
            Kind::Other => return Err(Failure::WrongType),
        }
        let expiry = key.expiry();
        // RM_Call must not run on a key the module holds open.
        drop(key);
        let reply = ctx.call_get(name);
        if reply.string().is_some() {
            return Ok(Slot::Called {
                value: Some(reply),
                expiry,
            });
        }
        if reply.is_null() {
            // Redis before 7.2 reads the clock afresh for each lookup: the key may
            // have reached its expiry between the look above and the GET, and is gone.
            return Ok(missing);
        }
        Err(Failure::WrongType)
    }

    /// The decoded state: `Ok(None)` for a missing key, `WrongType` for a value that is
    /// not this module's state.
    pub fn state(&self) -> Result<Option<state::State<'_>>, Failure> {
        let decoded = match self {
            Slot::Direct(key) => match key.value().map_err(|_| Failure::WrongType)? {
                None => return Ok(None),
                Some(bytes) => state::decode_with(bytes, || key.expiry()),
            },
            Slot::Called { value: None, .. } => return Ok(None),
            Slot::Called {
                value: Some(reply),
                expiry,
            } => state::decode_with(reply.string().unwrap_or(&[]), || *expiry),
        };
        decoded.map(Some).map_err(|_| Failure::WrongType)
    }

    /// Stores an allowed call's update and tells the rest of Redis about it.
    pub fn store(&self, ctx: Ctx, name: RString, update: &Update) -> Result<(), Failure> {
        let stored = match self {
            Slot::Direct(key) => return store_direct(ctx, key, name, update),
            Slot::Called {
                value: Some(reply),
                expiry: Some(expiry),
            } => reply
                .string()
                .and_then(state::compact_value)
                .map(|v| (v, *expiry)),
            Slot::Called { .. } => None,
        };
        store_compact(ctx, name, update, stored)
    }
}

/// In place, then expiry, `WATCH` and client tracking, the keyspace event, and one
/// `SET key value PXAT ms` to replicas and the AOF, so that they hold the same bytes
/// and the same absolute expiry.
fn store_direct(ctx: Ctx, key: &Key, name: RString, update: &Update) -> Result<(), Failure> {
    if update.value == Value::Gone {
        if !key.delete() {
            return Err(Failure::WriteFailed);
        }
        ctx.signal_modified(name);
        ctx.notify_ratelimit(name);
        ctx.replicate_del(name);
        return Ok(());
    }
    let bytes = update.value.as_bytes();
    if !key.write(bytes) {
        return Err(Failure::WriteFailed);
    }
    key.expire_at(update.expire_at_ms);
    ctx.signal_modified(name);
    ctx.notify_ratelimit(name);
    ctx.replicate_set_pxat(name, bytes, update.expire_at_ms);
    Ok(())
}

/// Through a native command: `INCRBY key delta` when the key already holds a compact
/// value with the same expiry (the usual call within a FIXED window: the integer
/// changes in place and the expiry stays), else `SET key value PXAT ms`. States without
/// a compact form are written in the binary form, through `SET` as well. `stored` is
/// the key's compact integer and expiry.
fn store_compact(
    ctx: Ctx,
    name: RString,
    update: &Update,
    stored: Option<(i64, u64)>,
) -> Result<(), Failure> {
    if update.value == Value::Gone {
        if !ctx.call_del(name).succeeded() {
            return Err(Failure::WriteFailed);
        }
        ctx.notify_ratelimit(name);
        return Ok(());
    }
    let bytes = update.value.as_bytes();
    let at = update.expire_at_ms;
    let compact = state::compact(bytes, at);
    let delta = match (compact, stored) {
        (Some(new), Some((old, expiry))) if expiry == at => new.checked_sub(old),
        _ => None,
    };
    let reply = match (compact, delta) {
        (Some(_), Some(delta)) => ctx.call_incrby(name, delta),
        (Some(value), None) => ctx.call_set_int_pxat(name, value, at),
        (None, _) => ctx.call_set_bytes_pxat(name, bytes, at),
    };
    if !reply.succeeded() {
        return Err(Failure::WriteFailed);
    }
    // SET or INCRBY has signalled the key and sent its own event; the `ratelimit`
    // event is sent in both modes, so that subscribers need not know how state is
    // stored.
    ctx.notify_ratelimit(name);
    Ok(())
}
