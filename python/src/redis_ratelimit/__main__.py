"""``python -m redis_ratelimit``: the module's path, a local server with it loaded, and
the script library for servers that cannot load the module.

python -m redis_ratelimit module-path
redis-server --loadmodule "$(python -m redis_ratelimit module-path)"
python -m redis_ratelimit server [--port 6379] [--server PATH] [-- redis-server options]
python -m redis_ratelimit functions path
python -m redis_ratelimit functions load [--url redis://127.0.0.1:6379]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Optional

import redis

from . import script
from ._drivers import drive_on_node, primaries
from ._forms import ensure_library
from .module import module_path
from .testing import server_command


def _client(url: str) -> Any:
    """A client for ``url``; a cluster client when the server is a cluster node."""
    client = redis.Redis.from_url(url)
    if client.info("cluster").get("cluster_enabled"):
        client.close()
        return redis.cluster.RedisCluster.from_url(url)
    return client


def load_functions(url: str) -> int:
    """Loads the function library on the server at ``url`` (every primary of a
    cluster), unless it holds the same version or a newer one; prints each node's."""
    client = _client(url)
    try:
        for node in primaries(client):
            where = url if node is None else f"{node.host}:{node.port}"
            if not drive_on_node(ensure_library(), client, node):
                print(f"error: {where} refuses FUNCTION LOAD or FCALL", file=sys.stderr)
                return 1
            target = {} if node is None else {"target_nodes": node}
            loaded = client.execute_command("FCALL_RO", f"{script.LIBRARY}_version", 0, **target)
            text = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
            print(f"{where}: {script.LIBRARY} {text}")
    finally:
        client.close()
    return 0


def run_server(port: int, server: Optional[str], extra: tuple[str, ...]) -> int:
    """Becomes the server (exec): Ctrl-C and signals reach redis-server itself, and no
    Python process is left between them and it. Returns only if it could not start."""
    command = server_command(port, binary=server, extra=extra)
    try:
        os.execvp(command[0], command)
    except OSError as err:
        print(f"error: cannot run {command[0]}: {err.strerror}", file=sys.stderr)
    return 1


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m redis_ratelimit", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("module-path", help="print the path of the module shipped in this package")
    server = commands.add_parser(
        "server", help="run redis-server (from the PATH) on 127.0.0.1 with the module loaded"
    )
    server.add_argument("--port", type=int, default=6379)
    server.add_argument("--server", help="the redis-server binary (default: the one on the PATH)")
    server.add_argument("extra", nargs="*", help="more redis-server options, after --")
    functions = commands.add_parser(
        "functions", help="the script library, for servers that cannot load the module"
    )
    action = functions.add_subparsers(dest="action", required=True)
    action.add_parser("path", help="print the path of the Lua library shipped in this package")
    load = action.add_parser(
        "load",
        help="FUNCTION LOAD the library (every primary of a cluster) unless it is there "
        "at this version or newer",
    )
    load.add_argument("--url", default="redis://127.0.0.1:6379")
    args = parser.parse_args(argv)
    try:
        if args.command == "module-path":
            print(module_path())
            return 0
        if args.command == "functions":
            if args.action == "path":
                print(script.library_path())
                return 0
            return load_functions(args.url)
        return run_server(args.port, args.server, tuple(args.extra))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except redis.exceptions.RedisError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
