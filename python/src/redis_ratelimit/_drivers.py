"""The I/O around ``_forms``: a blocking driver and an asyncio one run the same
selection, sending what it asks and handing back the replies and errors."""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from typing import Any, Callable
from urllib.parse import urlsplit

import redis.exceptions

from ._forms import EnsureLibrary, Send, Step, ensure_library

Steps = Generator[Step, Any, Any]


def describe(client: Any) -> str:
    """Where a client points, for log lines."""
    if hasattr(client, "get_primaries"):
        return "the Redis Cluster"
    url = getattr(client, "url", None)
    if isinstance(url, str):
        # Never a password in a log line.
        parts = urlsplit(url)
        return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    if "host" in kwargs:
        return f"{kwargs['host']}:{kwargs.get('port', 6379)}"
    return type(client).__name__


def primaries(client: Any) -> list[Any]:
    """Every primary of a cluster client, or [None] for one server."""
    if hasattr(client, "get_primaries"):
        return list(client.get_primaries()) or [None]
    return [None]


def _on(node: Any) -> dict[str, Any]:
    return {} if node is None else {"target_nodes": node}


def _answer(err: redis.exceptions.RedisError) -> redis.exceptions.ResponseError:
    """The server's answer in an error, or the error itself when it is not one (a
    connection that failed): that ends the selection."""
    if isinstance(err, redis.exceptions.ResponseError):
        return err
    # redis-py's cluster client refuses a command it does not find in the cluster's
    # COMMAND list before sending it: that is the server's unknown command.
    if "doesn't exist in redis commands" in str(err).lower():
        return redis.exceptions.ResponseError(f"unknown command: {err}")
    raise err


def _run(steps: Steps, perform: Callable[[Step], Any]) -> Any:
    try:
        step = next(steps)
        while True:
            try:
                result = perform(step)
            except redis.exceptions.RedisError as err:
                step = steps.throw(_answer(err))
            else:
                step = steps.send(result)
    except StopIteration as stop:
        return stop.value


def drive_on_node(steps: Steps, client: Any, node: Any) -> Any:
    """Runs a generator of ``Send`` on one node of a cluster client (``None``: the
    client's one server)."""
    return _run(steps, lambda s: client.execute_command(*s.args, **_on(node)))  # type: ignore[union-attr]


def drive(steps: Steps, client: Any) -> Any:
    """Runs a selection against a blocking client (or a cluster client: the library
    goes to every primary)."""

    def perform(step: Step) -> Any:
        if isinstance(step, EnsureLibrary):
            return all(
                [bool(drive_on_node(ensure_library(), client, n)) for n in primaries(client)]
            )
        return client.execute_command(*step.args)

    return _run(steps, perform)


async def _arun(steps: Steps, perform: Callable[[Step], Awaitable[Any]]) -> Any:
    try:
        step = next(steps)
        while True:
            try:
                result = await perform(step)
            except redis.exceptions.RedisError as err:
                step = steps.throw(_answer(err))
            else:
                step = steps.send(result)
    except StopIteration as stop:
        return stop.value


async def adrive(steps: Steps, client: Any) -> Any:
    """``drive`` for ``redis.asyncio`` clients."""

    async def on_node(node: Any) -> bool:
        async def send(s: Send) -> Any:
            return await client.execute_command(*s.args, **_on(node))

        return bool(await _arun(ensure_library(), send))  # type: ignore[arg-type]

    async def perform(step: Step) -> Any:
        if isinstance(step, EnsureLibrary):
            if hasattr(client, "get_primaries") and not client.get_primaries():
                await client.initialize()
            return all([await on_node(n) for n in primaries(client)])
        return await client.execute_command(*step.args)

    return await _arun(steps, perform)
