"""The HTML run report as a person sees it: a real small nightly job, its report, a headless-Chromium
screenshot.

Copies ``--files`` dev recordings (LibriSpeech conversations and AMI excerpts) and one file that is not
audio into ``calls/2026-11-25/``, runs ``python -m jobs run 'calls/{run_date}/*.wav' --run-date 2026-11-25``
on a local Ray, writes ``python -m jobs report OUT --html report.html``, and renders the page with
``chromium --headless --screenshot``. Prints the HTML and PNG paths and sizes. ``--output DIR`` skips the
job and reports on an existing output instead. Needs Chromium (``apt-get install chromium``); the tests
do not.

    python3 -m benchmarks.report_screenshot [--files 8] [--output DIR] [--folder /tmp/report-shot]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.paths import DEV, REPO, SHARED

RUN_DATE = "2026-11-25"


def make_calls(folder: Path, files: int) -> Path:
    """``files`` dev recordings and one text file named like audio, under ``calls/RUN_DATE/``."""
    day = folder / "calls" / RUN_DATE
    day.mkdir(parents=True, exist_ok=True)
    sources = sorted((DEV / "libri_conversations").glob("*.wav"))[: (files + 1) // 2]
    sources += sorted((DEV / "ami_debug_train").glob("trn*.wav"))[: files // 2]
    for source in sources:
        shutil.copy(source, day / f"{source.parent.name}-{source.name}")
    (day / "not-audio.wav").write_text("this is not audio\n" * 20)
    return folder / "calls" / "{run_date}" / "*.wav"


def jobs_command(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("RAY_ADDRESS", None)
    subprocess.run([sys.executable, "-m", "jobs", *args], check=True, env=env)


def screenshot(html: Path, png: Path, width: int, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", html.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8, help="dev recordings in the job (default 8)")
    parser.add_argument("--output", help="report on this existing output instead of running a job")
    parser.add_argument("--folder", help="where the calls, output, HTML and PNG go (default: a temp folder)")
    parser.add_argument("--models", default=str(SHARED / "models"))
    parser.add_argument("--size", default="1200x3400", help="browser window, WIDTHxHEIGHT (default 1200x3400)")
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="report-shot-"))
    folder.mkdir(parents=True, exist_ok=True)
    output = args.output
    if output is None:
        output = str(folder / "out")
        pattern = make_calls(folder, args.files)
        jobs_command("run", str(pattern), "--output", output, "--run-date", RUN_DATE, "--models", args.models,
                     "--num-cpus", str(os.cpu_count() or 2), "--no-progress")
    html, png = folder / "report.html", folder / "report.png"
    jobs_command("report", output, "--html", str(html))
    width, height = (int(v) for v in args.size.split("x"))
    screenshot(html, png, width, height)
    print(f"html {html} ({html.stat().st_size} bytes)")
    print(f"png  {png} ({png.stat().st_size} bytes, {width}x{height})")


if __name__ == "__main__":
    main()
