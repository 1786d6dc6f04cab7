"""Reserve, then settle: for costs known only after the request (the tokens a
language model's answer used, the bytes a download sent).

```python
reservation = limiter.reserve(api_key, "60/minute;100000/minute", costs=(1, estimate))
if not reservation:
    return 429, reservation.retry_after_s
answer = model(prompt)
reservation.settle(1, answer.tokens)  # the request stays 1; the tokens: used - estimate
```

A reservation is counted at once, like any check: concurrent requests see each
other's estimates, so they cannot overshoot the way counting after the fact does.
Settling charges the difference (``RATELIMIT.CHARGE``): what went over the estimate
is counted whatever the state (past the limit the key is in debt, which the next
requests wait out), what was not used is given back. A reservation settles once:
settling or cancelling it again raises ``ReservationClosed``. A denied reservation
counted nothing: settling or cancelling it changes nothing.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional

from .decision import Decision, Decisions
from .limits import Limit

if TYPE_CHECKING:
    from ._call import Call


class ReservationClosed(RuntimeError):
    """The reservation was settled or cancelled already."""


class _Reservation:
    """What the two kinds share: what was reserved, and the charges that settle it."""

    def __init__(
        self, limiter: Any, call: Call, reserved: Sequence[int], decisions: Decisions
    ) -> None:
        self._limiter = limiter
        self._call = call
        #: What was counted against each limit.
        self.reserved: tuple[int, ...] = tuple(reserved)
        #: The check's answer, one ``Decision`` per limit.
        self.decisions = decisions
        self.closed = False

    @property
    def allowed(self) -> bool:
        return self.decisions.allowed

    def __bool__(self) -> bool:
        return self.decisions.allowed

    @property
    def limits(self) -> tuple[Limit, ...]:
        return self.decisions.limits

    @property
    def retry_after_ms(self) -> int:
        return self.decisions.retry_after_ms

    @property
    def retry_after_s(self) -> int:
        return self.decisions.retry_after_s

    def _charges(self, actual: Sequence[int]) -> list[Call]:
        """The charges that turn the reservation into ``actual`` (one value for every
        limit, or one per limit), and closes it."""
        if self.closed:
            raise ReservationClosed("this reservation was settled or cancelled already")
        n = len(self.limits)
        values = tuple(actual) * n if len(actual) == 1 else tuple(actual)
        if len(values) != n:
            raise ValueError(
                f"{len(values)} actual costs for {n} limits: give one, or one per limit"
            )
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"an actual cost is an int >= 0, not {v!r}")
        self.closed = True
        if not self.allowed or self._limiter is None:
            return []
        return [
            self._limiter._charge(key, lim, used - held, self._call.algorithm, self._call.burst)
            for key, lim, used, held in zip(self._call.keys, self.limits, values, self.reserved)
            if used != held
        ]


class Reservation(_Reservation):
    """A ``RateLimiter.reserve``: ``settle`` it with the actual cost, or ``cancel`` it.
    As a context manager, it is cancelled when its block raises (and left as it is,
    the reserved cost counted, when the block ends without settling it)."""

    def settle(self, *actual: int) -> tuple[Decision, ...]:
        """Counts the actual cost instead of the reserved one: ``settle(used)`` for
        every limit, or ``settle(1, used)`` one value per limit. Returns each changed
        limit's answer after the change."""
        return tuple(self._send(c) for c in self._charges(actual))

    def cancel(self) -> tuple[Decision, ...]:
        """Gives the whole reservation back, as if the request had not been made."""
        return self.settle(*(0,) * len(self.limits))

    def _send(self, call: Call) -> Decision:
        return Decision.from_reply(self._limiter._send(call))

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        trace: Optional[TracebackType],
    ) -> None:
        if error is not None and not self.closed:
            self.cancel()


class AsyncReservation(_Reservation):
    """``Reservation`` for ``AsyncRateLimiter``: the same methods, awaited, and
    ``async with``."""

    @classmethod
    def unlimited(cls, limits: tuple[Limit, ...]) -> AsyncReservation:
        """A reservation that counted nothing (Redis unreachable, failure mode
        ``open``): settling it changes nothing."""
        return cls(None, None, (0,) * len(limits), Decisions(True, limits, ()))  # type: ignore[arg-type]

    async def settle(self, *actual: int) -> tuple[Decision, ...]:
        return tuple([await self._send(c) for c in self._charges(actual)])

    async def cancel(self) -> tuple[Decision, ...]:
        return await self.settle(*(0,) * len(self.limits))

    async def _send(self, call: Call) -> Decision:
        return Decision.from_reply(await self._limiter._send(call))

    async def __aenter__(self) -> AsyncReservation:
        return self

    async def __aexit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        trace: Optional[TracebackType],
    ) -> None:
        if error is not None and not self.closed:
            await self.cancel()


class PendingReservation:
    """What ``AsyncRateLimiter.reserve`` answers: await it for the reservation, or use
    it as ``async with``, which makes the reservation and gives it back when the block
    raises."""

    def __init__(self, made: Coroutine[Any, Any, AsyncReservation]) -> None:
        self._made = made
        self._reservation: Optional[AsyncReservation] = None

    def __await__(self) -> Generator[Any, None, AsyncReservation]:
        return self._made.__await__()

    async def __aenter__(self) -> AsyncReservation:
        self._reservation = await self._made
        return self._reservation

    async def __aexit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        trace: Optional[TracebackType],
    ) -> None:
        if self._reservation is not None:
            await self._reservation.__aexit__(kind, error, trace)
