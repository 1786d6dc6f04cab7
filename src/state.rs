//! Limiter state <-> the bytes stored in the key's string value.
//!
//! Layout: one tag byte, then fixed-width little-endian fields. The tag bytes
//! (0xA1..=0xA4) are UTF-8 continuation bytes, so no valid UTF-8 text can be taken for
//! binary limiter state: a key holding ordinary text gets `WRONGTYPE`, never a
//! reinterpretation (the one exception is the compact form below: integers in a
//! reserved range that no counter reaches). Fields are 48-bit where that is enough
//! (milliseconds until the year 10889, counts up to 2.8e14, both far beyond the
//! accepted bounds), which keeps
//! FIXED at 13 bytes: a string that short fits the allocator's 16-byte class. SLIDING
//! writes its two counts as varints so that it, too, fits there (14 bytes or fewer)
//! while both counts are below 2^21.
//!
//! | algorithm | bytes | fields                                            |
//! |-----------|-------|---------------------------------------------------|
//! | FIXED     | 13    | tag, window start ms (u48), count (u48)           |
//! | SLIDING   | 9-21  | tag, window start ms (u48), previous, current (LEB128 varints) |
//! | GCRA      | 9     | tag, theoretical arrival time ns (u64)            |
//! | LOG       | 1+6n  | tag, n request timestamps ms (u48), oldest first  |
//!
//! **Compact form** (`COMPACT-STATE yes` / `ratelimit.compact-state`): FIXED and GCRA
//! state packed into one 64-bit integer, stored as its decimal text, which Redis keeps
//! int-encoded: a 16-byte object and no allocation, where the binary form above costs
//! a 16-byte object plus a 16-byte allocation. 64 bits cannot hold a 48-bit timestamp and a
//! count, so the integer holds the state *relative to the key's expiry*, which the
//! algorithms set to the moment the state is full again and which Redis keeps anyway:
//!
//! | bits   | FIXED                              | GCRA                              |
//! |--------|------------------------------------|-----------------------------------|
//! | 63..56 | tag 0xA1                           | tag 0xA3                          |
//! | 55..0  | expiry - window start (ms, 32 bits), count (24 bits) | expiry * 10^6 - TAT (ns) |
//!
//! The tag's high bit makes every compact value a negative number below -6.6e18,
//! which no counter reaches. A state that does not fit (a window over 49
//! days, a count over 16,777,215) is written in the binary form instead, and both
//! forms are read in either mode.
//!
//! Pure: no Redis types, so it is unit-tested and fuzzed without a server.

use crate::args::Algorithm;

const TAG_FIXED: u8 = 0xA1;
const TAG_SLIDING: u8 = 0xA2;
const TAG_GCRA: u8 = 0xA3;
const TAG_LOG: u8 = 0xA4;

/// Largest value a 48-bit field holds.
pub const U48_MAX: u64 = (1 << 48) - 1;

/// Bytes of one LOG entry.
pub const LOG_ENTRY: usize = 6;

/// Decoded limiter state. LOG borrows its entries from the stored bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State<'a> {
    Fixed { start_ms: u64, count: u64 },
    Sliding { start_ms: u64, prev: u64, cur: u64 },
    Gcra { tat_ns: u64 },
    Log(LogEntries<'a>),
}

impl State<'_> {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            State::Fixed { .. } => Algorithm::Fixed,
            State::Sliding { .. } => Algorithm::Sliding,
            State::Gcra { .. } => Algorithm::Gcra,
            State::Log(_) => Algorithm::Log,
        }
    }
}

/// LOG entries: request timestamps in milliseconds, oldest first, 6 bytes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntries<'a> {
    bytes: &'a [u8],
}

impl<'a> LogEntries<'a> {
    pub fn len(&self) -> usize {
        self.bytes.len() / LOG_ENTRY
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn get(&self, i: usize) -> u64 {
        read_u48(&self.bytes[i * LOG_ENTRY..])
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u64> + ExactSizeIterator + Clone + 'a {
        self.bytes.chunks_exact(LOG_ENTRY).map(read_u48)
    }
}

/// The stored value is not this module's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotState;

fn read_u48(b: &[u8]) -> u64 {
    let mut le = [0u8; 8];
    le[..6].copy_from_slice(&b[..6]);
    u64::from_le_bytes(le)
}

/// Writes the low 48 bits; larger values (a clock past the year 10889) saturate.
fn write_u48(out: &mut [u8], v: u64) {
    out[..6].copy_from_slice(&v.min(U48_MAX).to_le_bytes()[..6]);
}

/// Decodes stored bytes in the binary form only (a compact value needs its key's
/// expiry: see `decode_with`). Anything but an exact, well-formed state is `NotState`.
pub fn decode(bytes: &[u8]) -> Result<State<'_>, NotState> {
    decode_with(bytes, || None)
}

