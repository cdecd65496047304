"""The README's output tables and error types against their one definition in code (``jobs.schema``,
``jobs.error_types``), both ways: nothing documented that the code lacks, nothing in the code left out."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import diarization.errors
from jobs.error_types import ERROR_TYPES
from jobs.schema import SCHEMAS, TABLES

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def markdown_table(text: str, header: tuple[str, ...]) -> list[list[str]]:
    """The body rows (cells stripped) of the first Markdown table in ``text`` whose header is ``header``."""
    lines = text.splitlines()
    for at, line in enumerate(lines):
        if tuple(cell.strip() for cell in line.strip().strip("|").split("|")) == header:
            body = []
            for row in lines[at + 2:]:
                if not row.startswith("|"):
                    break
                body.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            return body
    raise AssertionError(f"no table with header {header} in {README}")


def documented_columns(text: str) -> dict[str, list[str]]:
    """table -> its column names as the README's output table lists them (``same as `X```: X's)."""
    tables: dict[str, list[str]] = {}
    for name, _, columns in markdown_table(text, ("table", "one row per", "columns")):
        name = name.strip("`")
        same = re.fullmatch(r"same as `(\w+)`", columns)
        if same:
            tables[name] = tables[same.group(1)]
            continue
        bare = re.sub(r"\([^)]*\)", "", columns)  # notes in parentheses are not column names
        tables[name] = [item.strip().strip("`").split()[0] for item in bare.split(",") if item.strip()]
    return tables


def documented_error_types(text: str) -> list[str]:
    return [row[0].strip("`") for row in markdown_table(text, ("error_type", "when"))]


def test_readme_lists_every_table_and_column_of_the_schema_in_order() -> None:
    documented = documented_columns(README.read_text(encoding="utf-8"))
    assert list(documented) == list(TABLES)
    for table in TABLES:
        assert documented[table] == [field.name for field in SCHEMAS[table]], table


def test_readme_lists_exactly_the_error_types_of_the_code_in_order() -> None:
    assert documented_error_types(README.read_text(encoding="utf-8")) == list(ERROR_TYPES)


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


@pytest.mark.parametrize("error", _subclasses(diarization.errors.AudioError), ids=lambda c: c.__name__)
def test_every_input_error_of_the_engine_is_a_job_error_type(error: type) -> None:
    assert error.code in ERROR_TYPES, f"{error.__name__}.code {error.code!r} is missing in jobs.error_types"


def test_the_parsers_see_a_drift() -> None:
    """A README with a column or an error type dropped, or one too many, no longer matches the code."""
    text = README.read_text(encoding="utf-8")
    dropped = text.replace("`outside_input_root` |", "`outside_inputs_root` |", 1)
    assert documented_error_types(dropped) != list(ERROR_TYPES)
    extra = re.sub(r"(\| `embeddings` \| [^|]+ \| )", r"\1gender, ", text, count=1)
    assert documented_columns(extra)["embeddings"] != [f.name for f in SCHEMAS["embeddings"]]


def spelled_out_error_types(source: str) -> list[str]:
    """Error types written as literals in ``source`` (an exact string, or an f-string ending in ``_error``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ERROR_TYPES:
            found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[-1], ast.Constant) \
                and str(node.values[-1].value).endswith("_error"):
            found.append(f"line {node.lineno}: f-string ending in _error")
    return found


def test_the_job_takes_every_error_type_from_error_types() -> None:
    """One definition: no other module of the job spells an error type out."""
    spelled = {str(path.relative_to(REPO)): spelled_out_error_types(path.read_text(encoding="utf-8"))
               for path in sorted((REPO / "jobs").glob("*.py")) if path.name != "error_types.py"}
    assert {k: v for k, v in spelled.items() if v} == {}


def test_the_literal_finder_sees_both_forms() -> None:
    source = 'a = "load_error"\nb = f"{name}_error"\nc = "a load_error here"\n'
    assert spelled_out_error_types(source) == ["line 1: 'load_error'", "line 2: f-string ending in _error"]
