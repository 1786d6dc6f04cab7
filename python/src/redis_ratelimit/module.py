"""Where the module that ships in this package is, and a local server that loads it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

MODULE_FILE = "libredis_ratelimit.so"


def module_path() -> Path:
    """The module built into this package, for ``redis-server --loadmodule``.

    Raises ``FileNotFoundError`` when the package was installed without it (from a
    source tree whose build skipped the Rust part).
    """
    path = Path(__file__).resolve().parent / MODULE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: install a built wheel (`make dist` in the repository)"
        )
    return path


def server_command(
    port: int, server: Optional[str] = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """The command line of a redis-server on 127.0.0.1:``port`` with the module loaded
    and persistence off: for local development, not production."""
    binary = server or shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        raise FileNotFoundError(
            "no redis-server (or valkey-server) on the PATH: install one "
            "(Debian: apt-get install redis-server) or pass --server"
        )
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loadmodule",
        str(module_path()),
        *extra,
    ]


def run_server(port: int, server: Optional[str] = None, extra: tuple[str, ...] = ()) -> int:
    """Becomes the server (exec): Ctrl-C and signals reach redis-server itself, and no
    Python process is left between them and it. Returns only if it could not start."""
    command = server_command(port, server, extra)
    try:
        os.execvp(command[0], command)
    except OSError as err:
        raise FileNotFoundError(f"cannot run {command[0]}: {err.strerror}") from err
    return 1  # not reached: execvp returns only by raising