/// Decodes stored bytes in either form. `expire_at_ms` gives the key's absolute expiry
/// (Unix ms, `None` if it has none); it is asked for only when the value is in the
/// compact form, so reading the binary form costs no extra lookup.
pub fn decode_with(
    bytes: &[u8],
    expire_at_ms: impl FnOnce() -> Option<u64>,
) -> Result<State<'_>, NotState> {
    if bytes.first() == Some(&b'-') {
        return decode_compact(parse_i64(bytes)?, expire_at_ms().ok_or(NotState)?);
    }
    let (&tag, body) = bytes.split_first().ok_or(NotState)?;
    match (tag, body.len()) {
        (TAG_FIXED, 12) => Ok(State::Fixed {
            start_ms: read_u48(body),
            count: read_u48(&body[6..]),
        }),
        (TAG_SLIDING, 8..=20) => {
            let (prev, rest) = read_varint(&body[6..])?;
            let (cur, rest) = read_varint(rest)?;
            if !rest.is_empty() {
                return Err(NotState);
            }
            Ok(State::Sliding {
                start_ms: read_u48(body),
                prev,
                cur,
            })
        }
        (TAG_GCRA, 8) => Ok(State::Gcra {
            tat_ns: u64::from_le_bytes(body.try_into().map_err(|_| NotState)?),
        }),
        (TAG_LOG, n) if n % LOG_ENTRY == 0 => {
            let entries = LogEntries { bytes: body };
            // Entries are kept oldest first. Only the ends are checked: a call reads
            // O(log n) entries (a binary search, in the module and in the script
            // library alike), and walking all of them on every call would cost what
            // the search saves. A value whose middle was rearranged by hand is read
            // as it is, with the same bounded arithmetic.
            match (
                entries.len(),
                entries.iter().next(),
                entries.iter().next_back(),
            ) {
                (0, ..) => Ok(State::Log(entries)),
                (_, Some(first), Some(last)) if first <= last => Ok(State::Log(entries)),
                _ => Err(NotState),
            }
        }
        _ => Err(NotState),
    }
}

/// Encoded state of the constant-size algorithms, built on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    buf: [u8; 21],
    len: u8,
}

impl Encoded {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

pub fn encode_fixed(start_ms: u64, count: u64) -> Encoded {
    let mut buf = [0u8; 21];
    buf[0] = TAG_FIXED;
    write_u48(&mut buf[1..], start_ms);
    write_u48(&mut buf[7..], count);
    Encoded { buf, len: 13 }
}

pub fn encode_sliding(start_ms: u64, prev: u64, cur: u64) -> Encoded {
    let mut buf = [0u8; 21];
    buf[0] = TAG_SLIDING;
    write_u48(&mut buf[1..], start_ms);
    let mut at = 7;
    at += write_varint(&mut buf[at..], prev);
    at += write_varint(&mut buf[at..], cur);
    Encoded { buf, len: at as u8 }
}

/// LEB128: 7 bits a byte, low bits first, high bit set on all but the last byte.
/// Values are capped at 48 bits, so a varint takes at most 7 bytes.
fn write_varint(out: &mut [u8], v: u64) -> usize {
    let mut v = v.min(U48_MAX);
    let mut n = 0;
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[n] = low;
            return n + 1;
        }
        out[n] = low | 0x80;
        n += 1;
    }
}

/// Reads one canonical varint (no redundant trailing zero bytes, at most 48 bits).
fn read_varint(b: &[u8]) -> Result<(u64, &[u8]), NotState> {
    let mut v: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(7) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let canonical = i == 0 || byte != 0;
            return if canonical && v <= U48_MAX {
                Ok((v, &b[i + 1..]))
            } else {
                Err(NotState)
            };
        }
    }
    Err(NotState)
}

