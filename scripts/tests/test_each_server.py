"""scripts/each-server.sh: a suite runs on every server it expects, or fails. A list
with one server removed, one that is not there, a command that fails on one server,
or a list that cannot be made: each is a failure."""

import os
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "each-server.sh"


class EachServer(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        root = Path(self.dir.name)
        self.servers = []
        for i in range(5):
            server = root / f"server-{i}"
            server.write_text("#!/bin/sh\nexit 0\n")
            server.chmod(server.stat().st_mode | stat.S_IEXEC)
            self.servers.append(str(server))
        self.ran = root / "ran"

    def run_with(self, servers: list[str], command: str = "true", list_fails: bool = False) -> int:
        listing = Path(self.dir.name) / "list.sh"
        lines = "".join(f"echo {s}\n" for s in servers)
        listing.write_text("#!/bin/sh\n" + lines + ("exit 1\n" if list_fails else ""))
        listing.chmod(0o755)
        env = {**os.environ, "SERVERS_LIST": str(listing), "SERVERS_EXPECTED": "5"}
        env.pop("REDIS_SERVER", None)
        script = f'echo "$REDIS_SERVER" >> {self.ran}; {command}'
        result = subprocess.run(
            [str(SCRIPT), "sh", "-c", script], env=env, capture_output=True, text=True
        )
        return result.returncode

    def ran_on(self) -> list[str]:
        return self.ran.read_text().split() if self.ran.exists() else []

    def test_runs_once_on_every_server(self) -> None:
        self.assertEqual(self.run_with(self.servers), 0)
        self.assertEqual(self.ran_on(), self.servers)

    def test_one_server_removed_fails(self) -> None:
        self.assertNotEqual(self.run_with(self.servers[:4]), 0)
        self.assertEqual(self.ran_on(), self.servers[:4])

    def test_a_server_that_is_not_there_fails(self) -> None:
        missing = [*self.servers[:4], "/nonexistent/redis-server"]
        self.assertNotEqual(self.run_with(missing), 0)

    def test_a_failure_on_one_server_fails(self) -> None:
        command = f'[ "$REDIS_SERVER" != {self.servers[2]} ]'
        self.assertNotEqual(self.run_with(self.servers, command), 0)
        self.assertEqual(self.ran_on(), self.servers[:3])

    def test_a_list_that_cannot_be_made_fails(self) -> None:
        self.assertNotEqual(self.run_with(self.servers, list_fails=True), 0)
        self.assertEqual(self.ran_on(), [])


if __name__ == "__main__":
    unittest.main()
