"""The module's binary state (``src/state.rs``), read for the figures limits' storage
interface asks of a window without counting: a tag byte, then little-endian fields.
Pure: bytes and a clock in, numbers out.

| algorithm | fields after the tag                                     |
|-----------|----------------------------------------------------------|
| FIXED     | window start ms (u48), count (u48)                        |
| SLIDING   | window start ms (u48), previous, current (LEB128 varints) |
| LOG       | request timestamps ms (u48 each), oldest first            |
"""

from __future__ import annotations

from typing import Optional

import redis.exceptions

TAG_FIXED, TAG_SLIDING, TAG_LOG = 0xA1, 0xA2, 0xA4


def fixed_count(raw: Optional[bytes]) -> Optional[int]:
    """A FIXED key's count (0 for no key: its window ended with it), or ``None`` for
    a value in another form, which the server reads instead."""
    if raw is None:
        return 0
    if len(raw) == 13 and raw[0] == TAG_FIXED:
        return int.from_bytes(raw[7:13], "little")
    return None


def _refuse(what: str) -> redis.exceptions.ResponseError:
    return redis.exceptions.ResponseError(
        f"WRONGTYPE the key does not hold {what} state: use the same strategy or clear it"
    )


def _varint(raw: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while at < len(raw):
        byte = raw[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
    raise _refuse("SLIDING")


def sliding_window(
    raw: Optional[bytes], expiry_s: float, now_s: float
) -> tuple[int, float, int, float]:
    """limits' ``get_sliding_window``: the previous window's count and the seconds
    until it stops counting (its weight is that over the window), the current
    window's count and the seconds until it stops counting."""
    if raw is None:
        return 0, 0.0, 0, 0.0
    if len(raw) < 9 or raw[0] != TAG_SLIDING:
        raise _refuse("SLIDING")
    start = int.from_bytes(raw[1:7], "little")
    prev, at = _varint(raw, 7)
    cur, _ = _varint(raw, at)
    w = round(expiry_s * 1000)
    elapsed = max(now_s * 1000 - start, 0.0)
    if elapsed >= 2 * w:
        return 0, 0.0, 0, 0.0
    if elapsed >= w:
        prev, cur, elapsed = cur, 0, elapsed - w
    prev_ttl = (w - elapsed) / 1000 if prev else 0.0
    cur_ttl = (2 * w - elapsed) / 1000 if cur else 0.0
    return prev, prev_ttl, cur, cur_ttl


def moving_window(
    raw: Optional[bytes], limit: int, expiry_s: float, now_s: float
) -> tuple[float, int]:
    """limits' ``get_moving_window``: when the oldest of the newest ``limit`` entries
    inside the window was made, and how many there are."""
    if raw is None:
        return now_s, 0
    if raw[:1] != bytes([TAG_LOG]) or (len(raw) - 1) % 6:
        raise _refuse("LOG")
    since = now_s * 1000 - round(expiry_s * 1000)
    total = (len(raw) - 1) // 6

    def entry(i: int) -> int:
        return int.from_bytes(raw[1 + 6 * i : 7 + 6 * i], "little")

    # The entries are sorted: the first live one by binary search, then the newest
    # ``limit`` of the live ones (a log may hold more after its limit was lowered).
    lo, hi = 0, total
    while lo < hi:
        mid = (lo + hi) // 2
        if entry(mid) > since:
            hi = mid
        else:
            lo = mid + 1
    first = max(lo, total - limit)
    if first >= total:
        return now_s, 0
    return entry(first) / 1000, total - first
