"""scripts/versions.py: one version everywhere, and each place, changed alone, is
caught (`make lint` runs these with the standard library's unittest)."""

import re
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import versions  # noqa: E402


class Versions(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root)
        for _, file, _ in versions.PLACES:
            target = self.root / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(versions.ROOT / file, target)

    def test_the_repository_agrees(self) -> None:
        version, problems = versions.check(versions.ROOT)
        self.assertEqual(problems, [])
        self.assertRegex(version or "", r"^\d+\.\d+\.\d+$")

    def test_each_place_changed_alone_is_caught(self) -> None:
        version, _ = versions.check(self.root)
        self.assertIsNotNone(version)
        for what, file, pattern in versions.PLACES:
            with self.subTest(place=what):
                path = self.root / file
                original = path.read_text()
                match = re.search(pattern, original)
                assert match is not None
                start, end = match.span(1)
                path.write_text(original[:start] + "9.9.9" + original[end:])
                found, problems = versions.check(self.root)
                self.assertIsNone(found)
                self.assertTrue(any(f"{what} ({file}): 9.9.9" in p for p in problems), problems)
                path.write_text(original)

    def test_a_place_without_a_version_is_caught(self) -> None:
        (self.root / "lua/ratelimit.lua").write_text("-- no version here\n")
        found, problems = versions.check(self.root)
        self.assertIsNone(found)
        self.assertIn("  Lua library (lua/ratelimit.lua): no version found", problems)


if __name__ == "__main__":
    unittest.main()
