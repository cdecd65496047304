"""What the ``diarize`` commands check before doing any work, and the exit codes they end with.

Every check fails with one line naming the option (``diarize file: error: --num-speakers: ...``) and exit
code 2, before a model is loaded or a file is read.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from enum import IntEnum
from typing import NoReturn

DISTRIBUTION = "diarize-batch"  # the name on the package index; the command is `diarize`


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1  # diarize run: some shards not committed (rerun); diarize report: nothing found
    USAGE = 2  # a bad option or argument, a missing extra (argparse's own code)
    INPUT = 3  # the audio (diarize file) or the manifest (diarize run) cannot be used; job aborted
    ENGINE = 4  # models missing or broken, the device or the engine failed


EXIT_CODES_HELP = (
    "exit codes: 0 ok (diarize run: every shard committed; files may still have error rows); "
    "1 diarize run: some shards not committed, run the same command again (diarize report: no results); "
    "2 bad option or argument, or a missing extra, found before any work; "
    "3 input error: the audio, or the manifest (also an empty one), cannot be used, or the job aborted; "
    "4 engine, model or device error (models not found, no GPU)")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block): ``PROG: error: MESSAGE``."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def install_hint(extra: str) -> str:
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def _number(kind: type, minimum: float, strict: bool, what: str):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    convert.__name__ = what
    return convert


positive_int = _number(int, 1, False, "a whole number >= 1")
count_from_zero = _number(int, 0, False, "a whole number >= 0")
positive_float = _number(float, 0.0, True, "a number > 0")
nonnegative_float = _number(float, 0.0, False, "a number >= 0")


def device_name(text: str) -> str:
    """An argparse type: a torch device name (cpu, cuda, cuda:1, mps), checked for syntax only."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device diarize runs on; use cpu, cuda or cuda:N")
    return text


def local_device_problem(device: str | None) -> str | None:
    """Why ``device`` cannot be used by this process's torch, or None."""
    if device is None:
        return None
    import torch

    kind = torch.device(device)
    if kind.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only torch build" if torch.version.cuda is None else "no CUDA device visible"
            return f"{device!r} asked, but this torch ({torch.__version__}) has {build}; use --device cpu"
        if kind.index is not None and kind.index >= torch.cuda.device_count():
            return f"{device!r} asked, but only {torch.cuda.device_count()} CUDA device(s) are visible"
    if kind.type == "mps" and not torch.backends.mps.is_available():
        return f"{device!r} asked, but MPS is not available here; use --device cpu"
    return None


def speaker_problem(num: int | None, low: int | None, high: int | None) -> str | None:
    """Why the speaker options contradict each other, or None."""
    if low is not None and high is not None and low > high:
        return f"--min-speakers ({low}) is larger than --max-speakers ({high})"
    if num is not None and ((low is not None and num < low) or (high is not None and num > high)):
        return f"--num-speakers ({num}) is outside --min-speakers/--max-speakers"
    return None


def output_file_problem(option: str, path: str | None) -> str | None:
    """Why a local output file cannot be written at ``path``, or None (URLs are not checked)."""
    if path is None or ("://" in path and not path.startswith("file://")):
        return None
    path = path.removeprefix("file://")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"{option} {path}: is a folder, give a file name"
    if not os.path.isdir(folder):
        return f"{option} {path}: folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"{option} {path}: folder {folder} is not writable"
    return None


def missing_module_problem(module: str, option: str, extra: str) -> str | None:
    """Why ``option`` cannot work (``module`` not importable), with the one install command, or None."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken one
        found = False
    return None if found else f"{option} needs {module}: {install_hint(extra)}"


def fail(parser: argparse.ArgumentParser, problems: list[str | None]) -> None:
    """Exit with the first problem found (exit code 2), or return when there is none."""
    for problem in problems:
        if problem:
            parser.error(problem)


def say_error(command: str, message: object) -> None:
    print(f"{command}: error: {message}", file=sys.stderr)
