"""A local redis-server for tests and benchmarks: on a free loopback port, with this
package's module loaded (or another module file, or none, as a managed service runs
one), persistence off, waited for within a bound, and killed when closed.

```python
from redis_ratelimit.testing import LocalServer

with LocalServer() as server:
    r = server.client()
    r.execute_command("RATELIMIT.CHECK", "k", 10, 60)
```

Not for production: the server keeps nothing on disk.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Optional, Union

import redis

from .module import module_path


class ServerDidNotStart(RuntimeError):
    """The server exited, or did not answer PING within the bound."""


def free_port() -> int:
    """A loopback port free at the moment of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binary(binary: Optional[str] = None) -> str:
    """``binary``, else ``$REDIS_SERVER``, else redis-server (or valkey-server) on the
    PATH."""
    found = (
        binary
        or os.environ.get("REDIS_SERVER")
        or shutil.which("redis-server")
        or shutil.which("valkey-server")
    )
    if not found:
        raise FileNotFoundError(
            "no redis-server: install one (Debian: apt-get install redis-server), "
            "or set REDIS_SERVER"
        )
    return found


def server_command(
    port: int,
    *,
    binary: Optional[str] = None,
    module: Union[bool, str, Path] = True,
    module_args: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
    workdir: Optional[str] = None,
) -> list[str]:
    """The command line of a redis-server on 127.0.0.1:``port``, persistence off, with
    the module: this package's (``module=True``), a file's, or none (``False``)."""
    load: list[str] = []
    if module is not False:
        path = module_path() if module is True else Path(module)
        load = ["--loadmodule", str(path), *module_args]
    where = ["--dir", workdir] if workdir else []
    return [
        server_binary(binary),
        *("--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no"),
        *where,
        *load,
        *extra,
    ]


class LocalServer:
    """One redis-server (see the module's docstring). ``extra`` are more
    ``--option value`` arguments; ``prefix`` a command to run it under (``taskset``).
    ``stop`` and ``start`` again keep the port, to play an outage."""

    def __init__(
        self,
        *,
        binary: Optional[str] = None,
        module: Union[bool, str, Path] = True,
        module_args: tuple[str, ...] = (),
        extra: tuple[str, ...] = (),
        port: Optional[int] = None,
        prefix: tuple[str, ...] = (),
        timeout_s: float = 15,
    ) -> None:
        self.binary = server_binary(binary)
        self.module = module
        self.module_args = module_args
        self.extra = extra
        self.prefix = prefix
        self.timeout_s = timeout_s
        self.dir = tempfile.TemporaryDirectory()
        self.port = port or free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def start(self) -> None:
        """Starts the server and waits until it answers; on a port taken meanwhile,
        tries another (up to five times)."""
        for _attempt in range(5):
            command = server_command(
                self.port,
                binary=self.binary,
                module=self.module,
                module_args=self.module_args,
                extra=self.extra,
                workdir=self.dir.name,
            )
            self.proc = subprocess.Popen(
                [*self.prefix, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if self._answers():
                return
            self.stop()
            self.port = free_port()
        raise ServerDidNotStart(f"{self.binary} would not start")

    def _answers(self) -> bool:
        deadline = time.monotonic() + self.timeout_s
        probe = self.client(protocol=2, socket_timeout=1)
        try:
            while self.proc is not None and self.proc.poll() is None:
                try:
                    if probe.ping():
                        return True
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.02)
            return False
        finally:
            probe.close()

    def stop(self) -> None:
        """Kills the server (the port stays this server's, for ``start``)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        self.dir.cleanup()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(
        self,
        kind: Optional[type[BaseException]],
        error: Optional[BaseException],
        trace: Optional[TracebackType],
    ) -> None:
        self.close()
