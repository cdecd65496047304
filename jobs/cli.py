"""``diarize run`` and ``diarize report`` (registered through the ``diarization.commands`` entry points),
also runnable as ``python -m jobs run|report ...``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

log = logging.getLogger("jobs")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _checked(check: Any) -> Any:
    """An argparse type from a ``check_*`` function of ``jobs.plan`` (ValueError -> a usage error)."""
    def convert(text: str) -> str:
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = check.__name__.removeprefix("check_").replace("_", " ")
    return convert


def _storage_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage-options", type=_json_object, default={}, metavar="JSON",
                        help="fsspec options for every URL (manifest, audio, output), e.g. "
                             "'{\"client_kwargs\": {\"endpoint_url\": \"http://127.0.0.1:9000\"}}'")


def add_run_command(commands: Any) -> None:
    """Add ``run`` to the ``diarize`` sub-commands."""
    from diarization.cli import add_model_options

    from .dates import resolve_run_date
    from .plan import check_run_id

    run = commands.add_parser(
        "run", help="diarize every file of a manifest (or glob) on Ray into Parquet",
        description="Batch diarization on Ray. MANIFEST is a CSV/TSV/JSONL/Parquet file (local or URL) with a "
                    "'path' column and optional id, num_speakers, min_speakers, max_speakers, channel; or a glob "
                    "('s3://bucket/calls/2026-11-24/*.wav') or prefix ending in '/'; '{run_date}' in it becomes the "
                    "run date ('s3://bucket/calls/{run_date}/*.wav'). Reruns skip files already done (same id "
                    "and models) and retry failures.")
    run.add_argument("manifest", help="manifest file, glob or prefix; '{run_date}' becomes the run date")
    run.add_argument("-o", "--output", required=True, help="output folder or URL (s3://bucket/diarization)")
    run.add_argument("--run-date", type=_checked(resolve_run_date),
                     help="partition to write: YYYY-MM-DD, today or yesterday (UTC, resolved at start; "
                          "default: today); also fills '{run_date}' in MANIFEST and --input-root")
    run.add_argument("--run-id", type=_checked(check_run_id),
                     help="run id: letters, digits, '.', '_', '-' (default: time-based, unique)")
    run.add_argument("--input-root", metavar="DIR_OR_URL",
                     help="only read audio under this folder or URL prefix (s3://bucket/calls); other manifest "
                          "paths ('..', absolute elsewhere, symlinks out, other buckets) become "
                          "'outside_input_root' error rows")
    run.add_argument("--address", default=None,
                     help="Ray cluster to join (default: $RAY_ADDRESS, else start a local Ray here)")
    run.add_argument("--num-cpus", type=int, help="CPUs of the local Ray started here (default: all)")
    run.add_argument("--num-gpus", type=int, help="GPUs of the local Ray started here (default: all)")
    add_model_options(run)
    _storage_option(run)
    run.add_argument("--manifest-format", choices=["csv", "tsv", "jsonl", "parquet", "glob"],
                     help="override the format detected from the manifest's name")
    run.add_argument("--no-resume", dest="resume", action="store_false",
                     help="start the partition over: delete this run date's results first and redo every file")
    tuning = run.add_argument_group("tuning (defaults come from the cluster's resources)")
    tuning.add_argument("--pipeline", choices=["auto", "fused", "staged"], default="auto",
                        help="fused: one actor per CPU does the whole work of a file (decode, both models, "
                             "clustering); staged: decode tasks, segmentation and embedding actors, clustering "
                             "tasks; auto (default): fused on CPU, staged with GPUs")
    tuning.add_argument("--actors", type=int,
                        help="file actors (fused; default one per CPU) or actors per model stage (staged)")
    tuning.add_argument("--segmentation-actors", type=int)
    tuning.add_argument("--embedding-actors", type=int)
    tuning.add_argument("--gpus-per-actor", type=float, help="fraction of a GPU per actor (default 0.5)")
    tuning.add_argument("--cpus-per-actor", type=float)
    tuning.add_argument("--batch-files", type=int,
                        help="files per actor call (default 32 on GPU, 8 staged on CPU, 1 fused)")
    tuning.add_argument("--segmentation-batch-size", type=int, help="chunks per segmentation forward pass")
    tuning.add_argument("--embedding-batch-size", type=int, help="chunks per embedding forward pass")
    tuning.add_argument("--shard-size", type=int, default=256, help="files per committed shard (default 256)")
    tuning.add_argument("--max-inflight-batches", type=int)
    tuning.add_argument("--max-duration", type=float, help="seconds; longer files become 'too_long' errors")
    tuning.add_argument("--max-restarts", type=int, default=-1, help="restarts of a crashed actor (-1: always)")
    tuning.add_argument("--max-task-retries", type=int, default=2,
                        help="retries of a batch whose actor crashed, before its files are retried one by one")
    tuning.add_argument("--max-crashed-files", type=int, default=100,
                        help="stop the job once this many files have crashed a worker")
    progress = run.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="progress bar (default: when standard error is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false")
    run.add_argument("--report-json", metavar="PATH", help="also write the run report here (local path)")
    run.set_defaults(func=run_command)


def options_from_args(args: argparse.Namespace) -> Any:
    """The ``JobOptions`` of parsed ``diarize run`` arguments."""
    from .plan import JobOptions

    return JobOptions(
        manifest=args.manifest, output=args.output, run_date=args.run_date, run_id=args.run_id,
        models=args.models, mode=args.mode, device=args.device, storage_options=args.storage_options,
        manifest_format=args.manifest_format, resume=args.resume, shard_size=args.shard_size,
        batch_files=args.batch_files, pipeline=args.pipeline, actors=args.actors,
        segmentation_actors=args.segmentation_actors, embedding_actors=args.embedding_actors,
        gpus_per_actor=args.gpus_per_actor,
        cpus_per_actor=args.cpus_per_actor, segmentation_batch_size=args.segmentation_batch_size,
        embedding_batch_size=args.embedding_batch_size, max_inflight_batches=args.max_inflight_batches,
        max_duration=args.max_duration, max_restarts=args.max_restarts, max_task_retries=args.max_task_retries,
        max_crashed_files=args.max_crashed_files, progress=args.progress, input_root=args.input_root)


def run_command(args: argparse.Namespace) -> int:
    """``diarize run``: returns 0 when every shard was committed (files may still have error rows)."""
    import ray

    from .driver import run_job
    from .manifest import ManifestError
    from .report import format_run
    from .stats import JobAborted

    try:
        options = options_from_args(args)
    except ValueError as error:  # e.g. an input root URL without a bucket
        print(f"diarize run: error: {error}", file=sys.stderr)
        return 3
    address = args.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:  # a local Ray started here: its workers must import this code even when it is not installed
        export_code_path()
        ray.init(address="local", num_cpus=args.num_cpus, num_gpus=args.num_gpus, include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)
    try:
        report = run_job(options)
    except (ManifestError, JobAborted) as error:
        print(f"diarize run: error: {error}", file=sys.stderr)
        return 3
    finally:
        ray.shutdown()
    print(format_run(report))
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, default=str)
    return 1 if report["shards"]["failed"] else 0


def export_code_path() -> None:
    """Put the folder holding ``jobs`` and ``diarization`` on PYTHONPATH, which local Ray workers inherit."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])


