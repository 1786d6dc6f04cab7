"""The module's state as the limits storage reads it (``_state``), against a plain
reading of the same bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from redis_ratelimit import _state

BASE = 1_000_000


def plain(raw: bytes, limit: int, expiry_s: float, now_s: float) -> tuple[float, int]:
    since = now_s * 1000 - round(expiry_s * 1000)
    entries = [int.from_bytes(raw[i : i + 6], "little") for i in range(1, len(raw), 6)]
    live = [e for e in entries if e > since][-limit:]
    return (now_s, 0) if not live else (live[0] / 1000, len(live))


@given(
    entries=st.lists(st.integers(BASE, BASE + 100), max_size=40).map(sorted),
    limit=st.integers(1, 50),
    expiry_ms=st.integers(1, 100),
    now=st.integers(BASE, BASE + 200),
)
def test_the_moving_window_is_the_newest_live_entries(
    entries: list[int], limit: int, expiry_ms: int, now: int
) -> None:
    raw = b"\xa4" + b"".join(e.to_bytes(6, "little") for e in entries)
    args = (raw, limit, expiry_ms / 1000, now / 1000)
    assert _state.moving_window(*args) == plain(*args)


def test_a_fixed_count_and_the_forms_left_to_the_server() -> None:
    assert _state.fixed_count(None) == 0
    value = b"\xa1" + (123).to_bytes(6, "little") + (7).to_bytes(6, "little")
    assert _state.fixed_count(value) == 7
    assert _state.fixed_count(b"-7277816997830721536") is None  # the compact form


def test_a_sliding_window_rolls_forward_with_the_clock() -> None:
    start = 10_000
    value = b"\xa2" + start.to_bytes(6, "little") + bytes([3, 2])
    assert _state.sliding_window(value, 1.0, 10.5) == (3, 0.5, 2, 1.5)
    assert _state.sliding_window(value, 1.0, 11.25) == (2, 0.75, 0, 0.0)
    assert _state.sliding_window(value, 1.0, 12.0) == (0, 0.0, 0, 0.0)
    assert _state.sliding_window(None, 1.0, 12.0) == (0, 0.0, 0, 0.0)
