"""Run dates (``today``, ``yesterday``, YYYY-MM-DD) and the ``{run_date}`` placeholder, up to a real job whose
run report names the prefix it read."""

from __future__ import annotations

import argparse
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from jobs.cli import add_report_command, add_run_command, options_from_args
from jobs.dates import fill_run_date, resolve_run_date
from jobs.driver import run_job
from jobs.plan import JobOptions
from jobs.report import format_run, format_summaries, summarize


def test_relative_dates_resolve_against_the_given_day() -> None:
    assert resolve_run_date("today", today=date(2026, 3, 1)) == "2026-03-01"
    assert resolve_run_date("yesterday", today=date(2026, 3, 1)) == "2026-02-28"
    assert resolve_run_date("yesterday", today=date(2027, 1, 1)) == "2026-12-31"
    assert resolve_run_date("2024-02-29", today=date(2026, 3, 1)) == "2024-02-29"
    with pytest.raises(ValueError, match="expected yesterday, today or a date"):
        resolve_run_date("last-night")


def test_default_and_relative_dates_are_utc_days() -> None:
    before = datetime.now(timezone.utc).date()
    resolved = {resolve_run_date(None), resolve_run_date("today")}
    after = datetime.now(timezone.utc).date()
    assert resolved <= {before.isoformat(), after.isoformat()}
    assert resolve_run_date("yesterday") in {(before - timedelta(days=1)).isoformat(),
                                             (after - timedelta(days=1)).isoformat()}


def test_placeholder_is_filled_in_manifest_and_input_root_only() -> None:
    assert fill_run_date("s3://calls/{run_date}/*.wav", "2026-11-25") == "s3://calls/2026-11-25/*.wav"
    assert fill_run_date("s3://calls/{a,b}/{run_date}-{run_date}.csv", "2026-11-25") == \
        "s3://calls/{a,b}/2026-11-25-2026-11-25.csv"
    options = JobOptions("s3://b/calls/{run_date}/*.wav", "s3://b/out/{run_date}", run_date="2026-11-25",
                         input_root="s3://b/calls/{run_date}")
    assert (options.manifest, options.input_root, options.run_date) == \
        ("s3://b/calls/2026-11-25/*.wav", "s3://b/calls/2026-11-25", "2026-11-25")
    assert options.output == "s3://b/out/{run_date}"  # the output is partitioned by date already


def test_cli_resolves_yesterday_at_start() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    add_run_command(commands)
    add_report_command(commands)
    args = parser.parse_args(["run", "s3://b/calls/{run_date}/*.wav", "-o", "s3://b/out", "--run-date", "yesterday"])
    options = options_from_args(args)
    yesterday = resolve_run_date("yesterday")
    assert options.run_date == yesterday and options.manifest == f"s3://b/calls/{yesterday}/*.wav"
    assert parser.parse_args(["report", "out", "--run-date", "today"]).run_date == resolve_run_date("today")


def test_job_reads_the_prefix_of_its_run_date(ray_cluster: dict, models_dir: Path, audio_dir: Path,
                                              tmp_path: Path) -> None:
    """Two days of calls under one folder; the nightly glob reads only its day's, and the reports say which."""
    for day, names in (("2026-11-24", ["call00.wav", "call01.wav"]), ("2026-11-25", ["call02.wav"])):
        (tmp_path / "calls" / day).mkdir(parents=True)
        for name in names:
            shutil.copy(audio_dir / name, tmp_path / "calls" / day / name)
    output = str(tmp_path / "out")
    report = run_job(JobOptions(str(tmp_path / "calls" / "{run_date}" / "*.wav"), output, run_date="2026-11-25",
                                models=str(models_dir), progress=False))
    read = str(tmp_path / "calls" / "2026-11-25" / "*.wav")
    assert report["manifest"] == read and report["run_date"] == "2026-11-25"
    assert report["files"] == {"rows": 1, "ok": 1, "failed": 0, "skipped": 0}
    assert f"  read: {read}" in format_run(report).splitlines()
    [summary] = summarize(output)
    assert summary["run"]["manifest"] == read
    assert f"read {read}" in format_summaries([summary])
