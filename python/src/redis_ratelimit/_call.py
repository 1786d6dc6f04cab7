"""One request of the limiter, and the command line each form of it takes.

The same request goes out as the module's command (``RATELIMIT.CHECK``), the function
library's (``FCALL ratelimit_check``) or the script's (``EVALSHA``); the in-process
limiter takes it as it is. Building it once is what keeps every form on the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from . import script
from .limits import Limit

Key = Union[str, bytes]

#: The requests, by the name the script library knows them by.
COMMANDS = ("check", "peek", "mcheck", "charge")


@dataclass(frozen=True)
class Call:
    """``command`` (check, peek, mcheck or charge) with ``limits[i]`` kept under
    ``keys[i]`` (one of each unless mcheck), and the options every limit shares:
    ``cost`` for all, or ``costs``, one per limit (MCHECK's ``COSTS``); a charge's
    ``amount`` (negative: a refund)."""

    command: str
    keys: tuple[Key, ...]
    limits: tuple[Limit, ...]
    algorithm: str
    cost: int = 1
    burst: Optional[int] = None
    costs: Optional[tuple[int, ...]] = None
    amount: int = 0

    def options(self) -> list[Any]:
        """Windows are always sent in milliseconds; the defaults (ALGORITHM FIXED,
        COST 1) are left out, which every form reads faster."""
        words: list[Any] = ["MS"]
        if self.algorithm != "fixed":
            words += ["ALGORITHM", self.algorithm.upper()]
        if self.costs is not None:
            words += ["COSTS", *self.costs]
        elif self.command != "charge" and self.cost != 1:
            words += ["COST", self.cost]
        if self.burst is not None:
            words += ["BURST", self.burst]
        return words

    def pairs(self) -> list[Any]:
        """``limit window`` for each key, in order (then a charge's amount)."""
        words: list[Any] = []
        for lim in self.limits:
            words += [lim.amount, lim.window_ms]
        if self.command == "charge":
            words.append(self.amount)
        return words


def module_args(call: Call) -> list[Any]:
    """``RATELIMIT.CHECK key limit window ...`` (PEEK, CHARGE ``... amount``), or
    MCHECK's interleaved triples."""
    if call.command == "mcheck":
        words: list[Any] = ["RATELIMIT.MCHECK", len(call.keys)]
        for key, lim in zip(call.keys, call.limits):
            words += [key, lim.amount, lim.window_ms]
        return words + call.options()
    return [f"RATELIMIT.{call.command.upper()}", call.keys[0], *call.pairs(), *call.options()]


def function_args(call: Call) -> list[Any]:
    """``FCALL ratelimit_<command> numkeys keys... pairs... options`` (PEEK through
    ``FCALL_RO``, so it runs on replicas too)."""
    fcall = "FCALL_RO" if call.command == "peek" else "FCALL"
    return [
        fcall,
        f"{script.LIBRARY}_{call.command}",
        len(call.keys),
        *call.keys,
        *call.pairs(),
        *call.options(),
    ]


def script_args(call: Call, *, load: bool = False) -> list[Any]:
    """``EVALSHA sha numkeys keys... <command> pairs... options``; with ``load``, the
    same through ``EVAL`` with the source (after ``NOSCRIPT``)."""
    head: Sequence[Any] = ("EVAL", script.eval_source()) if load else ("EVALSHA", script.sha())
    return [*head, len(call.keys), *call.keys, call.command, *call.pairs(), *call.options()]
