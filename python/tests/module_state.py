"""The module's binary state form (``src/state.rs``), read and written by the tests
that hold the local fallback against the module: a tag byte, then little-endian
fields. Test code only: the package never reads the module's keys."""

from __future__ import annotations

from typing import Optional

from redis_ratelimit.local import State

TAGS = {0xA1: "fixed", 0xA2: "sliding", 0xA3: "gcra", 0xA4: "log"}


def _u48(b: bytes) -> int:
    return int.from_bytes(b[:6], "little")


def _varint(b: bytes) -> tuple[int, bytes]:
    value = 0
    for i, byte in enumerate(b):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, b[i + 1 :]
    raise ValueError("truncated varint")


def _write_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        low, v = v & 0x7F, v >> 7
        if v == 0:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def decode(raw: bytes) -> tuple[str, State]:
    algorithm, body = TAGS[raw[0]], raw[1:]
    if algorithm == "fixed":
        return algorithm, (_u48(body), _u48(body[6:]))
    if algorithm == "sliding":
        prev, rest = _varint(body[6:])
        cur, _ = _varint(rest)
        return algorithm, (_u48(body), prev, cur)
    if algorithm == "gcra":
        return algorithm, int.from_bytes(body[:8], "little")
    return algorithm, tuple(_u48(body[i : i + 6]) for i in range(0, len(body), 6))


def encode(algorithm: str, state: State) -> bytes:
    u48 = lambda v: int(v).to_bytes(6, "little")  # noqa: E731
    if algorithm == "fixed":
        start, count = state  # type: ignore[misc]
        return b"\xa1" + u48(start) + u48(count)
    if algorithm == "sliding":
        start, prev, cur = state  # type: ignore[misc]
        return b"\xa2" + u48(start) + _write_varint(prev) + _write_varint(cur)
    if algorithm == "gcra":
        return b"\xa3" + int(state).to_bytes(8, "little")  # type: ignore[arg-type]
    return b"\xa4" + b"".join(u48(t) for t in state)  # type: ignore[union-attr]


def shifted(algorithm: str, state: State, ms: int) -> State:
    """The state as it will look ``ms`` later: every timestamp moved ``ms`` earlier."""
    if algorithm == "fixed":
        start, count = state  # type: ignore[misc]
        return (start - ms, count)
    if algorithm == "sliding":
        start, prev, cur = state  # type: ignore[misc]
        return (start - ms, prev, cur)
    if algorithm == "gcra":
        return int(state) - ms * 1_000_000  # type: ignore[arg-type]
    return tuple(t - ms for t in state)  # type: ignore[union-attr]


def read(client: object, key: str) -> Optional[tuple[str, State, int]]:
    """(algorithm, state, expiry in Unix ms) of a key, ``None`` if it is missing."""
    raw = client.get(key)  # type: ignore[attr-defined]
    if raw is None:
        return None
    expiry = int(client.execute_command("PEXPIRETIME", key))  # type: ignore[attr-defined]
    algorithm, state = decode(raw)
    return algorithm, state, expiry
