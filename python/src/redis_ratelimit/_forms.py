"""Which form of the limiter a server takes, found on first use.

A server answers the limiter's requests in one of three forms, tried in this order:

1. the module's commands (``RATELIMIT.CHECK``): the fastest, where the module is loaded;
2. the function library ``ratelimit`` (``FCALL``), loaded by the client when it is
   absent or older, where ``FUNCTION LOAD`` is allowed (Redis 7.0+, Valkey);
3. the script (``EVALSHA``, ``EVAL`` after ``NOSCRIPT``), where only scripts run.

The choice is remembered per client and made again after an answer that says it
changed: an unknown command (the module is gone after a restart), ``Function not
found`` (the library was flushed, or a failover reached a node without it),
``NOSCRIPT``. A client on the library or the script asks for the module again at most
once per ``probe_s`` (a minute by default) and after a lost connection, so a module
loaded later is used without a restart. Each choice is logged once, at INFO. A server
that answers but refuses all three is a configuration error: ``ServerUnsupported``
says how to fix it, and is logged once at ERROR.

Written without I/O: the selection is a generator that yields the commands to send
and is handed their replies (or their errors), so the blocking and the asyncio clients
share it (see ``_drivers``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Optional, Union

import redis.exceptions

from . import script
from ._call import Call, function_args, module_args, script_args

log = logging.getLogger("redis_ratelimit")

MODULE, FUNCTIONS, SCRIPT = "module", "functions", "script"
#: Every form, in the order they are tried.
FORMS = (MODULE, FUNCTIONS, SCRIPT)

DESCRIPTIONS = {
    MODULE: "the ratelimit module (RATELIMIT.*)",
    FUNCTIONS: "the ratelimit function library (FCALL)",
    SCRIPT: "the ratelimit script (EVALSHA)",
}


class ServerUnsupported(redis.exceptions.ResponseError):
    """The server answers, but has no ratelimit module and refuses both the function
    library and the script: a configuration error, not an outage."""


@dataclass(frozen=True)
class Send:
    """One command, sent as the client sends any (routed by its keys in a cluster)."""

    args: tuple[Any, ...]


@dataclass(frozen=True)
class EnsureLibrary:
    """The function library on every primary: the driver runs ``ensure_library`` on
    each, and answers whether all of them have it now."""


Step = Union[Send, EnsureLibrary]


class _Unavailable(Exception):
    """This form is not offered here; the reason goes into the log."""


def _text(err: BaseException) -> str:
    return str(err).lower()


def refused(err: BaseException) -> bool:
    """Whether an error says the command itself is not there or not allowed (an
    unknown command, an ACL that refuses it), as opposed to refusing its input."""
    text = _text(err)
    return "unknown command" in text or "permissions to run" in text


def function_missing(err: BaseException) -> bool:
    return "function not found" in _text(err)


def ensure_library() -> Generator[Send, Any, bool]:
    """Makes one node hold the library at this package's version or newer: asks the
    loaded version, loads it where it is missing, replaces it where it is older (never
    where it is newer). False when the node refuses functions."""
    ours = script.version_key(script.version())
    for _ in range(3):  # another client may load it between our look and our load
        try:
            loaded = yield Send(("FCALL_RO", f"{script.LIBRARY}_version", 0))
        except redis.exceptions.ResponseError as err:
            if refused(err):
                return False
            if not function_missing(err):
                raise
            loaded = None
        if isinstance(loaded, bytes):
            loaded = loaded.decode()
        if loaded is not None and script.version_key(loaded) >= ours:
            return True
        replace = ("REPLACE",) if loaded is not None else ()
        try:
            yield Send(("FUNCTION", "LOAD", *replace, script.source()))
        except redis.exceptions.ResponseError as err:
            if "already exists" in _text(err):
                continue
            if refused(err):
                return False
            raise
        log.info(
            "rate limiting: loaded the %s function library %s%s",
            script.LIBRARY,
            script.version(),
            f" over version {loaded}" if loaded else "",
        )
        return True
    return False


#: How often a client on the library or the script asks for the module, by default.
MODULE_PROBE_S = 60.0


class Selector:
    """The form one client's server takes; shared by the threads or tasks using it."""

    def __init__(
        self, where: str, forms: tuple[str, ...] = FORMS, probe_s: float = MODULE_PROBE_S
    ) -> None:
        unknown = set(forms) - set(FORMS)
        if unknown or not forms:
            raise ValueError(f"forms must be taken from {FORMS}, not {forms!r}")
        if not probe_s > 0:
            raise ValueError(f"module_probe_s must be above 0, not {probe_s!r}")
        self.where = where
        self.forms = forms
        self.probe_s = probe_s
        self._next_probe = time.monotonic()
        #: The form in use, once one has answered.
        self.form: Optional[str] = None
        self._library_ready = False
        self._lock = threading.Lock()
        self._announced: Optional[str] = None
        self._unsupported_logged = False

    def run(self, call: Call) -> Generator[Step, Any, Any]:
        """Sends ``call`` in the form in use, finding one first when needed; returns
        the reply."""
        tried: list[str] = []
        reasons: list[str] = []
        form = self.form
        if form not in (None, MODULE) and MODULE in self.forms and self._probe_due():
            # Loaded since this client chose (MODULE LOAD, a restart with
            # --loadmodule): the faster form, on the same keys.
            try:
                reply = yield from self._attempt(MODULE, call)
            except _Unavailable:
                pass
            else:
                self._use(MODULE)
                return reply
        while True:
            if form is None:
                form = next((f for f in self.forms if f not in tried), None)
                if form is None:
                    raise self._unsupported(reasons)
            try:
                reply = yield from self._attempt(form, call)
            except _Unavailable as why:
                tried.append(form)
                reasons.append(str(why))
                if self.form == form:
                    self.form = None
                form = None
                continue
            self._use(form)
            return reply

    def _attempt(self, form: str, call: Call) -> Generator[Step, Any, Any]:
        if form == MODULE:
            return (yield from _send(module_args(call), "the module is not loaded"))
        if form == FUNCTIONS:
            if not self._library_ready:
                yield from self._load_library()
            try:
                return (yield Send(tuple(function_args(call))))
            except redis.exceptions.ResponseError as err:
                if not function_missing(err):
                    _raise_unavailable(err, "functions are refused")
                    raise
            # Gone since it was loaded (FUNCTION FLUSH, a failover, a new node).
            self._library_ready = False
            yield from self._load_library()
            return (yield from _send(function_args(call), "functions are refused"))
        try:
            return (yield Send(tuple(script_args(call))))
        except redis.exceptions.ResponseError as err:
            if not isinstance(err, redis.exceptions.NoScriptError):
                _raise_unavailable(err, "scripts are refused")
                raise
        # NOSCRIPT: a restart, a failover or SCRIPT FLUSH; EVAL sends and caches it.
        return (yield from _send(script_args(call, load=True), "scripts are refused"))

    def _probe_due(self) -> bool:
        """Whether this request asks for the module first; it takes the turn."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_probe:
                return False
            self._next_probe = now + self.probe_s
            return True

    def connection_lost(self) -> None:
        """A request got no answer: once the connection is back, ask for the module."""
        self._next_probe = time.monotonic()

    def _load_library(self) -> Generator[Step, Any, None]:
        if not (yield EnsureLibrary()):
            raise _Unavailable("FUNCTION LOAD or FCALL is refused")
        self._library_ready = True

    def _use(self, form: str) -> None:
        self.form = form
        if self._announced == form:
            return
        with self._lock:
            if self._announced == form:
                return
            self._announced = form
            self._unsupported_logged = False
            self._next_probe = time.monotonic() + self.probe_s
        log.info("rate limiting through %s on %s", DESCRIPTIONS[form], self.where)

    def _unsupported(self, reasons: list[str]) -> ServerUnsupported:
        message = (
            f"{self.where} answers, but offers no form of the rate limiter "
            f"({'; '.join(reasons)}). Load the module there (redis-server --loadmodule "
            "<path printed by `python -m redis_ratelimit module-path`>), or let this "
            "client's user run FUNCTION LOAD and FCALL, or EVAL and EVALSHA."
        )
        with self._lock:
            first = not self._unsupported_logged
            self._unsupported_logged = True
            self._announced = None
        if first:
            log.error("rate limiting: %s", message)
        return ServerUnsupported(message)


def _raise_unavailable(err: BaseException, reason: str) -> None:
    if refused(err):
        raise _Unavailable(f"{reason}: {err}") from err


def _send(args: list[Any], reason: str) -> Generator[Step, Any, Any]:
    try:
        return (yield Send(tuple(args)))
    except redis.exceptions.ResponseError as err:
        _raise_unavailable(err, reason)
        raise
