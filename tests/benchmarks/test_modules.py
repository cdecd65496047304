"""The benchmarks run as modules from the repository root (``python3 -m benchmarks.NAME``): none patches
``sys.path`` or imports the tests, and every command-line one answers ``--help``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(REPO.glob("benchmarks/**/*.py"))
# command-line modules that our own interpreter can import (reference_pipelines and senko_here need the
# reference and senko virtualenvs; compare.child is started by compare)
# every benchmark script (a module or package that runs as __main__), but the two that cannot run here alone
NOT_HERE = {"senko_here": "runs in senko's side environment", "compare.child": "started by benchmarks.compare"}
COMMANDS = tuple(sorted(
    name for name in (".".join(p.relative_to(REPO / "benchmarks").with_suffix("").parts).removesuffix(".__main__")
                      for p in MODULES if 'if __name__ == "__main__"' in p.read_text(encoding="utf-8"))
    if name not in NOT_HERE))


def _problems(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) \
                and node.value.id == "sys":
            found.append(f"line {node.lineno}: sys.path")
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        found += [f"line {node.lineno}: imports {n}" for n in names if n == "tests" or n.startswith("tests.")]
    return sorted(found)


def test_no_benchmark_patches_sys_path_or_imports_the_tests() -> None:
    assert len(MODULES) > 10
    problems = {str(p.relative_to(REPO)): _problems(p) for p in MODULES}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_checker_sees_both(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nsys.path.insert(0, '.')\nfrom tests.reliability import corpus\n")
    assert _problems(bad) == ["line 2: sys.path", "line 3: imports tests.reliability"]


def test_every_command_answers_help_when_run_as_a_module() -> None:
    """One interpreter started in the repository root, as ``python3 -m`` would be, runs each ``main``."""
    script = (
        "import runpy, sys\n"
        f"for name in {COMMANDS!r}:\n"
        "    sys.argv = [name, '--help']\n"
        "    try:\n"
        "        runpy.run_module('benchmarks.' + name, run_name='__main__', alter_sys=True)\n"
        "    except SystemExit as end:\n"
        "        print('EXIT', name, end.code, flush=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    exits = [line.split() for line in run.stdout.splitlines() if line.startswith("EXIT ")]
    assert exits == [["EXIT", name, "0"] for name in COMMANDS], run.stderr[-3000:]
