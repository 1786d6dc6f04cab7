"""RateLimiter and AsyncRateLimiter against a real server: identical decisions
whatever the client's protocol and decode_responses, sync and async, on a single
server and on a cluster; all or nothing over several limits; exact under
concurrency."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.cluster import RedisCluster

from redis_ratelimit import AsyncRateLimiter, Decision, Decisions, Limit, RateLimiter
from redis_ratelimit.client import limit_key

from .conftest import Server

# Eleven calls on a 10-per-minute limit with a few costs, and the deterministic part
# of each answer: (allowed, limit, remaining).
SCRIPT = [
    (1, (True, 10, 9)),
    (4, (True, 10, 5)),
    (0, (True, 10, 5)),
    (5, (True, 10, 0)),
    (1, (False, 10, 0)),
    (11, (False, 10, 0)),
]


def run_script(limiter: RateLimiter, key: str) -> list[tuple[bool, int, int]]:
    out = []
    for cost, _ in SCRIPT:
        d = limiter.check(key, "10/minute", cost=cost)
        out.append((d.allowed, d.limit, d.remaining))
    return out


async def run_script_async(limiter: AsyncRateLimiter, key: str) -> list[tuple[bool, int, int]]:
    out = []
    for cost, _ in SCRIPT:
        d = await limiter.check(key, "10/minute", cost=cost)
        out.append((d.allowed, d.limit, d.remaining))
    return out


WANT = [want for _, want in SCRIPT]
CLIENTS = list(itertools.product([2, 3], [False, True]))


@pytest.mark.parametrize("protocol,decode", CLIENTS)
def test_sync_decisions_are_the_same_for_every_client(
    server: Server, protocol: int, decode: bool
) -> None:
    client = server.client(protocol=protocol, decode_responses=decode)
    assert client.client_info()["resp"] in (str(protocol), protocol)
    limiter = RateLimiter(client)
    assert run_script(limiter, f"sync:{protocol}:{decode}") == WANT
    denied = limiter.check(f"sync:{protocol}:{decode}", "10/minute")
    assert isinstance(denied, Decision) and not denied
    assert 0 < denied.retry_after_ms <= 60_000
    assert denied.retry_after_s == -(-denied.retry_after_ms // 1000)
    never = limiter.check(f"sync:{protocol}:{decode}", "10/minute", cost=11)
    assert never.retry_after_ms == -1 and never.retry_after_s == -1


@pytest.mark.parametrize("protocol,decode", CLIENTS)
def test_async_decisions_are_the_same_for_every_client(
    server: Server, protocol: int, decode: bool
) -> None:
    async def main() -> list[tuple[bool, int, int]]:
        client = redis.asyncio.Redis(port=server.port, protocol=protocol, decode_responses=decode)
        try:
            return await run_script_async(AsyncRateLimiter(client), f"async:{protocol}:{decode}")
        finally:
            await client.aclose()

    assert asyncio.run(main()) == WANT


def test_peek_counts_nothing(server: Server) -> None:
    limiter = RateLimiter(server.client())
    limiter.check("p", "3/minute", cost=2)
    a, b = limiter.peek("p", "3/minute"), limiter.peek("p", "3/minute")
    assert (a.allowed, a.remaining, b.allowed, b.remaining) == (True, 1, True, 1)
    peeked = limiter.peek("p", "3/minute", cost=2)
    assert (peeked.allowed, peeked.remaining) == (False, 1)
    assert limiter.check("p", "3/minute").remaining == 0


@pytest.mark.parametrize("algorithm", ["fixed", "sliding", "gcra", "log"])
def test_every_algorithm_and_the_default(server: Server, algorithm: str) -> None:
    limiter = RateLimiter(server.client(), prefix="pre:", algorithm=algorithm)
    results = [limiter.check("k", Limit(3, 60)).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    assert server.client().exists(b"pre:{k}:3/60000ms") == 1
    # Another algorithm on the same key is refused by the module.
    other = "log" if algorithm != "log" else "fixed"
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        limiter.check("k", Limit(3, 60), algorithm=other)


def test_gcra_burst(server: Server) -> None:
    limiter = RateLimiter(server.client())
    d = limiter.check("g", "10/second", algorithm="gcra", burst=2)
    assert (d.allowed, d.limit, d.remaining) == (True, 2, 1)
    with pytest.raises(ValueError, match="burst applies only to the gcra"):
        limiter.check("g", "10/second", burst=2)


def test_check_all_is_all_or_nothing(server: Server) -> None:
    limiter = RateLimiter(server.client(protocol=3))
    spec = "2/minute;3/hour"
    first, second = limiter.check_all("u42", spec), limiter.check_all("u42", spec)
    assert first.allowed and second.allowed
    assert [d.remaining for d in second.decisions] == [0, 1]
    third = limiter.check_all("u42", spec)
    assert isinstance(third, Decisions) and not third
    assert [d.allowed for d in third.decisions] == [False, True]
    assert third.decisions[1].remaining == 1, "the hourly limit lost nothing"
    assert 0 < third.retry_after_ms <= 60_000
    keys = sorted(server.client().keys("*"))
    assert keys == sorted(str(limit_key("", "u42", lim)).encode() for lim in third.limits)
    assert all(k.startswith(b"{u42}:") for k in keys), keys


def test_bad_arguments_raise_before_any_call(server: Server) -> None:
    limiter = RateLimiter(server.client())
    with pytest.raises(ValueError, match="names 2 limits: use check_all"):
        limiter.check("k", "1/second;2/minute")
    with pytest.raises(ValueError, match="unknown algorithm"):
        limiter.check("k", "1/second", algorithm="leaky")
    with pytest.raises(ValueError, match="cost must be"):
        limiter.check("k", "1/second", cost=-1)
    with pytest.raises(ValueError, match="twice"):
        limiter.check_all("k", "1/second;1/second")
    assert server.client().dbsize() == 0


def test_200_concurrent_async_calls_admit_exactly_100(server: Server) -> None:
    async def main() -> int:
        # redis-py 8 refuses a call beyond max_connections at once; a blocking pool
        # makes the 200 calls wait for a connection instead.
        pool = redis.asyncio.BlockingConnectionPool(port=server.port, max_connections=50)
        client = redis.asyncio.Redis(connection_pool=pool)
        limiter = AsyncRateLimiter(client)
        try:
            decisions = await asyncio.gather(
                *(limiter.check("crowd", "100/minute") for _ in range(200))
            )
        finally:
            await client.aclose()
        return sum(d.allowed for d in decisions)

    assert asyncio.run(main()) == 100


def test_cluster_sync_and_async(cluster_client: RedisCluster, cluster: list[Server]) -> None:
    limiter = RateLimiter(cluster_client, prefix="c:")
    assert run_script(limiter, "one") == WANT
    # Subjects land on different nodes; check_all keeps each subject's limits in one slot.
    for subject in (f"user{i}" for i in range(12)):
        assert limiter.check_all(subject, "2/minute;5/hour").allowed

    async def main() -> list[Any]:
        client = redis.asyncio.RedisCluster(host="127.0.0.1", port=cluster[0].port)
        try:
            limiter = AsyncRateLimiter(client, prefix="c:")
            return [
                await run_script_async(limiter, "two"),
                [
                    (await limiter.check_all(f"user{i}", "2/minute;5/hour")).allowed
                    for i in range(12)
                ],
                [
                    (await limiter.check_all(f"user{i}", "2/minute;5/hour")).allowed
                    for i in range(12)
                ],
            ]
        finally:
            await client.aclose()

    script, second, third = asyncio.run(main())
    assert script == WANT
    assert second == [True] * 12
    assert third == [False] * 12, "the third call in a minute is denied everywhere"
    nodes_used = {n.port for n in cluster if n.client().dbsize() > 0}
    assert len(nodes_used) > 1, "subjects spread over the cluster's nodes"


def test_sentinel_master_for(server: Server) -> None:
    """A client from redis-py's Sentinel support: the sentinel names the primary."""
    import subprocess
    import tempfile
    import time

    from redis.sentinel import Sentinel

    from .conftest import free_port, server_binary

    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        config = f"{workdir}/sentinel.conf"
        with open(config, "w") as f:
            f.write(
                f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                f"sentinel monitor limiter 127.0.0.1 {server.port} 1\n"
            )
        proc = subprocess.Popen(
            [server_binary(), config, "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            sentinel = Sentinel([("127.0.0.1", port)], socket_timeout=1)
            deadline = time.monotonic() + 15
            while True:
                try:
                    master = sentinel.master_for("limiter", socket_timeout=1)
                    limiter = RateLimiter(master)
                    decisions = [limiter.check("sentinel", "2/minute").allowed for _ in range(3)]
                    break
                except redis.exceptions.ConnectionError:
                    assert proc.poll() is None, "the sentinel exited"
                    assert time.monotonic() < deadline, "the sentinel never named the primary"
                    time.sleep(0.1)
            assert decisions == [True, True, False]
            assert server.client().exists("{sentinel}:2/60000ms") == 1
        finally:
            proc.kill()
            proc.wait(timeout=10)
