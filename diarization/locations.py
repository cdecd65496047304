"""Where an input or output lives: on this machine's file system, or behind an fsspec URL."""

from __future__ import annotations

FILE_SCHEME = "file://"


def local_path(location: str) -> str | None:
    """The file-system path of a plain path or ``file://`` URL; None for a URL of any other scheme
    (``s3://``, ``gs://``, ``http://``, ...)."""
    if "://" not in location or location.startswith(FILE_SCHEME):
        return location.removeprefix(FILE_SCHEME)
    return None
