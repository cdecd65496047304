"""Opening an input for reading: a local file or an fsspec URL, every failure a typed error.

Missing or forbidden files and objects are ``AudioNotFoundError``; a store that cannot be reached (connection
refused or reset, timeout, a 5xx after the client's own retries; also when fsspec reports it as "not found",
as its HTTP file system does) is ``AudioReadError``, worth retrying; S3 without any credentials is
``AudioCredentialsError``, which no retry fixes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from typing import IO, Any

from .errors import AudioCredentialsError, AudioDecodeError, AudioNotFoundError, AudioReadError
from .locations import local_path

# botocore's names for "no credentials anywhere in the chain" (env, config files, instance profile)
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError")
_TRANSIENT_WORDS = ("Connect", "Timeout", "Disconnected", "Closed", "Payload", "Endpoint", "Throttl", "SlowDown")


def open_input(path: str, storage_options: Mapping[str, Any] | None) -> IO[bytes]:
    """Open a local path or fsspec URL for reading; missing, unreadable or empty inputs are typed errors."""
    local = local_path(path)
    if local is not None:
        return _open_local(path, local)
    import fsspec

    try:
        stream = fsspec.open(path, "rb", **dict(storage_options or {})).open()
    except Exception as error:
        raise open_error(path, error) from error
    if getattr(stream, "size", None) == 0:
        stream.close()
        raise AudioDecodeError(path, "empty object (0 bytes)")
    return stream


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the errors it was raised from (fsspec's HTTP "not found" wraps a refused connection)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def open_error(path: str, error: BaseException) -> AudioNotFoundError | AudioReadError | AudioCredentialsError:
    """The typed error for a failure to open the fsspec URL ``path``."""
    chain = list(_chain(error))
    if any(type(e).__name__ in _NO_CREDENTIALS for e in chain):
        return AudioCredentialsError(path, "no credentials found for this store (AWS environment variables, "
                                           "config files, an instance profile or storage options)")
    transient = next((e for e in chain if is_transient(e)), None)
    if transient is not None:
        return AudioReadError(path, f"storage unreachable ({type(transient).__name__}: {transient})")
    if isinstance(error, FileNotFoundError):
        return AudioNotFoundError(path, "no such object")
    if isinstance(error, PermissionError):
        return AudioNotFoundError(path, f"permission denied ({error})")
    return AudioNotFoundError(path, f"cannot open ({type(error).__name__}: {error})")


def is_transient(error: BaseException) -> bool:
    """Whether a storage error is a network or server failure (worth retrying), not a property of the
    path: OS-level I/O errors other than missing/forbidden, timeouts, and the connection errors of the
    HTTP stacks fsspec uses (aiohttp, botocore, urllib3, requests)."""
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return False
    if isinstance(error, (OSError, TimeoutError)):
        return True
    return any(cls.__module__.split(".")[0] in ("aiohttp", "botocore", "urllib3", "requests")
               and any(word in cls.__name__ for word in _TRANSIENT_WORDS) for cls in type(error).__mro__)


def _open_local(path: str, local: str) -> IO[bytes]:
    """Open a regular local file; a FIFO or device (which could block or never end) is refused."""
    try:
        info = os.stat(local)
        if stat.S_ISDIR(info.st_mode):
            raise AudioNotFoundError(path, "is a directory, not an audio file")
        if not stat.S_ISREG(info.st_mode):
            raise AudioNotFoundError(path, "not a regular file (a pipe, socket or device)")
        if info.st_size == 0:
            raise AudioDecodeError(path, "empty file (0 bytes)")
        return open(local, "rb")
    except (FileNotFoundError, NotADirectoryError) as error:  # also: deleted between stat and open
        raise AudioNotFoundError(path, "no such file") from error
    except PermissionError as error:
        raise AudioNotFoundError(path, f"permission denied ({error.strerror})") from error
    except (OSError, ValueError) as error:  # name too long, symlink loop, NUL byte in the path, ...
        raise AudioNotFoundError(path, f"cannot open ({getattr(error, 'strerror', None) or error})") from error
