"""The script library: the module's commands written in Lua (the repository's
``lua/ratelimit.lua``, shipped in this package), for servers that cannot load the
module. Managed services (ElastiCache, Memorystore, Azure, Upstash, Redis Cloud)
refuse ``MODULE LOAD`` but run Lua.

One source, two ways: ``FUNCTION LOAD`` as the function library ``ratelimit`` (Redis
7.0+, Valkey), or ``EVAL``/``EVALSHA`` without its first line (any server with
scripting, Redis 6.2 too). It decides as the module does, on the module's state
layout, so a key moves between the forms with its count.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

LUA_FILE = "ratelimit.lua"
#: The function library's name.
LIBRARY = "ratelimit"


def library_path() -> Path:
    """The Lua source inside this package (``python -m redis_ratelimit functions
    path`` prints it)."""
    path = Path(__file__).resolve().parent / LUA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install a built wheel (`make dist`)")
    return path


@functools.cache
def source() -> str:
    """The source as ``FUNCTION LOAD`` takes it."""
    return library_path().read_text(encoding="utf-8")


@functools.cache
def eval_source() -> str:
    """The source as ``EVAL`` takes it: without the ``#!lua name=ratelimit`` line."""
    return source().split("\n", 1)[1]


@functools.cache
def sha() -> str:
    """The SHA1 that ``EVALSHA`` names the script by."""
    return hashlib.sha1(eval_source().encode()).hexdigest()


@functools.cache
def version() -> str:
    """The library's version, as ``FCALL_RO ratelimit_version 0`` answers it."""
    match = re.search(r"^local VERSION = '([^']+)'$", source(), re.MULTILINE)
    if match is None:
        raise ValueError(f"{library_path()} declares no VERSION")
    return match[1]


def version_key(text: str) -> tuple[int, ...]:
    """A version's numbers, for ordering ("0.10.0" after "0.9.1"); anything that is
    not numbers orders first, so it never wins over a real version."""
    parts = text.split(".")
    if not all(p.isdigit() for p in parts):
        return ()
    return tuple(int(p) for p in parts)
