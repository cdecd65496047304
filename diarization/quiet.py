"""Native decoder chatter kept off the terminal.

libmpg123 (inside libsndfile) prints notes such as ``[src/libmpg123/layer3.c:...] error: part2_3_length
(896) too large for available bit count (472)`` straight to file descriptor 2 while it decodes a valid MP3
and ``Note: Trying to resync...`` on a cut one; libsndfile offers no switch to turn them off
(libmpg123's MPG123_QUIET is not set by it).
``decoder_chatter_filtered()`` points fd 2 at a temporary file around a native call and, when the last
caller leaves, writes back every captured line except libmpg123's own, so anything else a thread printed
meanwhile still reaches stderr (late by at most one decoded block). Real decoding failures are not lost:
they come back from libsndfile as error codes and are raised as typed errors. Thread-safe: concurrent
callers share one redirection (a counter under a lock).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

STDERR = 2
# libmpg123's two styles: "[src/libmpg123/file.c:function():line] error: ..." and "Note: ..." / "Warning: ..."
# (resync notes, Xing size warnings); dropped only while libsndfile opens a file or decodes an MP3
CHATTER = re.compile(
    rb"^(?:\[[^\]\n]*libmpg123[^\]\n]*\] (?:error|warning|note): |(?:Note|Warning): )[^\n]*(?:\n|$)", re.MULTILINE)

_lock = threading.Lock()
_users = 0
_saved: int | None = None
_capture: IO[bytes] | None = None


def without_chatter(text: bytes) -> bytes:
    """``text`` without libmpg123's diagnostic lines."""
    return CHATTER.sub(b"", text)


def _flush_python_stderr() -> None:
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # no stderr, or a closed one
        pass


def _redirect() -> None:
    global _saved, _capture
    try:
        saved = os.dup(STDERR)
    except OSError:  # no fd 2 at all: nothing to protect
        return
    _flush_python_stderr()
    try:
        capture = tempfile.TemporaryFile()
    except OSError:  # no writable temporary folder (disk full, read-only): let the chatter through
        os.close(saved)
        return
    os.dup2(capture.fileno(), STDERR)
    _saved, _capture = saved, capture


def _restore() -> None:
    global _saved, _capture
    if _saved is None or _capture is None:
        return
    _flush_python_stderr()
    os.dup2(_saved, STDERR)
    os.close(_saved)
    capture, _saved, _capture = _capture, None, None
    with capture:
        capture.seek(0)
        kept = without_chatter(capture.read())
    while kept:
        kept = kept[os.write(STDERR, kept):]


@contextmanager
def decoder_chatter_filtered() -> Iterator[None]:
    """Run the body with libmpg123's stderr lines dropped (see the module docstring)."""
    global _users
    with _lock:
        if _users == 0:
            _redirect()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _restore()
