"""Run corpus cases in a separate process with a per-case deadline, so that a case that hangs (a blocking
read, an endless decode) or crashes the interpreter (a native decoder fault) is reported as that case's
failure instead of stalling or killing the test run. The child is restarted after such a case."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .checks import evaluate
from .corpus import Case


def _child(connection: Any, cases: Sequence[Case], models: str | None, diarize: Collection[str],
           function: Callable[..., dict[str, Any]]) -> None:
    pipeline = None
    if models and diarize:
        import torch

        from diarization.pipeline import Pipeline

        torch.set_num_threads(1)

        pipeline = Pipeline.from_pretrained(models, device="cpu")
    connection.send(("ready", -1, None))
    for index, case in enumerate(cases):
        connection.send(("start", index, None))
        connection.send(("done", index, function(case, pipeline if case.name in diarize else None)))
    connection.close()


def run_isolated(cases: Sequence[Case], models: str | None = None, diarize: Collection[str] = (),
                 case_timeout: float = 30.0, start_timeout: float = 120.0,
                 function: Callable[..., dict[str, Any]] = evaluate) -> dict[str, dict[str, Any]]:
    """``function(case, pipeline or None)`` (default: ``evaluate``) of each case, by name; the cases named in
    ``diarize`` also go through the pipeline loaded from ``models``. A hung case gets outcome "hang", a
    case that killed the process "crash" (both with a problem listed)."""
    context = multiprocessing.get_context("spawn")
    results: dict[str, dict[str, Any]] = {}
    remaining = list(cases)
    while remaining:
        parent, child = context.Pipe()
        process = context.Process(target=_child, args=(child, remaining, models, frozenset(diarize), function), daemon=True)
        process.start()
        child.close()
        current, timeout = -1, start_timeout
        try:
            while True:
                if not parent.poll(timeout):
                    verdict = "hang"
                    break
                try:
                    kind, index, value = parent.recv()
                except EOFError:
                    verdict = "crash"
                    break
                if kind == "start":
                    current, timeout = index, case_timeout
                elif kind == "done":
                    results[remaining[index].name] = value
                    current, timeout = -1, case_timeout
                    if index == len(remaining) - 1:
                        verdict = "finished"
                        break
        finally:
            if process.is_alive():
                process.kill()
            process.join(10)
            parent.close()
        if verdict == "finished":
            break
        if current < 0:  # died or stalled outside a case (start-up): nothing to blame, stop here
            raise RuntimeError(f"corpus runner {verdict} outside a case (exit code {process.exitcode})")
        case = remaining[current]
        results[case.name] = {"outcome": verdict, "seconds": None, "message": None,
                              "problems": [f"{verdict} (exit code {process.exitcode})"]}
        remaining = remaining[current + 1:]
    return results
