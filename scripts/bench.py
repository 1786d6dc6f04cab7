#!/usr/bin/env python3
"""`make bench`: the module against the baselines a user would otherwise pick, measured
side by side on one redis-server in one run.

Every figure is a ratio to a baseline measured in the same round (the machine is
noisy), and the table shows the median over the rounds. Speed is measured here and
never asserted in tests.

Sections:
  1. server time per call (INFO commandstats usec_per_call, after CONFIG RESETSTAT)
     and throughput (redis-benchmark), pipelined (-P 16) and not, random and hot keys,
     for the module's commands and the script library (FCALL, EVALSHA); then server
     time with a replica attached; then the script library against the peers' scripts
     on a server without the module;
  2. bytes per key (used_memory over many keys), and per LOG entry;
  3. replication bytes per call (master_repl_offset with a replica attached);
  4. the demo app under HTTP load (wrk).
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import redis
from redis_ratelimit.testing import LocalServer, free_port

ROOT = Path(__file__).resolve().parent.parent
# The module measured: $RATELIMIT_MODULE (make bench: the release's), else make build's.
MODULE = Path(os.environ.get("RATELIMIT_MODULE", ROOT / "target/release/libredis_ratelimit.so"))
# The script library: FUNCTION LOAD takes the file, EVAL the file without its first line.
LIBRARY = (ROOT / "lua/ratelimit.lua").read_text()
LIBRARY_EVAL = LIBRARY.split("\n", 1)[1]
DEMO = ROOT / "target/release/ratelimit-demo"
FAR_FUTURE_MS = str(int(time.time() * 1000) + 10 * 365 * 86400 * 1000)

# The fixed window web teams write by hand: INCR, then EXPIRE on the first hit.
LUA_FIXED = """
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if c > tonumber(ARGV[1]) then return 0 end
return 1
"""


class Server(LocalServer):
    """A redis-server of the benchmark's own, with the module (and CL.THROTTLE), from
    the package's helper: a context manager, killed on leaving it. `binary` is the
    server to measure."""

    def __init__(self, binary, extra=(), cpu=None, load=()):
        super().__init__(
            binary=binary,
            module=MODULE,
            module_args=("CELL-COMPAT", "yes", *load),
            extra=("--repl-diskless-sync-delay", "0", *extra),
            prefix=tuple(pinned(cpu)),
        )
        self.client = redis.Redis(port=self.port, decode_responses=True)

    def usec_per_call(self, command):
        stats = self.client.info("commandstats")
        for name, fields in stats.items():
            if name.lower() == "cmdstat_" + command.lower():
                return float(fields["usec_per_call"])
        raise SystemExit(f"{command} never ran: {sorted(stats)}")


def pinned(cpu):
    """A command prefix that runs on one CPU, so that the server and the load
    generator do not take turns on the same core (less noise on a small machine)."""
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        return []
    return ["taskset", "-c", str(cpu)]


def median(values):
    return statistics.median(values) if values else float("nan")


# --- 1. server time per call and throughput ---------------------------------------

# Rows of the script library (lua/ratelimit.lua), on the same server as the module.
LIB_FCALL = "Script library FIXED (FCALL)"
LIB_EVALSHA = "Script library FIXED (EVALSHA)"


def library_specs(eval_sha, functions):
    """The script library's rows: FCALL where the server has functions (7.0+)."""
    rows = []
    if functions:
        fcall = ["FCALL", "ratelimit_check", "1", "{k}", "100", "60"]
        rows += [
            (LIB_FCALL, fcall, "fcall"),
            ("Script library SLIDING (FCALL)", fcall + ["ALGORITHM", "SLIDING"], "fcall"),
            ("Script library GCRA (FCALL)", fcall + ["ALGORITHM", "GCRA"], "fcall"),
            ("Script library LOG (FCALL)", fcall + ["ALGORITHM", "LOG"], "fcall"),
            ("Script library MCHECK, 2 limits (FCALL)",
             ["FCALL", "ratelimit_mcheck", "2", "{k}:a", "{k}:b", "100", "60", "1000", "3600"],
             "fcall"),
        ]
    rows.append((LIB_EVALSHA, ["EVALSHA", eval_sha, "1", "{k}", "check", "100", "60"],
                 "evalsha"))
    return rows


