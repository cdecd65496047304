"""``diarize run`` and ``diarize report`` (registered through the ``diarization.commands`` entry points),
also runnable as ``python -m jobs run|report ...``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from .cluster import export_code_path  # noqa: F401  (tests/conftest.py and others import it from here)

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
    from diarization.cli_checks import EXIT_CODES_HELP, nonnegative_float, positive_float, positive_int

    from .dates import resolve_run_date
    from .plan import check_run_id

    run = commands.add_parser(
        "run", help="diarize every file of a manifest (or glob) on Ray into Parquet",
        description="Batch diarization on Ray. MANIFEST is a CSV/TSV/JSONL/Parquet file (local or URL) with a "
                    "'path' column and optional id, num_speakers, min_speakers, max_speakers, channel; or a glob "
                    "('s3://bucket/calls/2026-11-24/*.wav') or prefix ending in '/'; '{run_date}' in it becomes the "
                    "run date ('s3://bucket/calls/{run_date}/*.wav'). Reruns skip files already done (same id "
                    "and models) and retry failures. Options are checked before any work.",
        epilog=EXIT_CODES_HELP)
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
    run.add_argument("--num-cpus", type=positive_int, help="CPUs of the local Ray started here (default: all)")
    run.add_argument("--num-gpus", type=int, help="GPUs of the local Ray started here (default: all)")
    run.add_argument("--wait-for-gpus", type=nonnegative_float, metavar="SECONDS",
                     help="with --device cuda on a cluster that has no GPU yet (autoscaling): ask for one and wait "
                          "this long (default: fail at once)")
    run.add_argument("--allow-empty", action="store_true",
                     help="an empty manifest or a glob matching nothing is a successful run of 0 files "
                          "(default: an error, exit code 3)")
    run.add_argument("--ray-logs", action="store_true", default=os.environ.get("DIARIZE_RAY_LOGS", "") not in ("", "0"),
                     help="show Ray's own log lines and warnings (default: only ours; or set DIARIZE_RAY_LOGS=1)")
    add_model_options(run)
    _storage_option(run)
    run.add_argument("--manifest-format", choices=["csv", "tsv", "jsonl", "parquet", "glob"],
                     help="override the format detected from the manifest's name")
    run.add_argument("--no-resume", dest="resume", action="store_false",
                     help="start the partition over: delete this run date's results first and redo every file")
    add_tuning_options(run.add_argument_group("tuning (defaults come from the cluster's resources)"))
    progress = run.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="progress bar (default: when standard error is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false",
                          help="no progress bar, even on a terminal")
    run.add_argument("--report-json", metavar="PATH", help="also write the run report here (local path)")
    run.set_defaults(func=run_command, parser=run)


def add_tuning_options(tuning: Any) -> None:
    """``diarize run``'s resource and retry options (an argument group)."""
    from diarization.cli_checks import positive_float, positive_int

    tuning.add_argument("--pipeline", choices=["auto", "fused", "staged"], default="auto",
                        help="fused: one actor per CPU does the whole work of a file (decode, both models, "
                             "clustering); staged: decode tasks, segmentation and embedding actors, clustering "
                             "tasks; auto (default): fused on CPU, staged with GPUs")
    tuning.add_argument("--actors", type=positive_int,
                        help="file actors (fused; default one per CPU) or actors per model stage (staged; "
                             "default: one per GPU, else one per 8 CPUs)")
    tuning.add_argument("--segmentation-actors", type=positive_int,
                        help="segmentation model actors (default: --actors)")
    tuning.add_argument("--embedding-actors", type=positive_int, help="embedding model actors (default: --actors)")
    tuning.add_argument("--gpus-per-actor", type=positive_float, help="fraction of a GPU per actor (default 0.5)")
    tuning.add_argument("--cpus-per-actor", type=positive_float,
                        help="CPUs reserved per model actor, also its torch threads (default: 1 on GPU; on CPU "
                             "half the cluster's CPUs shared out, at most 2)")
    tuning.add_argument("--cpus-per-task", type=positive_float,
                        help="CPUs of each decode, clustering and commit task (default: 1, less on a small "
                             "cluster); lower it when nodes have fewer CPUs than the actors leave free")
    tuning.add_argument("--batch-files", type=positive_int,
                        help="files per actor call (default 32 on GPU, 8 staged on CPU, 1 fused)")
    tuning.add_argument("--segmentation-batch-size", type=positive_int,
                        help="chunks per segmentation forward pass")
    tuning.add_argument("--embedding-batch-size", type=positive_int, help="chunks per embedding forward pass")
    tuning.add_argument("--shard-size", type=positive_int, default=256,
                        help="files per committed shard (default 256)")
    tuning.add_argument("--max-inflight-batches", type=positive_int,
                        help="actor calls under way at once, bounding the driver's memory (default: 3 per actor, "
                             "at least 4)")
    tuning.add_argument("--max-duration", type=positive_float,
                        help="seconds; longer files become 'too_long' errors")
    tuning.add_argument("--max-restarts", type=int, default=-1, help="restarts of a crashed actor (-1: always)")
    tuning.add_argument("--max-task-retries", type=int, default=2,
                        help="retries of a batch whose actor crashed, before its files are retried one by one")
    tuning.add_argument("--max-crashed-files", type=positive_int, default=100,
                        help="stop the job once this many files have crashed a worker")


