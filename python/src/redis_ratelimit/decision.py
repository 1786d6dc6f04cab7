"""What a check answers: one ``Decision`` per limit, and ``Decisions`` for several."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .limits import Limit


@dataclass(frozen=True)
class Decision:
    """The module's five numbers for one limit.

    ``retry_after_ms`` is 0 when allowed, the wait until the same request could pass
    when denied, and -1 when it never can (a cost above the capacity).
    ``reset_after_ms`` is the wait until the limit is whole again.
    """

    allowed: bool
    limit: int
    remaining: int
    retry_after_ms: int
    reset_after_ms: int

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def retry_after_s(self) -> int:
        """``retry_after_ms`` in whole seconds, rounded up (as ``Retry-After`` wants);
        -1 when the request can never pass."""
        if self.retry_after_ms < 0:
            return -1
        return -(-self.retry_after_ms // 1000)

    @property
    def reset_after_s(self) -> int:
        """``reset_after_ms`` in whole seconds, rounded up."""
        return -(-self.reset_after_ms // 1000)

    @classmethod
    def from_reply(cls, reply: Any) -> Decision:
        """From the module's reply: five integers, whatever the protocol and
        ``decode_responses`` (integers are never decoded to text)."""
        if not isinstance(reply, (list, tuple)) or len(reply) != 5:
            raise ValueError(f"unexpected reply from the ratelimit module: {reply!r}")
        allowed, limit, remaining, retry, reset = (int(v) for v in reply)
        return cls(bool(allowed), limit, remaining, retry, reset)


@dataclass(frozen=True)
class Decisions:
    """The answer for several limits checked together, all or nothing: ``allowed``
    only if every limit allowed, and then the request counted against each. When
    denied, nothing was counted and each ``Decision`` says what that limit has left."""

    allowed: bool
    limits: tuple[Limit, ...]
    decisions: tuple[Decision, ...]

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def retry_after_ms(self) -> int:
        """0 when allowed; else the longest wait among the limits that deny (-1 if one
        of them can never pass)."""
        if self.allowed:
            return 0
        waits = [d.retry_after_ms for d in self.decisions if not d.allowed]
        return -1 if -1 in waits else max(waits, default=0)

    @property
    def retry_after_s(self) -> int:
        ms = self.retry_after_ms
        return -1 if ms < 0 else -(-ms // 1000)

    @classmethod
    def from_reply(cls, limits: Sequence[Limit], reply: Any) -> Decisions:
        """From RATELIMIT.MCHECK's reply (allowed, then five integers per limit), or
        from RATELIMIT.CHECK's for a single limit."""
        single = len(limits) == 1 and isinstance(reply, (list, tuple)) and len(reply) == 5
        if single and not isinstance(reply[1], (list, tuple)):
            one = Decision.from_reply(reply)
            return cls(one.allowed, tuple(limits), (one,))
        if not isinstance(reply, (list, tuple)) or len(reply) != len(limits) + 1:
            raise ValueError(f"unexpected reply from the ratelimit module: {reply!r}")
        return cls(
            bool(int(reply[0])),
            tuple(limits),
            tuple(Decision.from_reply(item) for item in reply[1:]),
        )