def load_library(server):
    """Loads the script library into `server`: the EVALSHA digest, and whether the
    function library is there too (Redis 7.0+, Valkey)."""
    eval_sha = server.client.script_load(LIBRARY_EVAL)
    try:
        server.client.function_load(LIBRARY, replace=True)
        return eval_sha, True
    except redis.exceptions.ResponseError:
        return eval_sha, False


def speed_specs(sha, library=()):
    """(label, command with {k} for the key, the command INFO counts it under)."""
    return [
        ("INCR", ["INCR", "{k}"], "incr"),
        ("SET k v PXAT t (write floor)", ["SET", "{k}", "v", "PXAT", FAR_FUTURE_MS], "set"),
        ("Lua fixed window (EVALSHA)", ["EVALSHA", sha, "1", "{k}", "100", "60"], "evalsha"),
        ("MULTI INCR EXPIRE EXEC", None, "exec"),
        ("CHECK FIXED", ["RATELIMIT.CHECK", "{k}", "100", "60"], "ratelimit.check"),
        ("CHECK SLIDING", ["RATELIMIT.CHECK", "{k}", "100", "60", "ALGORITHM", "SLIDING"],
         "ratelimit.check"),
        ("CHECK GCRA", ["RATELIMIT.CHECK", "{k}", "100", "60", "ALGORITHM", "GCRA"],
         "ratelimit.check"),
        ("CHECK LOG", ["RATELIMIT.CHECK", "{k}", "100", "60", "ALGORITHM", "LOG"],
         "ratelimit.check"),
        ("MCHECK, 2 limits (FIXED)",
         ["RATELIMIT.MCHECK", "2", "{k}:a", "100", "60", "{k}:b", "1000", "3600"],
         "ratelimit.mcheck"),
        ("CL.THROTTLE (GCRA)", ["CL.THROTTLE", "{k}", "99", "100", "60"], "cl.throttle"),
        (COMPACT_FIXED, ["RATELIMIT.CHECK", "{k}", "100", "60"], "ratelimit.check"),
        (COMPACT_GCRA, ["RATELIMIT.CHECK", "{k}", "100", "60", "ALGORITHM", "GCRA"],
         "ratelimit.check"),
        *library,
    ]


# Rows measured on a second server, whose module was loaded with COMPACT-STATE yes.
COMPACT = ["COMPACT-STATE", "yes"]
COMPACT_FIXED = "CHECK FIXED, COMPACT-STATE yes"
COMPACT_GCRA = "CHECK GCRA, COMPACT-STATE yes"


def run_benchmark(port, args, requests, pipeline, random_keys):
    cmd = pinned(1) + ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "50",
           "-P", str(pipeline), "-q"]
    if random_keys:
        cmd += ["-r", "100000"]
    out = subprocess.run(cmd + args, capture_output=True, text=True, check=True).stdout
    found = re.findall(r"([\d.]+) requests per second", out)
    if not found:
        raise SystemExit(f"no throughput in redis-benchmark output: {out!r}")
    return float(found[-1])


