"""Security basics without a cluster: manifest paths confined to an input root, run ids and dates that
cannot move output files, and credentials kept out of error messages."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import pytest

from jobs.cli import add_run_command, options_from_args
from jobs.dates import check_run_date
from jobs.manifest import OUTSIDE_ROOT, BadRow, FileTask, InputRoot, Manifest, write_manifest
from jobs.plan import JobOptions, check_run_id

from .corpus import encode

SECRET_KEY = "AKIASECURITYTEST9K3L"
SECRET = "sec+Secret/Qx7v2m1Wd"


def outcomes(manifest: Manifest) -> dict[str, str]:
    """file id -> "ok" (a task) or the row's error type."""
    return {item.file_id: "ok" if isinstance(item, FileTask) else item.error_type
            for batch in manifest for item in batch}


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """An input root with files and symlinks, and files beside it that it must not reach."""
    root = tmp_path / "calls"
    (root / "day one").mkdir(parents=True)
    (root / "day one" / "a.wav").write_bytes(b"x")
    (root / "b.wav").write_bytes(b"x")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.wav").write_bytes(b"x")
    (tmp_path / "calls-evil").mkdir()
    (tmp_path / "calls-evil" / "c.wav").write_bytes(b"x")
    (root / "link-out.wav").symlink_to(outside / "secret.wav")
    (root / "link-dir-out").symlink_to(outside)
    (root / "link-in.wav").symlink_to(root / "b.wav")
    return {"root": root, "outside": outside, "tmp": tmp_path}


def test_local_input_root(tree: dict[str, Path]) -> None:
    root, tmp = tree["root"], tree["tmp"]
    rows = [
        {"id": "inside", "path": str(root / "b.wav")}, {"id": "relative", "path": "day one/a.wav"},
        {"id": "file-url", "path": f"file://{root}/b.wav"}, {"id": "symlink-inside", "path": "link-in.wav"},
        {"id": "missing-inside", "path": "not-yet.wav"},
        {"id": "dotdot", "path": "../private/secret.wav"}, {"id": "dotdot-deep", "path": "day one/../../private/secret.wav"},
        {"id": "absolute", "path": str(tree["outside"] / "secret.wav")}, {"id": "etc", "path": "/etc/passwd"},
        {"id": "prefix-sibling", "path": str(tmp / "calls-evil" / "c.wav")},
        {"id": "symlink-out", "path": "link-out.wav"}, {"id": "symlink-dir-out", "path": "link-dir-out/secret.wav"},
        {"id": "s3", "path": "s3://bucket/calls/b.wav"}, {"id": "http", "path": "http://127.0.0.1:1/x.wav"},
        {"id": "file-url-out", "path": f"file://{tree['outside']}/secret.wav"},
    ]
    manifest = write_manifest(rows, str(root / "manifest.jsonl"))
    result = outcomes(Manifest(manifest, input_root=str(root)))
    inside = {"inside", "relative", "file-url", "symlink-inside", "missing-inside"}
    assert result == {row["id"]: "ok" if row["id"] in inside else OUTSIDE_ROOT for row in rows}
    assert set(outcomes(Manifest(manifest)).values()) == {"ok"}  # no root: nothing refused
    [bad] = [i for batch in Manifest(manifest, input_root=str(root)) for i in batch if i.file_id == "dotdot"]
    assert isinstance(bad, BadRow) and "outside the input root" in bad.message and bad.row == 6


def test_glob_under_an_input_root_refuses_symlinks_out(tree: dict[str, Path]) -> None:
    root = tree["root"]
    found = outcomes(Manifest(str(root) + "/", input_root=str(root)))
    assert found[str(root / "b.wav")] == found[str(root / "day one" / "a.wav")] == "ok"
    assert found[str(root / "link-out.wav")] == OUTSIDE_ROOT
    outside_glob = outcomes(Manifest(str(tree["outside"]) + "/*.wav", input_root=str(root)))
    assert list(outside_glob.values()) == [OUTSIDE_ROOT]


def test_remote_input_root(tmp_path: Path) -> None:
    root = InputRoot("s3://bucket/calls/")
    for path in ("s3://bucket/calls/a.wav", "s3://bucket/calls/2026/11/b c.wav", "S3://bucket/calls/x.wav"):
        assert root.contains(path), path
    for path in ("s3://bucket/calls-evil/a.wav", "s3://bucket/other/a.wav", "s3://other/calls/a.wav",
                 "s3://bucket/calls/../other/a.wav", "s3://bucket/calls/x/../../y.wav", "s3://bucket/calls//a.wav",
                 "gs://bucket/calls/a.wav", "s3a://bucket/calls/a.wav", "/bucket/calls/a.wav",
                 "file:///bucket/calls/a.wav", "s3://bucket/callsa.wav"):
        assert not root.contains(path), path
    rows = [{"id": "ok", "path": "s3://bucket/calls/a.wav"}, {"id": "local", "path": str(tmp_path / "a.wav")},
            {"id": "relative-out", "path": "../x.wav"}]
    manifest = write_manifest(rows, str(tmp_path / "m.csv"))
    assert outcomes(Manifest(manifest, input_root="s3://bucket/calls")) == {
        "ok": "ok", "local": OUTSIDE_ROOT, "relative-out": OUTSIDE_ROOT}
    for bad in ("s3://", "s3:///", "s3://bucket/../x"):
        with pytest.raises(ValueError):
            InputRoot(bad)


