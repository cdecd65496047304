"""libmpg123's notes on stderr while a valid MP3 decodes are dropped; everything else written to stderr
meanwhile still arrives, and decoding errors are still raised (typed)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from diarization.audio import load_audio
from diarization.errors import AudioDecodeError
from diarization.quiet import decoder_chatter_filtered, without_chatter

REPO = Path(__file__).resolve().parents[2]
# valid; libmpg123 complains at block boundaries, yet the samples equal those of a single whole-file read
CHATTY = "data/dev-calls/mp3/devcall_02.mp3"
NOTE = b"[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length (896) too large for available bit count (472)\n"


def _stderr_of(code: str, path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env,
                          timeout=120)


def test_decoding_a_chatty_mp3_leaves_stderr_clean(shared_dir: Path) -> None:
    path = shared_dir / CHATTY
    plain = _stderr_of("import sys, soundfile\nwith soundfile.SoundFile(sys.argv[1]) as sound:\n"
                       "    while len(sound.read(240000)): pass", path)  # 30 s blocks of 8 kHz, as load_audio reads
    assert plain.returncode == 0 and "libmpg123" in plain.stderr  # the file does make libmpg123 talk
    ours = _stderr_of("import sys; from diarization.audio import load_audio\n"
                      "print(round(load_audio(sys.argv[1]).duration, 3))", path)
    assert ours.returncode == 0 and ours.stdout.strip() == "37.492"
    assert ours.stderr == ""


def test_other_output_written_meanwhile_still_reaches_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with decoder_chatter_filtered():
        os.write(2, NOTE + b"a real warning from another library\n")
        with decoder_chatter_filtered():  # nested and concurrent users share one redirection
            worker = threading.Thread(target=os.write, args=(2, b"a line from another thread\n"))
            worker.start()
            worker.join()
        print("python's own stderr", file=sys.stderr)
    os.write(2, b"after\n")
    lines = capfd.readouterr().err.splitlines()
    assert sorted(lines) == sorted(["a real warning from another library", "a line from another thread",
                                    "python's own stderr", "after"])
    assert lines.index("a real warning from another library") < lines.index("a line from another thread")


def test_only_libmpg123_lines_are_dropped() -> None:
    text = (NOTE + b"[src/libmpg123/frame.c:123] warning: something\nerror: not mpg123\n[other] error: kept\n"
            b"Note: Illegal Audio-MPEG-Header 0x00000000 at offset 5000.\nNote: Trying to resync...\n"
            b"Warning: Xing stream size off by more than 1%, fuzzy seeking may be even more fuzzy than by design!\n"
            b"a line that mentions Note: in passing\n")
    assert without_chatter(text) == b"error: not mpg123\n[other] error: kept\na line that mentions Note: in passing\n"


def test_a_broken_mp3_is_still_a_typed_error(tmp_path: Path, shared_dir: Path) -> None:
    broken = tmp_path / "noise.mp3"
    broken.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + os.urandom(2000))
    with pytest.raises(AudioDecodeError, match="noise.mp3"):
        load_audio(broken)


def test_without_a_temporary_folder_decoding_still_works(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_space)
    assert load_audio(shared_dir / CHATTY).duration == pytest.approx(37.492)  # the notes show, nothing fails
