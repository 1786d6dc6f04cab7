"""The limiter from redis-py: ``RateLimiter`` over a ``redis.Redis`` (or
``RedisCluster``, or a Sentinel ``master_for`` client), ``AsyncRateLimiter`` over
their ``redis.asyncio`` counterparts, and either over a ``LocalLimiter`` (in this
process, as the frameworks' fallback).

Each check is one command and one round trip, in the best form the server offers:
the module's commands, else the function library, else the script (``_forms``). They
all answer the same five integers under RESP2 and RESP3, and integers are never
decoded to text, so the client's ``protocol`` and ``decode_responses`` make no
difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Optional, TypeVar, Union

import redis.exceptions

from ._call import Call, Key
from ._drivers import adrive, describe, drive
from ._forms import FORMS, MODULE_PROBE_S, Selector
from .bounds import MAX_LIMIT, MAX_LIMITS, MAX_PREFIX_BYTES, MAX_SUBJECT_BYTES, algorithm_name
from .decision import Decision, Decisions
from .limits import Limit, LimitSpec, parse_limits
from .local import LocalLimiter
from .reservation import AsyncReservation, PendingReservation, Reservation

__all__ = ["AsyncRateLimiter", "Key", "RateLimiter", "limit_key", "one_limit"]

R = TypeVar("R", Reservation, AsyncReservation)


def one_limit(limit: Union[str, Limit]) -> Limit:
    """The single limit of ``limit``; a string naming several is an error here."""
    limits = parse_limits(limit)
    if len(limits) != 1:
        raise ValueError(f"{limit!r} names {len(limits)} limits: use check_all for several")
    return limits[0]


def _join(prefix: Key, key: Key) -> Key:
    if isinstance(prefix, bytes) or isinstance(key, bytes):
        as_bytes = [p.encode() if isinstance(p, str) else p for p in (prefix, key)]
        return as_bytes[0] + as_bytes[1]
    return prefix + key


def _bounded(what: str, value: Key, most: int) -> None:
    if not isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    size = len(value.encode() if isinstance(value, str) else value)
    if size > most:
        raise ValueError(f"{what} is {size} bytes: at most {most}")


def limit_key(prefix: Key, key: Key, limit: Limit) -> Key:
    """The Redis key of one limit of one subject, whatever method counts it (check,
    peek, check_all, charge, reserve, the frameworks, the in-process fallback), the
    same in every client of the project: the prefix, the subject in a hash tag (the
    limits of one subject share a Redis Cluster slot, so one MCHECK checks them
    together), then the limit by its amount and window in ms, so that two limits of
    one subject never share state: ``rl:{user:42}:10/60000ms``. Binary-safe; the
    subject is at most 512 bytes and the prefix 64."""
    _bounded("the key prefix", prefix, MAX_PREFIX_BYTES)
    _bounded("the key", key, MAX_SUBJECT_BYTES)
    return _join(_join(_join(prefix, "{"), key), f"}}:{limit.amount}/{limit.window_ms}ms")


def _cost(cost: int) -> int:
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
        raise ValueError(f"cost must be an int >= 0, not {cost!r}")
    return cost


class _Limiter:
    """What both limiters share: where they send requests, the key prefix, the default
    algorithm, and how a request is built."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: Key = "",
        algorithm: str = "fixed",
        forms: tuple[str, ...] = FORMS,
        module_probe_s: float = MODULE_PROBE_S,
    ) -> None:
        _bounded("the key prefix", prefix, MAX_PREFIX_BYTES)
        self.client = client
        self.prefix = prefix
        self.algorithm = algorithm_name(algorithm)
        self._local = client if isinstance(client, LocalLimiter) else None
        self._selector = Selector(describe(client), forms, module_probe_s)

    @property
    def form(self) -> Optional[str]:
        """The form the server answers in: ``"module"``, ``"functions"`` or
        ``"script"`` (``"local"`` over a ``LocalLimiter``); ``None`` until the first
        request has found one."""
        return "local" if self._local is not None else self._selector.form

    def _call(
        self,
        command: str,
        keys: tuple[Key, ...],
        limits: tuple[Limit, ...],
        cost: int,
        algorithm: Optional[str],
        burst: Optional[int],
        costs: Optional[Sequence[int]] = None,
        amount: int = 0,
    ) -> Call:
        alg = algorithm_name(algorithm) if algorithm else self.algorithm
        if burst is not None and alg != "gcra":
            raise ValueError("burst applies only to the gcra algorithm")
        each = None
        if costs is not None:
            each = tuple(_cost(c) for c in costs)
            if len(each) != len(limits):
                raise ValueError(f"{len(each)} costs for {len(limits)} limits: give one per limit")
        return Call(command, keys, limits, alg, _cost(cost), burst, each, amount)

    def _one(self, command: str, key: Key, limit: Union[str, Limit], **options: Any) -> Call:
        lim = one_limit(limit)
        return self._call(command, (limit_key(self.prefix, key, lim),), (lim,), **options)

    def _many(self, key: Key, limits: LimitSpec, **options: Any) -> Call:
        parsed = parse_limits(limits)
        if len(parsed) > MAX_LIMITS:
            raise ValueError(f"at most {MAX_LIMITS} limits in one check, not {len(parsed)}")
        keys = tuple(limit_key(self.prefix, key, lim) for lim in parsed)
        if len(set(keys)) != len(keys):
            raise ValueError(f"the same limit appears twice in {limits!r}")
        call = self._call("mcheck", keys, parsed, **options)
        if len(parsed) == 1:
            # One limit needs no MCHECK: CHECK is the cheaper command (flagged fast).
            cost = call.cost if call.costs is None else call.costs[0]
            return replace(call, command="check", cost=cost, costs=None)
        return call

    def _charge(
        self, key: Key, limit: Limit, amount: int, algorithm: Optional[str], burst: Optional[int]
    ) -> Call:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError(f"amount must be an int, not {amount!r}")
        if abs(amount) > MAX_LIMIT:
            raise ValueError(f"amount must be from -{MAX_LIMIT} to {MAX_LIMIT}, not {amount}")
        return self._call("charge", (key,), (limit,), 1, algorithm, burst, amount=amount)

    def _reservation(self, call: Call, decisions: Decisions, cls: type[R]) -> R:
        reserved = call.costs if call.costs is not None else (call.cost,) * len(call.limits)
        return cls(self, call, reserved, decisions)


