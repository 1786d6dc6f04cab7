"""The module's commands from redis-py: ``RateLimiter`` over a ``redis.Redis`` (or
``RedisCluster``, or a Sentinel ``master_for`` client), ``AsyncRateLimiter`` over
their ``redis.asyncio`` counterparts.

Each check is one command and one round trip. The module answers the same five
integers under RESP2 and RESP3, and integers are never decoded to text, so the client's
``protocol`` and ``decode_responses`` make no difference.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from .decision import Decision, Decisions
from .limits import Limit, LimitSpec, parse_limits

ALGORITHMS = ("fixed", "sliding", "gcra", "log")

#: The most limits one ``check_all`` takes (the module's ``numlimits`` bound).
MAX_LIMITS = 64

Key = Union[str, bytes]


def one_limit(limit: Union[str, Limit]) -> Limit:
    """The single limit of ``limit``; a string naming several is an error here."""
    limits = parse_limits(limit)
    if len(limits) != 1:
        raise ValueError(f"{limit!r} names {len(limits)} limits: use check_all for several")
    return limits[0]


def algorithm_name(algorithm: str) -> str:
    name = algorithm.lower()
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r} (use {', '.join(ALGORITHMS)})")
    return name


def _options(cost: int, algorithm: str, burst: Optional[int]) -> list[Any]:
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
        raise ValueError(f"cost must be an int >= 0, not {cost!r}")
    options: list[Any] = ["MS", "ALGORITHM", algorithm.upper(), "COST", cost]
    if burst is not None:
        if algorithm != "gcra":
            raise ValueError("burst applies only to the gcra algorithm")
        options += ["BURST", burst]
    return options


def _join(prefix: Key, key: Key) -> Key:
    if isinstance(prefix, bytes) or isinstance(key, bytes):
        as_bytes = [p.encode() if isinstance(p, str) else p for p in (prefix, key)]
        return as_bytes[0] + as_bytes[1]
    return prefix + key


def limit_key(prefix: Key, key: Key, limit: Limit) -> Key:
    """The key of one limit of ``check_all``: the subject in a hash tag, so that all
    the limits of one subject live in one Redis Cluster slot, then the limit itself,
    so that two limits of one subject never share state."""
    return _join(_join(_join(prefix, "{"), key), f"}}:{limit.amount}/{limit.window_ms}ms")


class _Commands:
    """Builds the command lines; the two limiters only send them."""

    def __init__(self, prefix: Key, algorithm: str) -> None:
        self.prefix = prefix
        self.algorithm = algorithm_name(algorithm)

    def one(
        self,
        command: str,
        key: Key,
        limit: Union[str, Limit],
        cost: int,
        algorithm: Optional[str],
        burst: Optional[int],
    ) -> list[Any]:
        lim = one_limit(limit)
        alg = algorithm_name(algorithm) if algorithm else self.algorithm
        return [
            command,
            _join(self.prefix, key),
            lim.amount,
            lim.window_ms,
            *_options(cost, alg, burst),
        ]

    def many(
        self,
        key: Key,
        limits: LimitSpec,
        cost: int,
        algorithm: Optional[str],
        burst: Optional[int],
    ) -> tuple[tuple[Limit, ...], list[Any]]:
        parsed = parse_limits(limits)
        alg = algorithm_name(algorithm) if algorithm else self.algorithm
        if len(parsed) == 1:
            # One limit needs no MCHECK: CHECK is the cheaper command (flagged fast).
            lim = parsed[0]
            key = limit_key(self.prefix, key, lim)
            return parsed, [
                "RATELIMIT.CHECK",
                key,
                lim.amount,
                lim.window_ms,
                *_options(cost, alg, burst),
            ]
        if len(parsed) > MAX_LIMITS:
            raise ValueError(f"at most {MAX_LIMITS} limits in one check, not {len(parsed)}")
        keys = [limit_key(self.prefix, key, lim) for lim in parsed]
        if len(set(keys)) != len(keys):
            raise ValueError(f"the same limit appears twice in {limits!r}")
        args: list[Any] = ["RATELIMIT.MCHECK", len(parsed)]
        for k, lim in zip(keys, parsed):
            args += [k, lim.amount, lim.window_ms]
        return parsed, args + _options(cost, alg, burst)


class _Settings:
    """What both limiters share: the client, the key prefix, the default algorithm."""

    def __init__(self, client: Any, *, prefix: Key = "", algorithm: str = "fixed") -> None:
        self.client = client
        self._commands = _Commands(prefix, algorithm)

    @property
    def prefix(self) -> Key:
        return self._commands.prefix

    @property
    def algorithm(self) -> str:
        return self._commands.algorithm


class RateLimiter(_Settings):
    """Rate limits kept by the module in the Redis that ``client`` talks to.

    ``prefix`` is put before every key; ``algorithm`` is the default for calls that
    name none (``"fixed"``, ``"sliding"``, ``"gcra"`` or ``"log"``).
    """

    def check(
        self,
        key: Key,
        limit: Union[str, Limit],
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        """Counts a request of weight ``cost`` against ``limit`` if it is within it."""
        args = self._commands.one("RATELIMIT.CHECK", key, limit, cost, algorithm, burst)
        return Decision.from_reply(self.client.execute_command(*args))

    def peek(
        self,
        key: Key,
        limit: Union[str, Limit],
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        """What ``check`` would answer now, without counting anything."""
        args = self._commands.one("RATELIMIT.PEEK", key, limit, cost, algorithm, burst)
        return Decision.from_reply(self.client.execute_command(*args))

    def check_all(
        self,
        key: Key,
        limits: LimitSpec,
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decisions:
        """Checks every limit of one subject in one command, all or nothing: the
        request counts against all of them only if each allows it."""
        parsed, args = self._commands.many(key, limits, cost, algorithm, burst)
        return Decisions.from_reply(parsed, self.client.execute_command(*args))


class AsyncRateLimiter(_Settings):
    """``RateLimiter`` for ``redis.asyncio`` clients: the same methods, awaited."""

    async def check(
        self,
        key: Key,
        limit: Union[str, Limit],
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        args = self._commands.one("RATELIMIT.CHECK", key, limit, cost, algorithm, burst)
        return Decision.from_reply(await self.client.execute_command(*args))

    async def peek(
        self,
        key: Key,
        limit: Union[str, Limit],
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        args = self._commands.one("RATELIMIT.PEEK", key, limit, cost, algorithm, burst)
        return Decision.from_reply(await self.client.execute_command(*args))

    async def check_all(
        self,
        key: Key,
        limits: LimitSpec,
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decisions:
        parsed, args = self._commands.many(key, limits, cost, algorithm, burst)
        return Decisions.from_reply(parsed, await self.client.execute_command(*args))
