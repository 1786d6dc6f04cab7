"""A storage for :pypi:`limits`, the engine of Flask-Limiter and slowapi, that decides
each of limits' strategies in one call on the server: the module's commands where it
is loaded, else the function library or the script, as the package chooses.

One import and one changed ``storage_uri`` move an app onto it::

    import redis_ratelimit.limits_storage  # registers the schemes below

    limiter = Limiter(get_remote_address, app=app,
                      storage_uri="ratelimit+redis://localhost:6379")

Schemes (limits finds a storage by the scheme its module registers):
``ratelimit+redis://``, ``ratelimit+rediss://``, ``ratelimit+redis+unix://``,
``ratelimit+redis+cluster://`` and ``ratelimit+redis+sentinel://``, each with
``async+`` in front for ``limits.aio``. After ``ratelimit+`` the URL and the options
are limits' own Redis storages' (the client is made the way they make it).

- **Fixed window**: counted as limits counts it (every hit, denied ones too: the
  strategy compares the count with the limit), in one ``RATELIMIT.CHARGE``; the window
  starts with a key's first hit, as in limits' Redis storage.
- **Moving window**: the exact sliding log (``ALGORITHM LOG``), one ``RATELIMIT.CHECK``
  that counts only what it admits. A limit above the log's bound (4096) is refused at
  its first use, with the bound named.
- **Sliding window counter**: ``ALGORITHM SLIDING``, one ``RATELIMIT.CHECK``.

Keys are limits' own (``<key_prefix>:<key>``, limits' key naming the limit), one per
limit, as for its Redis storage.
"""

from __future__ import annotations

import time
from typing import Any, Optional, Union, cast

import redis
import redis.asyncio
from limits.aio.storage.base import MovingWindowSupport as AsyncMovingWindowSupport
from limits.aio.storage.base import SlidingWindowCounterSupport as AsyncSlidingSupport
from limits.aio.storage.base import Storage as AsyncStorage
from limits.errors import ConfigurationError
from limits.storage.base import MovingWindowSupport, SlidingWindowCounterSupport, Storage
from redis.client import NEVER_DECODE

from . import _state
from .bounds import MAX_LIMIT, MAX_LOG_LIMIT, MAX_WINDOW_MS
from .client import AsyncRateLimiter, RateLimiter
from .limits import Limit

__all__ = ["AsyncRatelimitStorage", "RatelimitStorage"]

#: limits' default key prefix, kept so that keys read the same.
PREFIX = "LIMITS"
SCHEMES = [
    "ratelimit+redis",
    "ratelimit+rediss",
    "ratelimit+redis+unix",
    "ratelimit+redis+cluster",
    "ratelimit+redis+sentinel",
]
#: A fixed window's count is kept under a limit no count reaches.
_UNBOUNDED = Limit(MAX_LIMIT, MAX_WINDOW_MS / 1000)


def _window(expiry: float) -> Limit:
    return Limit(MAX_LIMIT, expiry)


def _moving(limit: int, expiry: float) -> Limit:
    if limit > MAX_LOG_LIMIT:
        raise ConfigurationError(
            f"a moving window of {limit} is above the exact log's bound of {MAX_LOG_LIMIT}"
            " (ratelimit+ storages): use the sliding-window-counter or fixed-window strategy"
        )
    return Limit(limit, expiry)


def _checked(client: Any) -> Any:
    """``client``, its connection options tried at once: redis-py takes them only when
    it first connects, where a misspelt one would fail the first request instead of
    the app's start."""
    pool = getattr(client, "connection_pool", None)
    if pool is not None and hasattr(pool, "connection_class"):
        try:
            pool.connection_class(**pool.connection_kwargs)
        except TypeError as err:
            raise ConfigurationError(f"ratelimit+ storage: {err}") from err
    return client