pub fn encode_gcra(tat_ns: u64) -> Encoded {
    let mut buf = [0u8; 21];
    buf[0] = TAG_GCRA;
    buf[1..9].copy_from_slice(&tat_ns.to_le_bytes());
    Encoded { buf, len: 9 }
}

const COMPACT_TAG_SHIFT: u32 = 56;
const COMPACT_PAYLOAD: u64 = (1 << COMPACT_TAG_SHIFT) - 1;
const COMPACT_COUNT_BITS: u32 = 24;
const COMPACT_COUNT_MAX: u64 = (1 << COMPACT_COUNT_BITS) - 1;
const COMPACT_SPAN_MAX: u64 = (1 << 32) - 1;
const NS_PER_MS: u64 = 1_000_000;

/// The compact form of a binary FIXED or GCRA value that expires at `expire_at_ms`,
/// or `None` when the state has no compact form (another algorithm, or values out of
/// the compact ranges): such a state is stored in the binary form.
pub fn compact(bytes: &[u8], expire_at_ms: u64) -> Option<i64> {
    let (tag, payload) = match decode(bytes).ok()? {
        State::Fixed { start_ms, count } => {
            let span = expire_at_ms.checked_sub(start_ms)?;
            if span > COMPACT_SPAN_MAX || count > COMPACT_COUNT_MAX {
                return None;
            }
            (TAG_FIXED, (span << COMPACT_COUNT_BITS) | count)
        }
        State::Gcra { tat_ns } => {
            let before = expire_at_ms.checked_mul(NS_PER_MS)?.checked_sub(tat_ns)?;
            if before > COMPACT_PAYLOAD {
                return None;
            }
            (TAG_GCRA, before)
        }
        State::Sliding { .. } | State::Log(_) => return None,
    };
    // Reinterpreting the bits: the tag's high bit makes the number negative.
    Some(((u64::from(tag) << COMPACT_TAG_SHIFT) | payload) as i64)
}

/// The integer of a value stored in the compact form (its tag is not checked).
pub fn compact_value(bytes: &[u8]) -> Option<i64> {
    if bytes.first() == Some(&b'-') {
        parse_i64(bytes).ok()
    } else {
        None
    }
}

fn decode_compact(value: i64, expire_at_ms: u64) -> Result<State<'static>, NotState> {
    let bits = value as u64;
    let payload = bits & COMPACT_PAYLOAD;
    match (bits >> COMPACT_TAG_SHIFT) as u8 {
        TAG_FIXED => Ok(State::Fixed {
            // The binary form's 48 bits bound the start in both forms, so a state
            // converts between them without loss.
            start_ms: expire_at_ms
                .checked_sub(payload >> COMPACT_COUNT_BITS)
                .filter(|&start| start <= U48_MAX)
                .ok_or(NotState)?,
            count: payload & COMPACT_COUNT_MAX,
        }),
        TAG_GCRA => Ok(State::Gcra {
            tat_ns: expire_at_ms
                .checked_mul(NS_PER_MS)
                .and_then(|ns| ns.checked_sub(payload))
                .ok_or(NotState)?,
        }),
        _ => Err(NotState),
    }
}

/// Parses the canonical decimal text of an `i64`, the only text Redis produces for an
/// int-encoded string: no sign but `-`, no leading zeros, no `-0`.
fn parse_i64(bytes: &[u8]) -> Result<i64, NotState> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let canonical = match digits {
        [] => false,
        [b'0'] => !negative,
        [first, ..] => *first != b'0',
    };
    if !canonical || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(NotState);
    }
    let magnitude = digits
        .iter()
        .try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(NotState)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude).ok_or(NotState)
    } else {
        i64::try_from(magnitude).map_err(|_| NotState)
    }
}

/// Length of a LOG value holding `n` entries.
pub fn log_len(n: usize) -> usize {
    1 + n * LOG_ENTRY
}

/// Writes a LOG value into `out` (exactly `log_len(n)` bytes): the tag, the `kept`
/// entries in order, then `added` copies of `now_ms`.
pub fn encode_log_into(out: &mut [u8], kept: impl Iterator<Item = u64>, added: usize, now_ms: u64) {
    out[0] = TAG_LOG;
    let mut at = 1;
    for ts in kept.chain(std::iter::repeat_n(now_ms, added)) {
        write_u48(&mut out[at..], ts);
        at += LOG_ENTRY;
    }
    debug_assert_eq!(at, out.len());
}

#[cfg(test)]
mod tests;