@pytest.mark.parametrize("run_id", ["../x", "a/b", "..", ".hidden", "a\\b", "", "x" * 129, "a b", "a\nb", "ä"])
def test_bad_run_ids_are_refused(run_id: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        check_run_id(run_id)
    with pytest.raises(ValueError, match="run id"):
        JobOptions("m.csv", "out", run_id=run_id)


@pytest.mark.parametrize("run_date", ["2026-11-26/../../x", "../2026-11-26", "2026-13-01", "2026-02-30", "26-11-26",
                                      "2026-11-26 ", "2026/11/26", "Today", "tomorrow", ""])
def test_bad_run_dates_are_refused(run_date: str) -> None:
    with pytest.raises(ValueError, match="run date"):
        check_run_date(run_date)
    with pytest.raises(ValueError, match="run date"):
        JobOptions("m.csv", "out", run_date=run_date)
    with pytest.raises(ValueError, match="run date"):  # the placeholder is filled with checked dates only
        JobOptions("calls/{run_date}/*.wav", "out", run_date=run_date)


def test_good_ids_dates_and_roots_pass() -> None:
    from jobs.driver import new_run_id

    for run_id in ("r1", "kill-test", "2026.11.26_a-b", new_run_id()):
        assert JobOptions("m.csv", "out", run_id=run_id).run_id == run_id
    assert JobOptions("m.csv", "out", run_date="2024-02-29").run_date == "2024-02-29"
    with pytest.raises(ValueError, match="bucket"):
        JobOptions("m.csv", "out", input_root="s3://")


def parse_run(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["run", *argv])


def test_cli_options(capsys: pytest.CaptureFixture[str]) -> None:
    options = options_from_args(parse_run(["m.csv", "-o", "out", "--input-root", "s3://bucket/calls",
                                           "--run-id", "nightly-1", "--run-date", "2026-11-26"]))
    assert (options.input_root, options.run_id, options.run_date) == ("s3://bucket/calls", "nightly-1", "2026-11-26")
    for argv in (["--run-id", "../../etc"], ["--run-date", "2026-11-26/.."]):
        with pytest.raises(SystemExit) as stopped:
            parse_run(["m.csv", "-o", "out", *argv])
        assert stopped.value.code == 2
    assert "run id '../../etc'" in capsys.readouterr().err


def test_credentials_stay_out_of_error_messages(tmp_path: Path, s3_bucket: str, s3_options: dict[str, Any]) -> None:
    """Errors about S3 inputs and manifests name the object, never the credentials used to reach it."""
    from diarization.audio import load_audio
    from diarization.errors import AudioError
    from jobs.manifest import ManifestError

    options = {**s3_options, "key": SECRET_KEY, "secret": SECRET}
    unreachable = {**options, "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
                   "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}
    messages = []
    import fsspec

    fsspec.filesystem("s3", **options).pipe(f"{s3_bucket}/junk.wav", b"not audio at all" * 10)
    for path, storage in ((f"{s3_bucket}/missing.wav", options), (f"{s3_bucket}/junk.wav", options),
                          (f"{s3_bucket}/x.wav", unreachable), ("s3://no-such-bucket-sec/x.wav", options)):
        with pytest.raises(AudioError) as error:
            load_audio(path, storage_options=storage)
        messages.append(str(error.value))
    with pytest.raises((ManifestError, OSError)) as error:
        list(Manifest(f"{s3_bucket}/no-manifest.csv", options))
    messages.append(str(error.value))
    text = json.dumps(messages)
    assert "junk.wav" in text and SECRET_KEY not in text and SECRET not in text and json.dumps(SECRET) not in text


def test_locked_permission_cases_really_lock(tmp_path: Path, locked_dir: Path) -> None:
    """The corpus' permission cases are read as an unprivileged user when the tests run as root (where
    permissions would not bite); the loader then sees the real denial."""
    from .checks import outcome_of
    from .corpus import Case

    locked = locked_dir / "probe.wav"
    locked.write_bytes(encode(__import__("numpy").zeros(1600, "float32"), 16000))
    locked.chmod(0o000)
    try:
        case = Case("probe", "permissions", str(locked), frozenset({"not_found"}), locked=True)
        outcome, message = outcome_of(case)
        assert outcome == "not_found" and "permission denied" in message
        plain, _ = outcome_of(Case("probe", "permissions", str(locked), frozenset({"ok"})))
        assert plain == ("ok" if os.geteuid() == 0 else "not_found")
    finally:
        locked.chmod(0o644)
