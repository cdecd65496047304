"""The ``diarize`` command as a new user meets it: --version, help for everything, options checked before
any work (one line naming the option, exit code 2), typed errors as exit codes 3 and 4, models found from
any directory (issue 15, items 2, 4, 6, 7)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import torch

from diarization.cli import build_parser, main

SAMPLE = "pyannote_sample/sample.wav"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``diarize ARGV`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as stopped:  # argparse: --help, --version, usage errors
        code = int(stopped.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from diarization import __version__

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"diarize {__version__} (diarize-batch)"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_and_option_has_help_and_the_exit_codes_are_listed() -> None:
    parser = build_parser()
    commands = _subparsers(parser)
    assert {"file", "models", "run", "report"} <= set(commands)
    assert "exit codes:" in parser.format_help()
    for name, command in commands.items():
        assert command.description, f"diarize {name} has no description"
        assert "exit codes:" in command.format_help(), name
        for action in command._actions:
            assert action.help and action.help != argparse.SUPPRESS, f"diarize {name} {action.option_strings}"
    assert "counting from 0" in commands["file"].format_help()


BAD_OPTIONS = [
    (["--num-speakers", "0"], "--num-speakers"),
    (["--min-speakers", "5", "--max-speakers", "2"], "--min-speakers (5) is larger than --max-speakers (2)"),
    (["--num-speakers", "3", "--max-speakers", "2"], "--num-speakers (3)"),
    (["--device", "gpu"], "--device"),
    (["--channel", "-1"], "--channel"),
    (["--rttm", "/no/such/folder/out.rttm"], "--rttm /no/such/folder/out.rttm: folder /no/such/folder does not"),
    (["--plot", "/no/such/folder/out.png"], "--plot /no/such/folder/out.png"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS, ids=[o[0] for o, _ in BAD_OPTIONS])
def test_bad_options_are_one_line_before_any_work(options: list[str], message: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # missing models and missing audio would be errors too (exit 4, 3): the option is found first
    code, out, err = run(["file", str(tmp_path / "missing.wav"), "--models", str(tmp_path / "none"), *options],
                         capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("diarize file: error: ")
    assert message in err and "Traceback" not in err and out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_cuda_on_a_cpu_torch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["file", str(tmp_path / "missing.wav"), "--device", "cuda"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "--device: 'cuda' asked, but this torch" in err and "use --device cpu" in err


def test_plot_without_matplotlib_says_which_extra_before_any_work(
        dev_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed: importing it fails
    rttm = tmp_path / "call.rttm"
    code, _, err = run(["file", str(dev_dir / SAMPLE), "--rttm", str(rttm), "--plot", str(tmp_path / "call.png")],
                       capsys)
    assert code == 2
    assert err.strip().startswith('diarize file: error: --plot needs matplotlib: pip install "diarize-batch[plot]"')
    assert not rttm.exists()  # nothing was diarized


def test_input_and_model_errors_have_their_own_codes(dev_dir: Path, models_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["file", str(tmp_path / "missing.wav"), "--models", str(models_dir), "-q"], capsys)
    assert code == 3 and "missing.wav" in err and err.count("\n") == 1
    monkeypatch.delenv("DIARIZATION_MODELS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, _, err = run(["file", str(dev_dir / SAMPLE), "-q"], capsys)
    assert code == 4 and "run `diarize models download`" in err and err.count("\n") == 1


def test_models_are_found_from_any_directory_and_help_shows_where(
        models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # no models here nor in ../shared: the lookup must not depend on this
    code, out, _ = run(["models", "where"], capsys)
    assert code == 0 and out.strip() == f"default models in {models_dir}"
    code, out, _ = run(["file", "--help"], capsys)
    assert f"(default: {models_dir}" in " ".join(out.split()) and "../shared" not in out

    monkeypatch.delenv("DIARIZATION_MODELS")  # a fresh machine: no models anywhere
    shared_beside = tmp_path / "project"
    (tmp_path / "shared").symlink_to(models_dir.parent)  # even a ../shared/models beside the cwd is not used
    shared_beside.mkdir()
    monkeypatch.chdir(shared_beside)
    code, out, err = run(["models", "where"], capsys)
    assert code == 4 and "run `diarize models download`" in err and out == ""
    code, out, _ = run(["file", "--help"], capsys)
    assert "(default: none found: run `diarize models download`" in " ".join(out.split())


def test_distribution_name_is_ours_everywhere() -> None:
    import tomllib

    repo = Path(__file__).resolve().parents[2]
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    assert project["name"] == "diarize-batch" and project["scripts"] == {"diarize": "diarization.cli:main"}
    test_extra = project["optional-dependencies"]["test"]
    assert "diarize-batch[jobs,plot]" in test_extra
    # boto3's range from aiobotocore: without it pip backtracks through boto3 releases and replaced the
    # installed CPU torch in a fresh venv (checked there with `pip install --dry-run -e ".[test]"`)
    assert any(r.startswith("s3fs[boto3]") for r in test_extra)
    torch_requirement = next(r for r in project["dependencies"] if r.startswith("torch"))
    from packaging.requirements import Requirement

    assert "2.13.0" in Requirement(torch_requirement).specifier  # the README's CPU torch is kept
    for source in [*repo.glob("diarization/**/*.py"), *repo.glob("jobs/**/*.py")]:
        text = source.read_text(encoding="utf-8")
        assert "pip install diarize[" not in text and "pip install \"diarize[" not in text, source