def options_from_args(args: argparse.Namespace) -> Any:
    """The ``JobOptions`` of parsed ``diarize run`` arguments."""
    from .plan import JobOptions

    return JobOptions(
        manifest=args.manifest, output=args.output, run_date=args.run_date, run_id=args.run_id,
        models=args.models, mode=args.mode, channels=args.channels, device=args.device, storage_options=args.storage_options,
        manifest_format=args.manifest_format, resume=args.resume, shard_size=args.shard_size,
        batch_files=args.batch_files, pipeline=args.pipeline, actors=args.actors,
        segmentation_actors=args.segmentation_actors, embedding_actors=args.embedding_actors,
        gpus_per_actor=args.gpus_per_actor, cpus_per_actor=args.cpus_per_actor, cpus_per_task=args.cpus_per_task,
        segmentation_batch_size=args.segmentation_batch_size,
        embedding_batch_size=args.embedding_batch_size, max_inflight_batches=args.max_inflight_batches,
        max_duration=args.max_duration, max_restarts=args.max_restarts, max_task_retries=args.max_task_retries,
        max_crashed_files=args.max_crashed_files, progress=args.progress, input_root=args.input_root,
        allow_empty=args.allow_empty)


def run_command(args: argparse.Namespace) -> int:
    """``diarize run``: returns 0 when every shard was committed (files may still have error rows)."""
    from diarization.cli_checks import ExitCode, fail, install_hint, output_file_problem, say_error

    fail(args.parser, [output_file_problem("--report-json", args.report_json)])
    try:
        import ray

        from .cluster import init_ray, require_gpus
        from .driver import run_job
        from .manifest import ManifestError
        from .report import format_run
        from .stats import JobAborted
    except ImportError as error:
        say_error(args.parser.prog, f"needs {error.name or 'the job extras'}: {install_hint('jobs')}")
        return ExitCode.USAGE
    try:
        options = options_from_args(args)
    except ValueError as error:  # e.g. an input root URL without a bucket
        say_error(args.parser.prog, error)
        return ExitCode.INPUT
    init_ray(args.address or os.environ.get("RAY_ADDRESS"), args.num_cpus, args.num_gpus, args.ray_logs)
    try:
        require_gpus(options.device, args.wait_for_gpus, say=lambda line: print(line, file=sys.stderr))
        report = run_job(options)
    except (ManifestError, JobAborted) as error:
        say_error(args.parser.prog, error)
        return ExitCode.INPUT
    finally:
        ray.shutdown()
    print(format_run(report))
    if args.report_json:
        with open(args.report_json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2, default=str)
    return ExitCode.PARTIAL if report["shards"]["failed"] else ExitCode.OK


def add_report_command(commands: Any) -> None:
    """Add ``report`` to the ``diarize`` sub-commands."""
    from diarization.cli_checks import EXIT_CODES_HELP, positive_int

    from .dates import resolve_run_date

    report = commands.add_parser(
        "report", help="summarise the runs in a job's output (from its Parquet)", epilog=EXIT_CODES_HELP,
        description="One line per run found in OUTPUT's status table (files, ok, failed, audio hours, wall time, "
                    "real-time factor, errors by type), its failed files (id, error type, message), then the "
                    "totals of each run date.")
    report.add_argument("output", help="output folder or URL given to 'diarize run'")
    report.add_argument("--run-date", type=_checked(resolve_run_date),
                        help="only this partition: YYYY-MM-DD, today or yesterday (UTC)")
    report.add_argument("--run-id", help="only this run")
    report.add_argument("--json", action="store_true", help="JSON instead of a table (with every failed file)")
    report.add_argument("--html", metavar="PATH",
                        help="also write a self-contained HTML report here (local path or URL; '{run_date}' becomes "
                             "--run-date): totals, stages, errors, failed files, duration and speaker "
                             "histograms, sample timelines")
    report.add_argument("--timelines", type=positive_int, default=6, metavar="N",
                        help="sample files drawn as timelines in the HTML report (default 6)")
    _storage_option(report)
    report.set_defaults(func=report_command, parser=report)


def report_command(args: argparse.Namespace) -> int:
    """``diarize report``: one line per run, then per-partition totals; ``--html``: the page too."""
    from diarization.cli_checks import ExitCode, install_hint, say_error

    try:
        from .report import format_summaries, summarize
    except ImportError as error:
        say_error(args.parser.prog, f"needs {error.name or 'the job extras'}: {install_hint('jobs')}")
        return ExitCode.USAGE
    summaries = summarize(args.output, args.storage_options, args.run_date, args.run_id)
    print(json.dumps(summaries, indent=2, default=str) if args.json else format_summaries(summaries))
    if args.html:
        from .dates import fill_run_date
        from .html_report import write_html_report

        html = fill_run_date(args.html, args.run_date) if args.run_date else args.html
        write_html_report(html, args.output, args.storage_options, args.run_date, args.run_id, args.timelines)
        print(f"wrote {html}", file=sys.stderr)
    return ExitCode.OK if summaries else ExitCode.PARTIAL


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs``: the same two commands without the ``diarize`` console script."""
    from diarization import __version__
    from diarization.cli import run_main
    from diarization.cli_checks import DISTRIBUTION, EXIT_CODES_HELP, OneLineParser

    parser = OneLineParser(prog="python -m jobs", description="Batch diarization jobs on Ray.",
                           epilog=EXIT_CODES_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action="version", version=f"diarize {__version__} ({DISTRIBUTION})")
    commands = parser.add_subparsers(dest="command", required=True)
    add_run_command(commands)
    add_report_command(commands)
    return run_main(parser, argv)
