#!/usr/bin/env python3
"""`make lint`: no function in the layer crate's or the Python package's sources is
longer than 60 lines (tests aside), so each reads as one step; and no recipe of the
Makefile is longer than 8 lines (longer steps live in scripts/).

Python functions are measured with `ast`; Rust functions from their `fn` line to the
brace that closes their body, counted outside strings, chars and comments. A `mod
tests` block (and what follows it) is test code and not measured.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60
MAX_RECIPE_LINES = 8
RUST_DIRS = ["crates/axum-redis-ratelimit/src"]
PYTHON_DIRS = ["python/src/redis_ratelimit"]
FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def code_only(line: str, in_block: bool) -> tuple[str, bool]:
    """The line without strings, chars and comments; whether a /* */ comment is open."""
    out = []
    i = 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 2, False
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_block, i = True, i + 2
        elif line[i] == '"':
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
        elif re.match(r"'(\\.|[^\\'])'", line[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))  # type: ignore[union-attr]
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_block


def rust_functions(path: Path) -> list[tuple[str, int, int]]:
    """(name, first line, length) of each function with a body."""
    lines = path.read_text().splitlines()
    found = []
    in_block = False
    stack: list[tuple[str, int, int]] = []  # (name, start line, depth at its body)
    depth = 0
    pending: tuple[str, int] | None = None
    for number, raw in enumerate(lines, 1):
        if re.match(r"^\s*(#\[cfg\(test\)\]\s*)?mod tests\b", raw) or raw.strip() == "#[cfg(test)]":
            break
        code, in_block = code_only(raw, in_block)
        match = FN.match(code)
        if match:
            pending = (match.group(1), number)
        for ch in code:
            if ch == "{":
                depth += 1
                if pending:
                    stack.append((pending[0], pending[1], depth))
                    pending = None
            elif ch == "}":
                if stack and stack[-1][2] == depth:
                    name, start, _ = stack.pop()
                    found.append((name, start, number - start + 1))
                depth -= 1
            elif ch == ";" and pending:
                pending = None  # a declaration without a body (a trait's)
    return found


def python_functions(path: Path) -> list[tuple[str, int, int]]:
    tree = ast.parse(path.read_text())
    return [
        (node.name, node.lineno, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def long_recipes(root: Path = ROOT) -> list[str]:
    """Makefile rules whose recipe (the tab-indented lines after the rule, a line
    continued with a backslash counted as several) is over MAX_RECIPE_LINES."""
    problems = []
    target, start, length = None, 0, 0
    lines = (root / "Makefile").read_text().splitlines()
    for number, line in enumerate([*lines, ""], 1):
        if line.startswith("\t"):
            length += 1
            continue
        if target is not None and length > MAX_RECIPE_LINES:
            problems.append(f"Makefile:{start}: {target} has a {length}-line recipe")
        rule = re.match(r"^([\w.%-][^:=]*):(?!=)", line)
        target, start, length = (rule.group(1), number, 0) if rule else (None, 0, 0)
    return problems


def long_functions(root: Path = ROOT) -> list[str]:
    problems = []
    for folder, measure, pattern in [
        *((d, rust_functions, "*.rs") for d in RUST_DIRS),
        *((d, python_functions, "*.py") for d in PYTHON_DIRS),
    ]:
        for path in sorted((root / folder).rglob(pattern)):
            for name, line, length in measure(path):
                if length > MAX_LINES:
                    problems.append(f"{path.relative_to(root)}:{line}: {name} is {length} lines")
    return problems


def main() -> int:
    problems = long_functions() + long_recipes()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} over the bounds ({MAX_LINES} lines a function, "
            f"{MAX_RECIPE_LINES} a recipe): split them into steps",
            file=sys.stderr,
        )
        return 1
    print(
        f"functions: none over {MAX_LINES} lines in {', '.join(RUST_DIRS + PYTHON_DIRS)}; "
        f"Makefile recipes: none over {MAX_RECIPE_LINES} lines"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
