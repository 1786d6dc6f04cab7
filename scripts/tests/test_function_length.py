"""scripts/function-length.py measures what it claims: a function of 61 lines is
reported, one of 60 is not, in Rust (braces in strings, chars and comments ignored,
test modules skipped) and in Python."""

import importlib.util
import shutil
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "function-length.py"
spec = importlib.util.spec_from_file_location("function_length", SCRIPT)
assert spec is not None and spec.loader is not None
function_length = importlib.util.module_from_spec(spec)
spec.loader.exec_module(function_length)


def rust_fn(name: str, lines: int) -> str:
    body = ['    let s = "}{"; let c = \'}\'; // }'] * (lines - 2)
    return "\n".join([f"pub async fn {name}() {{", *body, "}"])


def python_fn(name: str, lines: int) -> str:
    return "\n".join([f"def {name}() -> None:", *["    x = '}'"] * (lines - 1)])


class FunctionLength(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root)
        for folder in function_length.RUST_DIRS + function_length.PYTHON_DIRS:
            (self.root / folder).mkdir(parents=True)

    def write(self, folder: str, name: str, text: str) -> None:
        (self.root / folder / name).write_text(text + "\n")

    def test_measures_at_the_limit(self) -> None:
        rust, python = function_length.RUST_DIRS[0], function_length.PYTHON_DIRS[0]
        self.write(rust, "a.rs", "\n".join([
            rust_fn("fits", 60),
            "trait T { fn declared(&self); }",
            rust_fn("too_long", 61),
            "#[cfg(test)]",
            "mod tests {",
            rust_fn("a_test", 100),
            "}",
        ]))
        self.write(python, "a.py", python_fn("fits", 60) + "\n\n\n" + python_fn("too_long", 61))
        problems = function_length.long_functions(self.root)
        self.assertEqual(len(problems), 2, problems)
        self.assertTrue(problems[0].endswith("a.rs:62: too_long is 61 lines"), problems)
        self.assertTrue(problems[1].endswith("a.py:63: too_long is 61 lines"), problems)

    def test_the_repository_passes(self) -> None:
        self.assertEqual(function_length.long_functions(), [])
        self.assertEqual(function_length.long_recipes(), [])

    def test_measures_makefile_recipes(self) -> None:
        nine = "".join(f"\techo {i}\n" for i in range(9))
        eight = "".join(f"\techo {i}\n" for i in range(8))
        (self.root / "Makefile").write_text(
            f"X := 1\nshort: dep\n{eight}\nlong:\n{nine}# a comment\nlast: ; @true\n"
        )
        self.assertEqual(
            function_length.long_recipes(self.root), ["Makefile:12: long has a 9-line recipe"]
        )


if __name__ == "__main__":
    unittest.main()
