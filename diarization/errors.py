"""Typed errors. Each message names the input (file or URL) and the reason."""

from __future__ import annotations


class DiarizationError(Exception):
    """Base class of every error the engine raises on purpose."""


class AudioError(DiarizationError):
    """The audio cannot be used: base class for the input errors below."""

    code = "audio_error"

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class AudioNotFoundError(AudioError):
    """The file or object does not exist or cannot be opened."""

    code = "not_found"


class AudioReadError(AudioError):
    """The bytes could not be fetched: a storage or network failure (connection reset, timeout, server
    error after the client's retries). Says nothing about the file itself: retrying may succeed."""

    code = "read_error"


class AudioCredentialsError(AudioError):
    """The store needs credentials and none were found (environment, config files, instance profile,
    storage options). A property of the job's set-up, not of the file: retrying does not help."""

    code = "no_credentials"


class AudioDecodeError(AudioError):
    """The bytes are not audio in a format we read, or are truncated or corrupt."""

    code = "decode_error"


class InvalidAudioError(AudioError):
    """Decoded, but unusable: no channels, no samples, NaN/Inf values, absurd sample rate."""

    code = "invalid_audio"


class AudioTooLongError(AudioError):
    """Longer than the configured maximum duration."""

    code = "too_long"


class ModelLoadError(DiarizationError):
    """A model folder or checkpoint is missing, incomplete or in an unknown format."""

    code = "model_error"