class RateLimiter(_Limiter):
    """Rate limits kept in the Redis that ``client`` talks to (or in a
    ``LocalLimiter``).

    ``prefix`` is put before every key; ``algorithm`` is the default for calls that
    name none (``"fixed"``, ``"sliding"``, ``"gcra"`` or ``"log"``); ``forms`` narrows
    the forms tried (default: the module, then the function library, then the script).
    On the library or the script, the module is asked for again every
    ``module_probe_s`` seconds (and after a lost connection), so a module loaded later
    is used without a restart.
    """

    def _send(self, call: Call) -> Any:
        if self._local is not None:
            return self._local.answer(call)
        try:
            return drive(self._selector.run(call), self.client)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            self._selector.connection_lost()
            raise

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
        call = self._one("check", key, limit, cost=cost, algorithm=algorithm, burst=burst)
        return Decision.from_reply(self._send(call))

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
        call = self._one("peek", key, limit, cost=cost, algorithm=algorithm, burst=burst)
        return Decision.from_reply(self._send(call))

    def check_all(
        self,
        key: Key,
        limits: LimitSpec,
        *,
        cost: int = 1,
        costs: Optional[Sequence[int]] = None,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decisions:
        """Checks every limit of one subject in one command, all or nothing: the
        request counts against all of them only if each allows it. ``costs`` gives
        each limit its own cost (requests and tokens: ``costs=(1, 1200)``)."""
        call = self._many(key, limits, cost=cost, costs=costs, algorithm=algorithm, burst=burst)
        return Decisions.from_reply(call.limits, self._send(call))

    def charge(
        self,
        key: Key,
        limit: Union[str, Limit],
        amount: int,
        *,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        """Counts ``amount`` units known after the request, whatever the state (past
        the limit the key is in debt, which the next checks wait out), or gives back
        ``-amount`` (never more than was counted). The answer describes the state
        after it; ``allowed`` is always true."""
        lim = one_limit(limit)
        call = self._charge(limit_key(self.prefix, key, lim), lim, amount, algorithm, burst)
        return Decision.from_reply(self._send(call))

    def reserve(
        self,
        key: Key,
        limits: LimitSpec,
        *,
        cost: int = 1,
        costs: Optional[Sequence[int]] = None,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Reservation:
        """``check_all``, kept as a ``Reservation`` of what it counted: settle it with
        the actual cost once it is known, or cancel it. The keys are ``check_all``'s."""
        call = self._many(key, limits, cost=cost, costs=costs, algorithm=algorithm, burst=burst)
        return self._reservation(
            call, Decisions.from_reply(call.limits, self._send(call)), Reservation
        )


class AsyncRateLimiter(_Limiter):
    """``RateLimiter`` for ``redis.asyncio`` clients: the same methods, awaited."""

    async def _send(self, call: Call) -> Any:
        if self._local is not None:
            return self._local.answer(call)
        try:
            return await adrive(self._selector.run(call), self.client)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            self._selector.connection_lost()
            raise

    async def check(
        self,
        key: Key,
        limit: Union[str, Limit],
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        call = self._one("check", key, limit, cost=cost, algorithm=algorithm, burst=burst)
        return Decision.from_reply(await self._send(call))

    async def peek(
        self,
        key: Key,
        limit: Union[str, Limit],
        *,
        cost: int = 1,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        call = self._one("peek", key, limit, cost=cost, algorithm=algorithm, burst=burst)
        return Decision.from_reply(await self._send(call))

    async def check_all(
        self,
        key: Key,
        limits: LimitSpec,
        *,
        cost: int = 1,
        costs: Optional[Sequence[int]] = None,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decisions:
        call = self._many(key, limits, cost=cost, costs=costs, algorithm=algorithm, burst=burst)
        return Decisions.from_reply(call.limits, await self._send(call))

    async def charge(
        self,
        key: Key,
        limit: Union[str, Limit],
        amount: int,
        *,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> Decision:
        lim = one_limit(limit)
        call = self._charge(limit_key(self.prefix, key, lim), lim, amount, algorithm, burst)
        return Decision.from_reply(await self._send(call))

    def reserve(
        self,
        key: Key,
        limits: LimitSpec,
        *,
        cost: int = 1,
        costs: Optional[Sequence[int]] = None,
        algorithm: Optional[str] = None,
        burst: Optional[int] = None,
    ) -> PendingReservation:
        """``RateLimiter.reserve``, awaited (``r = await limiter.reserve(...)``), or
        as ``async with limiter.reserve(...) as r:``, which gives the reservation back
        when the block raises."""
        call = self._many(key, limits, cost=cost, costs=costs, algorithm=algorithm, burst=burst)

        async def made() -> AsyncReservation:
            decisions = Decisions.from_reply(call.limits, await self._send(call))
            return self._reservation(call, decisions, AsyncReservation)

        return PendingReservation(made())
