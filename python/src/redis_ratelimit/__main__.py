"""``python -m redis_ratelimit``: the module's path, or a local server with it loaded.

python -m redis_ratelimit module-path
redis-server --loadmodule "$(python -m redis_ratelimit module-path)"
python -m redis_ratelimit server [--port 6379] [--server PATH] [-- redis-server options]
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from .module import module_path, run_server


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
    args = parser.parse_args(argv)
    try:
        if args.command == "module-path":
            print(module_path())
            return 0
        return run_server(args.port, args.server, tuple(args.extra))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