def run_multi(server, prefix, requests, random_keys):
    """MULTI/INCR/EXPIRE/EXEC from a Python pipeline: server time only (the client,
    not the server, bounds its throughput)."""
    pipe = server.client.pipeline(transaction=False)
    batch = 200
    for i in range(requests // 20):
        key = f"{prefix}{i % 100000 if random_keys else 0}"
        pipe.execute_command("MULTI")
        pipe.execute_command("INCR", key)
        pipe.execute_command("EXPIRE", key, 60)
        pipe.execute_command("EXEC")
        if i % batch == batch - 1:
            pipe.execute()
    pipe.execute()


class SpeedRow(NamedTuple):
    """One command in one round: server time per call and throughput, and both as
    ratios to INCR in the same round."""
    usec: float
    rps: float
    usec_ratio: float
    rps_ratio: float


def speed(main, compact, rounds, requests):
    sha = main.client.script_load(LUA_FIXED)
    eval_sha, functions = load_library(main)
    specs = speed_specs(sha, library_specs(eval_sha, functions))
    modes = [(16, True, "random keys, -P 16"), (1, True, "random keys, no pipelining"),
             (16, False, "one hot key, -P 16")]
    # results[mode][label] = one SpeedRow per round
    results = {m[2]: {s[0]: [] for s in specs} for m in modes}
    for r in range(rounds):
        for pipeline, random_keys, mode in modes:
            base = None
            for label, args, counted in specs:
                server = compact if label in (COMPACT_FIXED, COMPACT_GCRA) else main
                # FLUSHALL keeps functions and scripts (SCRIPT FLUSH is separate).
                server.client.flushall()
                server.client.config_resetstat()
                prefix = re.sub(r"\W+", "_", label) + ":"
                key = prefix + ("__rand_int__" if random_keys else "hot")
                n = requests if pipeline > 1 else requests // 4
                if args is None:
                    if pipeline == 1:
                        continue
                    run_multi(server, prefix, n, random_keys)
                    rps = float("nan")
                else:
                    argv = [a.replace("{k}", key) for a in args]
                    rps = run_benchmark(server.port, argv, n, pipeline, random_keys)
                usec = server.usec_per_call(counted)
                if base is None:
                    base = (usec, rps)
                results[mode][label].append(
                    SpeedRow(usec, rps, usec / base[0], rps / base[1]))
        print(f"  round {r + 1} of {rounds} done", file=sys.stderr)
    print("\n## Server time per call and throughput "
          f"(median of {rounds} rounds; ratios to INCR in the same round)\n")
    for _, _, mode in modes:
        print(f"### {mode}\n")
        print("| command | usec/call | x INCR | requests/s | x INCR |")
        print("|---|---:|---:|---:|---:|")
        for label, args, _ in specs:
            rows = results[mode][label]
            if not rows:
                continue
            usec = median([x.usec for x in rows])
            ratio = median([x.usec_ratio for x in rows])
            rps = median([x.rps for x in rows])
            rps_ratio = median([x.rps_ratio for x in rows])
            rps_text = "-" if rps != rps else f"{rps:,.0f}"
            rps_ratio_text = "-" if rps_ratio != rps_ratio else f"{rps_ratio:.2f}"
            print(f"| {label} | {usec:.2f} | {ratio:.2f} | {rps_text} | {rps_ratio_text} |")
        print()
    floor = results[modes[0][2]]["SET k v PXAT t (write floor)"]
    fixed = results[modes[0][2]]["CHECK FIXED"]
    print("CHECK FIXED against the native write with an absolute expiry "
          f"(SET k v PXAT t): {median([f.usec / s.usec for f, s in zip(fixed, floor)]):.2f}x "
          "its server time.\n")
    lua = results[modes[0][2]]["Lua fixed window (EVALSHA)"]
    print("Speed-up over the Lua fixed window (server time, random keys, -P 16):\n")
    for label in ["CHECK FIXED", "CHECK SLIDING", "CHECK GCRA", "CHECK LOG",
                  COMPACT_FIXED, COMPACT_GCRA]:
        rows = results[modes[0][2]][label]
        gains = [l.usec / c.usec for l, c in zip(lua, rows)]
        print(f"- {label}: {median(gains):.2f}x faster")
    print()
    print("The script library's FIXED against the Lua fixed window (server time, "
          "random keys, -P 16; above 1 is slower):\n")
    for label in (LIB_FCALL, LIB_EVALSHA):
        rows = results[modes[0][2]].get(label)
        if rows:
            print(f"- {label}: {median([c.usec / l.usec for l, c in zip(lua, rows)]):.2f}x")
    print()


def speed_with_replica(binary, rounds, requests):
    """Server time per call on a primary with a replica attached: what replicating
    each form's effects adds (random keys, -P 16)."""
    with Server(binary, cpu=0) as primary, \
            Server(binary, ["--replicaof", "127.0.0.1", str(primary.port)]) as replica:
        wait_for_link(replica)
        sha = primary.client.script_load(LUA_FIXED)
        eval_sha, functions = load_library(primary)
        wanted = {"INCR", "Lua fixed window (EVALSHA)", "CHECK FIXED", "CHECK GCRA",
                  LIB_FCALL, "Script library GCRA (FCALL)", LIB_EVALSHA}
        specs = [s for s in speed_specs(sha, library_specs(eval_sha, functions))
                 if s[0] in wanted]
        results = {s[0]: [] for s in specs}
        for _ in range(rounds):
            base = None
            for label, args, counted in specs:
                primary.client.flushall()
                primary.client.config_resetstat()
                key = re.sub(r"\W+", "_", label) + ":__rand_int__"
                argv = [a.replace("{k}", key) for a in args]
                run_benchmark(primary.port, argv, requests, 16, True)
                usec = primary.usec_per_call(counted)
                base = base or usec
                results[label].append((usec, usec / base))
        print(f"## Server time per call with a replica attached (random keys, -P 16; "
              f"median of {rounds} rounds)\n")
        print("| command | usec/call | x INCR |")
        print("|---|---:|---:|")
        for label, _, _ in specs:
            rows = results[label]
            print(f"| {label} | {median([r[0] for r in rows]):.2f} | "
                  f"{median([r[1] for r in rows]):.2f} |")
        print()


# The scripts a managed-Redis user runs today, re-written here from each one's published
# logic (the same Redis calls per request, in the same order), beside the script
# library on the same server: the fixed window written by hand (and by upstash and
# limits: INCRBY, PEXPIRE on the first hit), upstash's sliding window (GET, GET,
# INCRBY, PEXPIRE), redis-gcra as go-redis/redis_rate runs it (TIME, GET, SET EX) and
# limits' moving window (LINDEX, LPUSH, LTRIM, EXPIRE). Timestamps the peers take from
# their client are fixed arguments here: the cost per call is the same.
PEER_FIXED = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
PEER_SLIDING = """
local limit, now, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local current = tonumber(redis.call('GET', KEYS[1]) or 0)
local previous = tonumber(redis.call('GET', KEYS[2]) or 0)
local weight = 1 - (now % window) / window
previous = math.floor(previous * weight)
if previous + current >= limit then return -1 end
local n = redis.call('INCRBY', KEYS[1], cost)
if n == cost then redis.call('PEXPIRE', KEYS[1], window * 2 + 1000) end
return limit - (n + previous)
"""
PEER_GCRA = """
local burst, rate, period, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local interval = period / rate
local t = redis.call('TIME')
local now = (t[1] - 1483228800) + t[2] / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local diff = now - (new_tat - interval * burst)
local remaining = diff / interval
if remaining < 0 then return { 0, 0, tostring(-diff), tostring(tat - now) } end
local reset = new_tat - now
if reset > 0 then redis.call('SET', KEYS[1], new_tat, 'EX', math.ceil(reset)) end
return { cost, math.floor(remaining), '-1', tostring(reset) }
"""
PEER_LOG = """
local now, limit, expiry, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if cost > limit then return false end
local entry = redis.call('LINDEX', KEYS[1], limit - cost)
if entry and tonumber(entry) >= now - expiry then return false end
local entries = {}
for i = 1, cost do entries[i] = now end
redis.call('LPUSH', KEYS[1], unpack(entries))
redis.call('LTRIM', KEYS[1], 0, limit - 1)
redis.call('EXPIRE', KEYS[1], expiry)
return true
"""


def peers(binary, rounds, requests):
    """Server time per call of the peers' scripts against the script library, on a
    primary with a replica attached and no module loaded (a managed service), random
    keys and one hot key over its limit, -P 16; each ratio is taken in its round."""
    with LocalServer(binary=binary, module=False, extra=("--repl-diskless-sync-delay", "0"),
                     prefix=tuple(pinned(0))) as primary, \
            LocalServer(binary=binary, module=False,
                        extra=("--replicaof", "127.0.0.1", str(primary.port))) as replica:
        client = redis.Redis(port=primary.port, decode_responses=True)
        wait_for_link(_Linked(redis.Redis(port=replica.port, decode_responses=True)))
        sha = {name: client.script_load(body) for name, body in
               [("fixed", PEER_FIXED), ("sliding", PEER_SLIDING), ("gcra", PEER_GCRA),
                ("log", PEER_LOG)]}
        eval_sha = client.script_load(LIBRARY_EVAL)
        client.function_load(LIBRARY, replace=True)
        now = str(int(time.time()))
        lib = ["FCALL", "ratelimit_check", "1", "{k}", "100", "60"]
        # (label, peer command, ours, random keys); commandstats counts every EVALSHA
        # under one name, so each is measured on its own.
        pairs = [
            ("fixed", ["EVALSHA", sha["fixed"], "1", "{k}", "60000", "1"], lib, True),
            ("fixed, EVALSHA", ["EVALSHA", sha["fixed"], "1", "{k}", "60000", "1"],
             ["EVALSHA", eval_sha, "1", "{k}", "check", "100", "60"], True),
            ("sliding", ["EVALSHA", sha["sliding"], "2", "{k}:c", "{k}:p", "100", now,
                         "60000", "1"], lib + ["ALGORITHM", "SLIDING"], True),
            ("gcra", ["EVALSHA", sha["gcra"], "1", "{k}", "100", "100", "60", "1"],
             lib + ["ALGORITHM", "GCRA"], True),
            ("log", ["EVALSHA", sha["log"], "1", "{k}", now, "100", "60", "1"],
             lib + ["ALGORITHM", "LOG"], True),
            ("fixed, one hot key over its limit", ["EVALSHA", sha["fixed"], "1", "{k}",
                                                    "60000", "1"], lib, False),
        ]

        def usec(args, random_keys):
            client.flushall()
            client.config_resetstat()
            key = "k:" + ("__rand_int__" if random_keys else "hot")
            argv = [a.replace("{k}", key) for a in args]
            run_benchmark(primary.port, argv, requests, 16, random_keys)
            name = args[0].lower()
            return float(client.info("commandstats")[f"cmdstat_{name}"]["usec_per_call"])

        results = {label: [] for label, *_ in pairs}
        for _ in range(rounds):
            for label, peer, ours, random_keys in pairs:
                p, o = usec(peer, random_keys), usec(ours, random_keys)
                results[label].append((p, o, o / p))
        print("## The script library against the scripts users run today (no module, a "
              f"replica attached, -P 16; median of {rounds} rounds)\n")
        print("| algorithm | peer usec/call | library usec/call | library x peer |")
        print("|---|---:|---:|---:|")
        for label, *_ in pairs:
            rows = results[label]
            print(f"| {label} | {median([r[0] for r in rows]):.2f} | "
                  f"{median([r[1] for r in rows]):.2f} | {median([r[2] for r in rows]):.2f} |")
        print()


class _Linked(NamedTuple):
    """A replica started without the benchmark's Server class, for `wait_for_link`."""
    client: redis.Redis


def wait_for_link(replica):
    deadline = time.monotonic() + 20
    while replica.client.info("replication").get("master_link_status") != "up":
        if time.monotonic() > deadline:
            raise SystemExit("replica did not attach")
        time.sleep(0.05)


# --- 2. bytes per key --------------------------------------------------------------

def per_key(server, body, n):
    # SYNC: Valkey frees a flushed keyspace in the background by default, which would
    # land in the middle of the measurement.
    server.client.execute_command("FLUSHALL", "SYNC")
    before = server.client.info("memory")["used_memory"]
    server.client.eval(
        f"for i = 1, {n} do local k = 'rl:bench:' .. string.format('%09d', i) {body} end "
        "return 0", 0)
    after = server.client.info("memory")["used_memory"]
    return (after - before) / n


def memory(server, compact, n):
    def check(alg, calls=2, limit=10, cost=1):
        one = (f"redis.call('RATELIMIT.CHECK', k, {limit}, 60, 'ALGORITHM', '{alg}', "
               f"'COST', {cost}) ")
        return one * calls
    base = per_key(server, "redis.call('INCR', k) redis.call('EXPIRE', k, 60) "
                   "redis.call('INCR', k)", n)
    print(f"## Bytes per key ({n:,} keys, two calls each; key names of 18 bytes)\n")
    print("| keys made by | bytes/key | x INCR+EXPIRE |")
    print("|---|---:|---:|")
    print(f"| INCR + EXPIRE | {base:.0f} | 1.00 |")
    for alg in ["FIXED", "SLIDING", "GCRA", "LOG"]:
        b = per_key(server, check(alg), n)
        print(f"| RATELIMIT.CHECK {alg} | {b:.0f} | {b / base:.2f} |")
    for alg in ["FIXED", "GCRA"]:
        b = per_key(compact, check(alg), n)
        print(f"| RATELIMIT.CHECK {alg}, COMPACT-STATE yes | {b:.0f} | {b / base:.2f} |")
    two = per_key(server, check("LOG"), n // 10)
    many = per_key(server, check("LOG", calls=1, limit=100, cost=42), n // 10)
    print(f"\nLOG: {(many - two) / 40:.1f} bytes per extra entry kept.\n")


# --- 3. replication bytes ----------------------------------------------------------

def replication(binary, calls=2000):
    with Server(binary) as primary, \
            Server(binary, ["--replicaof", "127.0.0.1", str(primary.port)]) as replica:
        p = primary.client
        wait_for_link(replica)
        sha = p.script_load(LUA_FIXED)

        def bytes_per_call(run):
            before = p.info("replication")["master_repl_offset"]
            pipe = p.pipeline(transaction=False)
            for i in range(calls):
                run(pipe, i)
            pipe.execute()
            return (p.info("replication")["master_repl_offset"] - before) / calls

        rows = [
            ("INCR (new key each call)", lambda pp, i: pp.execute_command("INCR", f"i:{i}")),
            ("Lua fixed window, first hit (INCR + EXPIRE)",
             lambda pp, i: pp.evalsha(sha, 1, f"l:{i}", 100, 60)),
            ("CHECK FIXED, allowed", lambda pp, i: pp.execute_command(
                "RATELIMIT.CHECK", f"c:{i}", 100, 60)),
            ("CHECK GCRA, allowed", lambda pp, i: pp.execute_command(
                "RATELIMIT.CHECK", f"g:{i}", 100, 60, "ALGORITHM", "GCRA")),
        ]
        print(f"## Replication bytes per call ({calls:,} calls, replica attached)\n")
        print("| call | bytes/call |")
        print("|---|---:|")
        for label, run in rows:
            print(f"| {label} | {bytes_per_call(run):.1f} |")
        p.execute_command("RATELIMIT.CHECK", "full", 1, 60)
        denied = bytes_per_call(
            lambda pp, i: pp.execute_command("RATELIMIT.CHECK", "full", 1, 60))
        lua_denied = bytes_per_call(lambda pp, i: pp.evalsha(sha, 1, "l:0", 1, 60))
        print(f"| CHECK, denied | {denied:.1f} |")
        print(f"| Lua fixed window, over the limit (still INCRs) | {lua_denied:.1f} |\n")


# --- 4. the demo under HTTP load ---------------------------------------------------

DEMO_CONFIG = """
[redis]
timeout_ms = 250
on_failure = "local"
[clients]
trusted_proxies = []
[deny_cache]
enabled = true
max_entries = 100000
[adaptive]
enabled = false
threshold = 1.0
factor = 0.5
[[policies]]
name = "bench"
route = "/api/data"
tier = "anonymous"
algorithm = "fixed"
limits = [{{ limit = {limit}, window_s = 60 }}]
"""


def wrk(url, seconds):
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", "32", "-d", f"{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors and not url.endswith("/api/data"):
        raise SystemExit(f"{url} answered {errors.group(1)} errors under load")

    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rps, latency(50), latency(99)


def start_demo(redis_port, limit, workdir):
    config = Path(workdir) / f"demo-{limit}.toml"
    config.write_text(DEMO_CONFIG.format(limit=limit))
    port = free_port()
    proc = subprocess.Popen(
        [str(DEMO), "--redis-url", f"redis://127.0.0.1:{redis_port}",
         "--listen", f"127.0.0.1:{port}", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"})
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the demo did not start")
            time.sleep(0.05)


class DemoRow(NamedTuple):
    """One route in one wrk round, and its throughput as a ratio to the unlimited
    route in the same round."""
    rps: float
    ratio: float
    p50_ms: float
    p99_ms: float


def demo(binary, rounds, seconds):
    server = Server(binary)
    workdir = tempfile.mkdtemp()
    allowed, allowed_port = start_demo(server.port, 1_000_000_000_000, workdir)
    flooded, flooded_port = start_demo(server.port, 10, workdir)
    try:
        # The flooding client goes over its limit before the measurement.
        for _ in range(11):
            subprocess.run(["curl", "-s", "-o", "/dev/null",
                            f"http://127.0.0.1:{flooded_port}/api/data"], check=True)
        cases = [
            ("unlimited route (/api/public)", f"http://127.0.0.1:{allowed_port}/api/public"),
            ("limited route, allowed (/api/data)", f"http://127.0.0.1:{allowed_port}/api/data"),
            ("limited route, one client over its limit",
             f"http://127.0.0.1:{flooded_port}/api/data"),
        ]
        results = {label: [] for label, _ in cases}
        for _ in range(rounds):
            base = None
            for label, url in cases:
                rps, p50, p99 = wrk(url, seconds)
                base = base or rps
                results[label].append(DemoRow(rps, rps / base, p50, p99))
        print(f"## The demo app under HTTP load (wrk, 2 threads, 32 connections, {seconds} s; "
              f"median of {rounds} rounds)\n")
        print("| route | requests/s | x unlimited | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|")
        for label, _ in cases:
            rows = results[label]
            print(f"| {label} | {median([r.rps for r in rows]):,.0f} | "
                  f"{median([r.ratio for r in rows]):.2f} | "
                  f"{median([r.p50_ms for r in rows]):.2f} | "
                  f"{median([r.p99_ms for r in rows]):.2f} |")
        print()
    finally:
        for proc in (allowed, flooded):
            proc.kill()
            proc.wait()
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5, help="each wrk run")
    parser.add_argument("--only", choices=["speed", "peers", "memory", "replication", "demo"])
    parser.add_argument("--server", default="redis-server", help="redis-server binary to measure")
    args = parser.parse_args()
    binary = args.server
    version = subprocess.run([binary, "--version"], capture_output=True,
                             text=True).stdout.split(" sha=")[0]
    print(f"# redis-ratelimit benchmark\n\n{version}; {os.cpu_count()} CPUs; "
          f"{time.strftime('%Y-%m-%d')}; server and load generator pinned to separate "
          "CPUs for the server-side figures\n")
    if args.only in (None, "speed"):
        with Server(binary, cpu=0) as main_server, \
                Server(binary, cpu=0, load=COMPACT) as compact:
            speed(main_server, compact, args.rounds, args.requests)
        speed_with_replica(binary, args.rounds, args.requests)
    if args.only in (None, "peers"):
        peers(binary, args.rounds, args.requests)
    if args.only in (None, "memory"):
        with Server(binary) as main_server, Server(binary, load=COMPACT) as compact:
            memory(main_server, compact, args.keys)
    if args.only in (None, "replication"):
        replication(binary)
    if args.only in (None, "demo"):
        demo(binary, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