def _sync_client(uri: str, options: dict[str, Any]) -> Any:
    """The client limits' own Redis storage makes for ``uri`` (without
    ``ratelimit+``), with its options."""
    from limits.storage import storage_from_string

    return _checked(storage_from_string(uri, **options).storage)  # type: ignore[union-attr]


def _hosts(netloc: str, options: dict[str, Any], port: int) -> list[tuple[str, int]]:
    """``[user:password@]h1:p1,h2:p2`` as hosts, the credentials put in ``options``
    (as limits' storages read them) unless given there already."""
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        if user:
            options.setdefault("username", user)
        if password:
            options.setdefault("password", password)
    hosts = []
    for location in netloc.split(","):
        host, _, number = location.rpartition(":") if ":" in location else (location, "", "")
        hosts.append((host, int(number or port)))
    return hosts


def _async_client(uri: str, options: dict[str, Any]) -> Any:
    """A ``redis.asyncio`` client for ``uri`` (without ``async+ratelimit+``), read as
    limits' Redis storages read theirs."""
    if uri.startswith("redis+cluster://"):
        netloc = uri.removeprefix("redis+cluster://").split("/")[0]
        nodes = [
            redis.asyncio.cluster.ClusterNode(host, port)
            for host, port in _hosts(netloc, options, 6379)
        ]
        return redis.asyncio.RedisCluster(startup_nodes=nodes, **options)
    if uri.startswith("redis+sentinel://"):
        netloc, _, service = uri.removeprefix("redis+sentinel://").partition("/")
        service = str(options.pop("service_name", None) or service)
        if not service:
            raise ConfigurationError("a sentinel URL names its service: .../service_name")
        sentinel_kwargs = options.pop("sentinel_kwargs", None)
        options.pop("use_replicas", None)
        hosts = _hosts(netloc, options, 26379)
        sentinel = redis.asyncio.sentinel.Sentinel(
            hosts, sentinel_kwargs=sentinel_kwargs, **options
        )
        return sentinel.master_for(service)
    return _checked(redis.asyncio.from_url(uri.replace("redis+unix", "unix"), **options))


def _options(uri: str, key_prefix: str, scheme_prefix: str) -> tuple[str, str]:
    if not uri.startswith(scheme_prefix):
        raise ConfigurationError(f"{uri!r} is not a {scheme_prefix}... URL")
    return uri.removeprefix(scheme_prefix), f"{key_prefix}:"


def _count(reply_remaining: int) -> int:
    return MAX_LIMIT - reply_remaining


class RatelimitStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport):
    """limits' storage interface over the rate limiter (see the module's doc)."""

    # Class attributes as limits' interface reads them (its registry and dependencies).
    STORAGE_SCHEME = SCHEMES
    DEPENDENCIES = ["redis"]  # noqa: RUF012

    def __init__(
        self,
        uri: str,
        key_prefix: str = PREFIX,
        wrap_exceptions: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        rest, self.key_prefix = _options(uri, key_prefix, "ratelimit+")
        self.storage = _sync_client(rest, dict(options))
        self.limiter = RateLimiter(self.storage)

    @property
    def base_exceptions(self) -> Union[type[Exception], tuple[type[Exception], ...]]:
        return redis.exceptions.RedisError

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    def _raw(self, key: str) -> Optional[bytes]:
        """The key's bytes, whatever the client decodes."""
        raw = self.storage.execute_command("GET", self._key(key), **{NEVER_DECODE: []})
        return cast(Optional[bytes], raw)

    def _one(self, command: str, key: str, limit: Limit, algorithm: str, **kw: Any) -> Any:
        call = self.limiter._call(
            command,
            (self._key(key),),
            (limit,),
            algorithm=algorithm,
            burst=None,
            **{"cost": 1, **kw},
        )
        return self.limiter._send(call)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        reply = self._one("charge", key, _window(expiry), "fixed", amount=amount)
        return _count(int(reply[2]))

    def get(self, key: str) -> int:
        count = _state.fixed_count(self._raw(key))
        if count is None:  # another form of the state (compact): the server reads it
            return _count(int(self._one("peek", key, _UNBOUNDED, "fixed")[2]))
        return count

    def get_expiry(self, key: str) -> float:
        return max(int(self.storage.pttl(self._key(key))), 0) / 1000 + time.time()

    def check(self) -> bool:
        try:
            return bool(self.storage.ping())
        except redis.exceptions.RedisError:
            return False

    def reset(self) -> Optional[int]:
        found = list(self.storage.scan_iter(match=self._key("*"), count=1000))
        for i in range(0, len(found), 500):
            self.storage.delete(*found[i : i + 500])
        return len(found)

    def clear(self, key: str) -> None:
        self.storage.delete(self._key(key))

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        reply = self._one("check", key, _moving(limit, expiry), "log", cost=amount)
        return bool(int(reply[0]))

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return _state.moving_window(self._raw(key), limit, expiry, time.time())

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        reply = self._one("check", key, Limit(limit, expiry), "sliding", cost=amount)
        return bool(int(reply[0]))

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return _state.sliding_window(self._raw(key), expiry, time.time())

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        self.clear(key)


class AsyncRatelimitStorage(AsyncStorage, AsyncMovingWindowSupport, AsyncSlidingSupport):
    """``RatelimitStorage`` for ``limits.aio`` (``redis.asyncio``)."""

    STORAGE_SCHEME = [f"async+{s}" for s in SCHEMES]  # noqa: RUF012
    DEPENDENCIES = ["redis"]  # noqa: RUF012

    def __init__(
        self,
        uri: str,
        key_prefix: str = PREFIX,
        wrap_exceptions: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        rest, self.key_prefix = _options(uri, key_prefix, "async+ratelimit+")
        self.storage = _async_client(rest, dict(options))
        self.limiter = AsyncRateLimiter(self.storage)

    @property
    def base_exceptions(self) -> Union[type[Exception], tuple[type[Exception], ...]]:
        return redis.exceptions.RedisError

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    async def _one(self, command: str, key: str, limit: Limit, algorithm: str, **kw: Any) -> Any:
        call = self.limiter._call(
            command,
            (self._key(key),),
            (limit,),
            algorithm=algorithm,
            burst=None,
            **{"cost": 1, **kw},
        )
        return await self.limiter._send(call)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        reply = await self._one("charge", key, _window(expiry), "fixed", amount=amount)
        return _count(int(reply[2]))

    async def get(self, key: str) -> int:
        count = _state.fixed_count(await self._raw(key))
        if count is None:  # another form of the state (compact): the server reads it
            return _count(int((await self._one("peek", key, _UNBOUNDED, "fixed"))[2]))
        return count

    async def get_expiry(self, key: str) -> float:
        return max(int(await self.storage.pttl(self._key(key))), 0) / 1000 + time.time()

    async def check(self) -> bool:
        try:
            return bool(await self.storage.ping())
        except redis.exceptions.RedisError:
            return False

    async def reset(self) -> Optional[int]:
        found = [k async for k in self.storage.scan_iter(match=self._key("*"), count=1000)]
        for i in range(0, len(found), 500):
            await self.storage.delete(*found[i : i + 500])
        return len(found)

    async def clear(self, key: str) -> None:
        await self.storage.delete(self._key(key))

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        reply = await self._one("check", key, _moving(limit, expiry), "log", cost=amount)
        return bool(int(reply[0]))

    async def _raw(self, key: str) -> Optional[bytes]:
        """The key's bytes, whatever the client decodes."""
        raw = await self.storage.execute_command("GET", self._key(key), **{NEVER_DECODE: []})
        return cast(Optional[bytes], raw)

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return _state.moving_window(await self._raw(key), limit, expiry, time.time())

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        reply = await self._one("check", key, Limit(limit, expiry), "sliding", cost=amount)
        return bool(int(reply[0]))

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return _state.sliding_window(await self._raw(key), expiry, time.time())

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        await self.clear(key)
