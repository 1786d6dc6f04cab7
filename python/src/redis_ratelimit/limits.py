"""Limits: an amount per window, written as Flask-Limiter writes them.

``"10/minute"``, ``"10 per minute"``, ``"100/hour"``, ``"5 per 30 seconds"``, and
several at once separated by ``;`` (or ``,`` or ``|``): ``"5/second;1000/day"``. Units are
second, minute, hour, day, month (30 days) and year (360 days, as in the ``limits``
library that Flask-Limiter and slowapi use), singular or plural, plus millisecond
for windows below a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

from .bounds import MAX_LIMIT, MAX_WINDOW_MS

UNIT_MS = {
    "millisecond": 1,
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "month": 30 * 86_400_000,
    "year": 360 * 86_400_000,
}


@dataclass(frozen=True)
class Limit:
    """``amount`` units per ``window_s`` seconds (fractions of a second allowed)."""

    amount: int
    window_s: float

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError(f"Limit amount must be an int, not {type(self.amount).__name__}")
        if not 1 <= self.amount <= MAX_LIMIT:
            raise ValueError(f"Limit amount must be from 1 to {MAX_LIMIT}, not {self.amount}")
        if isinstance(self.window_s, bool) or not isinstance(self.window_s, (int, float)):
            raise TypeError(f"Limit window_s must be a number, not {type(self.window_s).__name__}")
        window_ms = round(self.window_s * 1000)
        if not 1 <= window_ms <= MAX_WINDOW_MS:
            raise ValueError(f"Limit window must be from 1 ms to 10 years, not {self.window_s} s")

    @property
    def window_ms(self) -> int:
        """The window in whole milliseconds, as the module takes it (with ``MS``)."""
        return round(self.window_s * 1000)

    def __str__(self) -> str:
        ms = self.window_ms
        for unit in ("year", "month", "day", "hour", "minute", "second"):
            size = UNIT_MS[unit]
            if ms % size == 0:
                n = ms // size
                return f"{self.amount}/{unit}" if n == 1 else f"{self.amount}/{n} {unit}s"
        return f"{self.amount}/{ms} milliseconds"


LimitSpec = Union[str, Limit, Iterable[Union[str, Limit]]]

_ONE = re.compile(
    r"""\s*(?P<amount>\d+)\s*
        (?:/|\s+per\s+)\s*
        (?P<count>\d+\s*)?
        (?P<unit>[a-z]+)\s*""",
    re.IGNORECASE | re.VERBOSE,
)


def parse_limit(text: str) -> Limit:
    """One limit from ``"10/minute"``, ``"10 per minute"`` or ``"5 per 30 seconds"``.

    Raises ``ValueError`` naming the part that is wrong.
    """
    match = _ONE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid rate limit {text!r}: expected '<amount>/<unit>' or "
            "'<amount> per [<count>] <unit>', such as '10/minute' or '5 per 30 seconds'"
        )
    unit = match["unit"].lower()
    base = UNIT_MS.get(unit[:-1] if unit.endswith("s") and unit[:-1] in UNIT_MS else unit)
    if base is None:
        raise ValueError(
            f"invalid rate limit {text!r}: unknown unit {match['unit']!r} "
            f"(use {', '.join(UNIT_MS)})"
        )
    count = int(match["count"]) if match["count"] else 1
    if count == 0:
        raise ValueError(f"invalid rate limit {text!r}: the window must not be 0")
    amount = int(match["amount"])
    if not 1 <= amount <= MAX_LIMIT:
        raise ValueError(f"invalid rate limit {text!r}: the amount must be from 1 to {MAX_LIMIT}")
    window_ms = count * base
    if window_ms > MAX_WINDOW_MS:
        raise ValueError(f"invalid rate limit {text!r}: the window is longer than 10 years")
    return Limit(amount, window_ms / 1000)


def parse_limits(spec: LimitSpec) -> tuple[Limit, ...]:
    """Every limit of ``spec``: a string (several separated by ``;``, ``,`` or ``|``), a
    ``Limit``, or an iterable of either. Raises ``ValueError`` for a bad part and for
    a spec with no limit at all."""
    if isinstance(spec, Limit):
        return (spec,)
    if isinstance(spec, str):
        parts = [p for p in re.split(r"[;,|]", spec) if p.strip()]
        if not parts:
            raise ValueError(f"invalid rate limit {spec!r}: no limit in it")
        return tuple(parse_limit(p) for p in parts)
    limits: list[Limit] = []
    for item in spec:
        if isinstance(item, (str, Limit)):
            limits.extend(parse_limits(item))
        else:
            raise TypeError(f"a limit must be a str or a Limit, not {type(item).__name__}")
    if not limits:
        raise ValueError("no limit given")
    return tuple(limits)
