"""The values of the status table's ``error_type`` column: each defined here once, with what it means.

The six input errors are the engine's own (``diarization.errors``: the ``code`` of each ``AudioError``
subclass); the others are the job's. Every module that writes an error row takes its value from here
(``tests/jobs/test_schema_docs.py`` finds any spelled out elsewhere in ``jobs/``) and checks the README's
table of error types against ``ERROR_TYPES``.
"""

from __future__ import annotations

from diarization.errors import (
    AudioCredentialsError,
    AudioDecodeError,
    AudioNotFoundError,
    AudioReadError,
    AudioTooLongError,
    InvalidAudioError,
)

NOT_FOUND = AudioNotFoundError.code
READ_ERROR = AudioReadError.code
NO_CREDENTIALS = AudioCredentialsError.code
DECODE_ERROR = AudioDecodeError.code
INVALID_AUDIO = InvalidAudioError.code
TOO_LONG = AudioTooLongError.code
LOAD_ERROR = "load_error"
SEGMENTATION_ERROR = "segmentation_error"
EMBEDDING_ERROR = "embedding_error"
CLUSTERING_ERROR = "clustering_error"
WORKER_CRASHED = "worker_crashed"
MISSING_PATH = "manifest_missing_path"
BAD_VALUE = "manifest_bad_value"
DUPLICATE_ID = "manifest_duplicate_id"
OUTSIDE_ROOT = "outside_input_root"

# error_type -> when a file ends with it (the README's table says the same in more words)
ERROR_TYPES: dict[str, str] = {
    NOT_FOUND: "the file or object is missing or forbidden",
    READ_ERROR: "the store could not be reached or failed while reading (tried 3 times)",
    NO_CREDENTIALS: "S3 with no credentials anywhere (not retried)",
    DECODE_ERROR: "not audio in a format we read, truncated or corrupt",
    INVALID_AUDIO: "decoded, but unusable (no samples or channels, NaN/Inf, absurd sample rate)",
    TOO_LONG: "longer than --max-duration (known from the header)",
    LOAD_ERROR: "any other failure while decoding",
    SEGMENTATION_ERROR: "the segmentation model failed on this file",
    EMBEDDING_ERROR: "the embedding model failed on this file",
    CLUSTERING_ERROR: "clustering failed, e.g. impossible speaker-count constraints",
    WORKER_CRASHED: "the file killed its worker on every try",
    MISSING_PATH: "the manifest row has no path",
    BAD_VALUE: "the manifest row cannot be read, or a speaker count or channel is invalid",
    DUPLICATE_ID: "an earlier manifest row has the same id",
    OUTSIDE_ROOT: "the path lies outside --input-root",
}