def add_report_command(commands: Any) -> None:
    """Add ``report`` to the ``diarize`` sub-commands."""
    from .dates import resolve_run_date

    report = commands.add_parser("report", help="summarise the runs in a job's output (from its Parquet)")
    report.add_argument("output", help="output folder or URL given to 'diarize run'")
    report.add_argument("--run-date", type=_checked(resolve_run_date),
                        help="only this partition: YYYY-MM-DD, today or yesterday (UTC)")
    report.add_argument("--run-id", help="only this run")
    report.add_argument("--json", action="store_true", help="JSON instead of a table")
    report.add_argument("--html", metavar="PATH",
                        help="also write a self-contained HTML report here (local path or URL; '{run_date}' becomes "
                             "--run-date): totals, stages, errors, failed files, duration and speaker "
                             "histograms, sample timelines")
    report.add_argument("--timelines", type=int, default=6, metavar="N",
                        help="sample files drawn as timelines in the HTML report (default 6)")
    _storage_option(report)
    report.set_defaults(func=report_command)


def report_command(args: argparse.Namespace) -> int:
    """``diarize report``: one line per run, then per-partition totals; ``--html``: the page too."""
    from .report import format_summaries, summarize

    summaries = summarize(args.output, args.storage_options, args.run_date, args.run_id)
    print(json.dumps(summaries, indent=2, default=str) if args.json else format_summaries(summaries))
    if args.html:
        from .dates import fill_run_date
        from .html_report import write_html_report

        html = fill_run_date(args.html, args.run_date) if args.run_date else args.html
        write_html_report(html, args.output, args.storage_options, args.run_date, args.run_id, args.timelines)
        print(f"wrote {html}", file=sys.stderr)
    return 0 if summaries else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs``: the same two commands without the ``diarize`` console script."""
    parser = argparse.ArgumentParser(prog="python -m jobs", description="Batch diarization jobs on Ray.")
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    add_run_command(commands)
    add_report_command(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from diarization.errors import DiarizationError

    try:
        return int(args.func(args) or 0)
    except DiarizationError as error:
        print(f"diarize: error: {error}", file=sys.stderr)
        return 2
