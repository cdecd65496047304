"""Side by side in one run: our engine, the reference pyannote.audio 4.0.7 and senko 0.2.2, same audio.

Systems (``--systems``, comma-separated; default all but ours-fast-c1):

* ``ours-fast``     our default set (segmentation-3.0 + CAM++) in fast mode: what ``diarize file`` runs;
* ``ours-exact``    the same default set in exact mode (community-1's algorithm: 10 s chunks every 1 s);
* ``reference-default``  pyannote.audio 4.0.7's ``SpeakerDiarization`` on the same default set: the reference
                    on the checkpoints ``diarize file`` uses (benchmarks.reference_pipelines: pyannote has
                    no CAM++ class, so our CAM++ module is handed to it as a pyannote ``Model``; windows,
                    batching, masks, clustering and reconstruction are pyannote's). Its DER is meaningful;
* ``ours-exact-c1`` our engine, exact mode, on a community-1 folder (generated WeSpeaker weights, below);
* ``ours-fast-c1``  our engine, fast mode, on that folder (opt-in: not in the default list);
* ``reference``     pyannote.audio 4.0.7's community-1 pipeline on that same folder (``--reference-python``);
* ``senko``         senko 0.2.2 via benchmarks.senko_here (``--senko-python``).

"x ref" compares each system with the reference on ITS checkpoints: ours-fast / ours-exact with
reference-default, ours-*-c1 with reference.

The community-1 folder is ``shared/models/community-1`` plus a WeSpeaker ResNet34 checkpoint written by
``shared/tools/make-wespeaker-checkpoint.py`` (seeded random weights, exact format): the reference and
``ours-exact-c1`` load identical bytes, so their SPEED is that of the real model; their DER means nothing.

Inputs (``--sizes``): 30s, 10m, 1h, 2h (dev recordings joined and repeated, 16 kHz PCM16) and tel10m (the
10-minute file at 8 kHz mu-law); 2m exists for quick development runs. The reference runs about 1.3x
slower than real time on a 2-core CPU (reference-default about 3x faster than that), so both run only
on ``--reference-sizes`` (default 30s,10m).

Every (system, input) runs in a fresh process (benchmarks.compare.child) that loads the models, warms
up on a 10 s clip, then decodes, diarizes and writes RTTM for the input. Reported: total time (decode to
RTTM written; model load and warm-up excluded and shown apart), real-time factor, the speed-up against
the reference and against senko on the same input in the same run, per-stage seconds (ours and the
reference from their progress hooks, senko from its own timing_stats), and peak resident memory of the
process (``os.wait4`` rusage: includes the models). Ratios are the headline; absolute times are this
CPU's, under whatever else runs on it.

``--der`` also scores ours-fast, ours-exact, reference-default and senko on the dev set (pyannote.metrics,
collar 0, overlap scored, UEM where given, as benchmarks.der), the agreement of ours-exact with
reference-default (one's RTTMs scored against the other's), and the real community-1 RTTMs recorded in
``shared/reference/community-1-artifacts`` where those recordings are dev files.

    nice -n 19 python3 -m benchmarks.compare [--systems ours-fast,senko] [--sizes 30s,10m] [--der]
        [--reference-sizes 30s,10m] [--repeat N] [--workdir DIR] [--json OUT] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.compare.inputs import DEFAULT_SIZES, SIZES, build_inputs, make_community1
from benchmarks.compare.tables import Run, System, keep_best, print_headline, print_input_table
from benchmarks.paths import DEV, REPO, SHARED

CHILD = "benchmarks.compare.child"  # run as a module from the repository root, by each system's python
REFERENCES = ("reference", "reference-default")  # slow: only on --reference-sizes
ARTIFACTS = SHARED / "reference" / "community-1-artifacts"


def make_systems(args: argparse.Namespace, default_models: str, community1: str | None) -> dict[str, System]:
    """The seven systems; ``community1`` is None when no selected system needs that folder."""
    python, ref_python = sys.executable, args.reference_python
    plda = ("--plda", str(SHARED / "models" / "community-1"), "--assignment", args.reference_assignment)
    default, c1 = "reference-default", "reference"
    return {
        "ours-fast": System(
            "ours-fast", "ours fast (seg-3.0 + CAM++)", "ours-fast", python, default_models, reference=default
        ),
        "ours-exact": System(
            "ours-exact", "ours exact (seg-3.0 + CAM++)", "ours-exact", python, default_models, (), default
        ),
        "reference-default": System(
            default, "pyannote 4.0.7 (seg-3.0 + CAM++)", default, ref_python, default_models, plda, default
        ),
        "ours-fast-c1": System(
            "ours-fast-c1", "ours fast (community-1*)", "ours-fast", python, community1, reference=c1
        ),
        "ours-exact-c1": System(
            "ours-exact-c1", "ours exact (community-1*)", "ours-exact", python, community1, reference=c1
        ),
        "reference": System(c1, "pyannote 4.0.7 (community-1*)", c1, ref_python, community1, reference=c1),
        "senko": System("senko", "senko 0.2.2 (torch fbank)", "senko", args.senko_python, None),
    }


def run_child(
    system: System,
    files: list[Path],
    out_dir: Path,
    warmup: Path | None,
    timeout: float | None,
    env: dict[str, str],
    input_name: str,
) -> Run:
    """Run ``system`` on ``files`` in a fresh process; its peak RSS comes from ``os.wait4``."""
    command = [system.python, "-W", "ignore", "-m", CHILD, system.runner, "--out-dir", str(out_dir)]
    if system.models:
        command += ["--models", system.models]
    command += list(system.extra)
    if warmup is not None:
        command += ["--warmup", str(warmup)]
    command += [str(f) for f in files]
    run = Run(system.name, input_name)
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=REPO)
        timer = threading.Timer(timeout, process.kill) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if timer:
            timer.cancel()
        run.process_s = round(time.perf_counter() - start, 2)
        run.peak_rss_mb = round(usage.ru_maxrss / 1024, 1)  # Linux: KiB
        stdout.seek(0)
        stderr.seek(0)
        records = [json.loads(line[7:]) for line in stdout.read().splitlines() if line.startswith("RESULT ")]
        error_text = stderr.read()
    if records and "load_s" in records[0]:
        run.load, run.files = records[0], records[1:]
    run.ok = process.returncode == 0 and len(run.files) == len(files)
    if not run.ok:
        killed = timer is not None and process.returncode < 0
        run.error = (
            f"timed out after {timeout:g} s"
            if killed
            else f"exit {process.returncode}: {error_text.strip()[-600:]}"
        )
    return run


def run_der(
    systems: dict[str, System],
    names: list[str],
    work: Path,
    timeout: float | None,
    env: dict[str, str],
    warmup: Path,
) -> dict[str, Any]:
    """Dev-set DER of ``names`` (one process each over all dev files) and of recorded community-1 RTTMs."""
    from benchmarks.compare.der import agreement, recorded_community1, score_folder
    from benchmarks.devset import load_dev

    dev = load_dev(DEV)
    wavs = [dev.wavs[uri] for uri in dev.scored]
    print(f"\n== dev-set DER ({len(wavs)} files, {DEV}; collar 0, overlap scored, UEM where given) ==")
    report: dict[str, Any] = {}
    for name in names:
        run = run_child(systems[name], wavs, work / "der" / name, warmup, timeout, env, "dev")
        if not run.ok:
            print(f"{systems[name].label:<31} FAILED: {run.error.splitlines()[-1] if run.error else '?'}")
            report[name] = {"error": run.error}
            continue
        result = score_folder(dev, work / "der" / name)
        groups = ", ".join(f"{g} {d:.1f}" for g, d in result.groups.items())
        print(
            f"{systems[name].label:<31} DER {result.der:6.2f}%  "
            f"speaker-count errors {result.speaker_count_errors}/{len(result.files)}  "
            f"(RTF {run.total_s / run.audio_s:.3f})  [{groups}]",
            flush=True,
        )
        report[name] = {**asdict(result), "rtf": run.total_s / run.audio_s}
    if all(name in report and "error" not in report[name] for name in ("ours-exact", "reference-default")):
        value, differing, total = agreement(
            dev, work / "der" / "reference-default", work / "der" / "ours-exact"
        )
        print(f"ours exact against pyannote 4.0.7 on the same checkpoints: DER {value:.3f}% "
              f"(files differing at all: {differing}/{total})")
        report["exact-vs-reference"] = {"der": value, "differing": differing, "files": total}
    recorded, lines = recorded_community1(dev, ARTIFACTS)
    print("real community-1 (recorded RTTMs, shared/reference/community-1-artifacts):")
    for line in lines:
        print(f"  {line}")
    if recorded is None:
        print(
            "  -> none of the recorded files is a dev recording: "
            "the reference's own dev DER is not known here"
        )
    else:
        print(
            f"  -> DER {recorded.der:.2f}% on {len(recorded.files)} file(s): "
            + ", ".join(f"{u} {f['der']:.1f}" for u, f in recorded.files.items())
        )
    report["community-1-recorded"] = {"matches": lines, "score": asdict(recorded) if recorded else None}
    return report


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_list(text: str, allowed: list[str] | tuple[str, ...], what: str) -> list[str]:
    """Comma-separated names, checked; "none" -> []."""
    if text.strip().lower() == "none":
        return []
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in names if x not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks.compare", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    all_systems = [
        "ours-fast", "ours-exact", "reference-default", "ours-fast-c1", "ours-exact-c1", "reference", "senko"
    ]
    default_systems = [n for n in all_systems if n != "ours-fast-c1"]
    parser.add_argument("--systems", default=",".join(default_systems), help="comma-separated, or none")
    parser.add_argument(
        "--sizes", default=",".join(DEFAULT_SIZES), help=f"comma-separated of {', '.join(SIZES)}"
    )
    parser.add_argument(
        "--reference-sizes", default="30s,10m", help="inputs the reference runs on ('all': every size)"
    )
    parser.add_argument(
        "--der", action="store_true",
        help="also score ours-fast, ours-exact, reference-default, senko on the dev set"
    )
    parser.add_argument("--models", help="our default model set (default: $DIARIZATION_MODELS, else ../shared/models)")
    parser.add_argument("--workdir", help="keep (and reuse) inputs, community-1 folder and RTTMs here")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument("--timeout", type=float, help="seconds allowed to each process")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every (system, input) N times, keep the fastest"
    )
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="diarize a 10 s clip before timing (default on)",
    )
    parser.add_argument("--reference-python", default="/tmp/pyannote-ref/bin/python")
    parser.add_argument(
        "--reference-assignment", choices=("constrained", "argmax"), default="constrained",
        help="reference-default: one-to-one assignment per chunk as community-1 and ours (default), or "
        "pyannote's default for agglomerative clustering (closest centroid)",
    )
    parser.add_argument(
        "--senko-python", default=os.environ.get("SENKO_VENV", "/tmp/senko-venv") + "/bin/python"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated WeSpeaker weights")
    args = parser.parse_args()

    names = parse_list(args.systems, all_systems, "system")
    sizes = parse_list(args.sizes, list(SIZES), "size")
    reference_sizes = (
        sizes if args.reference_sizes == "all" else parse_list(args.reference_sizes, list(SIZES), "size")
    )
    if args.models is None:
        args.models = os.environ.get("DIARIZATION_MODELS") or str(SHARED / "models")
    temporary = tempfile.TemporaryDirectory(prefix="compare-") if not args.workdir else None
    work = Path(args.workdir or temporary.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.time()
    load_before = os.getloadavg()
    print(
        f"this CPU: {cpu_name()}, {os.cpu_count()} cores, "
        f"load average {load_before[0]:.2f} at start; niceness {os.nice(0)}; work folder {work}"
    )

    paths, warmup = build_inputs(work / "inputs", sizes)
    needs_c1 = any(n in names for n in ("ours-fast-c1", "ours-exact-c1", "reference"))
    community1 = (
        str(make_community1(work / "community-1", args.reference_python, args.seed)) if needs_c1 else None
    )
    systems = make_systems(args, args.models, community1)
    print(
        f"default set: {args.models}"
        + (
            f"; community-1 folder: {community1} (generated WeSpeaker weights, seed {args.seed})"
            if community1
            else ""
        )
    )

    runs: list[Run] = []
    for size in sizes:
        best: dict[str, Run] = {}
        for round_ in range(1, args.repeat + 1):  # rounds over all systems: drifting load hits each alike
            for name in names:
                if name in REFERENCES and size not in reference_sizes:
                    continue
                print(f"  running {name} on {size} ({round_}/{args.repeat}) ...", end=" ", flush=True)
                run = run_child(
                    systems[name],
                    [paths[size]],
                    work / "rttm" / size / name,
                    warmup if args.warmup else None,
                    args.timeout,
                    env,
                    size,
                )
                print(f"{run.total_s:.1f} s" if run.ok else "FAILED", flush=True)
                best[name] = keep_best(best.get(name), run)
        per_input = list(best.values())
        runs += per_input
        print_input_table(size, per_input, systems)
    if runs:
        print_headline(runs, sizes, systems)
        if community1:
            print("* community-1 with GENERATED WeSpeaker weights (same bytes for ours-*-c1 and the "
                  "reference): speed is the real model's, accuracy is not.")
        print(
            "  x ref: against pyannote 4.0.7 on the same checkpoints (seg-3.0 + CAM++: reference-default; "
            "community-1*: reference).\n"
            "  total = decode + diarize + write RTTM (model load and warm-up excluded); "
            "absolute seconds are this CPU's, ratios are within this run.\n"
            "  seg+emb: ours fast runs both models side by side on the CPU cores, so only their sum exists; "
            "senko: VAD (silero) as seg, fbank + CAM++ as emb, from its timing_stats."
        )

    der = (
        run_der(
            systems,
            [n for n in ("ours-fast", "ours-exact", "reference-default", "senko") if n in names],
            work,
            args.timeout,
            env,
            warmup,
        )
        if args.der
        else None
    )
    load_after = os.getloadavg()
    print(f"\nload average {load_after[0]:.2f} at the end; {time.time() - started:.0f} s in all")
    if args.json:
        report = {
            "machine": {
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": load_after,
                "python": platform.python_version(),
            },
            "systems": {k: asdict(v) for k, v in systems.items() if k in names},
            "inputs": {s: {"path": str(paths[s]), "label": SIZES[s].label} for s in sizes},
            "runs": [{**asdict(r), "total_s": r.total_s, "audio_s": r.audio_s} for r in runs],
            "der": der,
        }
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        print(f"figures written to {args.json}")
    if temporary is not None:
        temporary.cleanup()
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
