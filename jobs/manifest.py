"""Manifests in: CSV/TSV, JSON Lines or Parquet (local or any fsspec URL), or a glob / prefix of audio files.

One row per audio file. Columns (case-insensitive; others are ignored):

``path`` (required)
    local path or URL (``s3://...``); a relative path is relative to the manifest's folder.
``id``
    the file's id in every output table and the resume key; default: the resolved path.
``num_speakers``, ``min_speakers``, ``max_speakers``
    positive integers, optional.
``channel``
    0-based channel to diarize instead of the channel average (e.g. one side of a stereo call).
``channels``
    ``mix``, ``split`` or ``auto``: how this file's channels are diarized (``diarization.channels``);
    default: the job's ``--channels``.

Rows are read in record batches, so a ten-million-row manifest streams in bounded memory. A bad row
(no path, a bad value, an id seen before, a path outside the input root) becomes a :class:`BadRow`,
which the job reports as an error row; only a manifest that cannot be read at all (no ``path`` column,
unknown format) raises :class:`ManifestError`.

With an ``input_root`` (a local folder or a URL prefix such as ``s3://bucket/calls``), every resolved
path must lie under it: ``..`` segments, absolute paths elsewhere, symlinks that resolve outside the
folder, other schemes, buckets or prefixes all become ``outside_input_root`` rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import fsspec

from diarization.channels import ChannelMode
from diarization.locations import local_path

from .error_types import BAD_VALUE, DUPLICATE_ID, MISSING_PATH, OUTSIDE_ROOT
from .keys import HashSet64, id_hashes

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".au", ".aiff", ".aif", ".sph", ".caf")
FORMATS = ("csv", "tsv", "jsonl", "parquet", "glob")
BATCH_ROWS = 16_384


class ManifestError(ValueError):
    """The manifest as a whole cannot be used (unreadable, unknown format, no ``path`` column)."""


@dataclass(frozen=True)
class FileTask:
    """A valid manifest row: one file to diarize."""

    row: int  # 1-based row number among the manifest's data rows (glob: position in sorted listing)
    file_id: str
    path: str
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    channel: int | None = None
    channels: str | None = None  # channel mode: mix, split or auto (None: the job's)


@dataclass(frozen=True)
class BadRow:
    """A manifest row that cannot be run; it becomes an error row in the status table."""

    row: int
    file_id: str
    path: str
    error_type: str
    message: str


Item = FileTask | BadRow


def is_pattern(source: str) -> bool:
    """True for a glob (``*``, ``?``, ``[``) or a prefix ending in ``/`` rather than a manifest file."""
    return any(c in source for c in "*?[") or source.endswith("/") or os.path.isdir(source)


def detect_format(source: str) -> str:
    """csv, tsv, jsonl, parquet or glob, from the name (compression suffixes such as .gz are skipped)."""
    if is_pattern(source):
        return "glob"
    name = source.lower()
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        name = name.removesuffix(suffix)
    for extensions, kind in (((".csv",), "csv"), ((".tsv", ".tab"), "tsv"),
                             ((".jsonl", ".ndjson", ".json"), "jsonl"), ((".parquet", ".pq"), "parquet")):
        if name.endswith(extensions):
            return kind
    raise ManifestError(f"{source}: cannot tell the manifest format from its name; "
                        f"pass --manifest-format ({', '.join(FORMATS)})")


class Manifest:
    """A re-iterable stream of validated, de-duplicated manifest rows, in batches.

    ``storage_options`` go to fsspec for the manifest and are also the defaults for resolving globs.
    ``input_root``, when given, confines every row's path (see the module's docstring).
    """

    def __init__(self, source: str, storage_options: Mapping[str, Any] | None = None,
                 format: str | None = None, batch_rows: int = BATCH_ROWS, input_root: str | None = None) -> None:
        self.source = source
        self.input_root = InputRoot(input_root) if input_root else None
        self.storage_options = dict(storage_options or {})
        self.format = format or detect_format(source)
        if self.format not in FORMATS:
            raise ManifestError(f"unknown manifest format {self.format!r}; use one of {', '.join(FORMATS)}")
        self.batch_rows = batch_rows
        self.base = _base_of(source) if self.format != "glob" else ""

    @property
    def total_rows(self) -> int | None:
        """Number of rows when cheaply known (Parquet footer), else None."""
        if self.format != "parquet":
            return None
        import pyarrow.parquet as pq

        with fsspec.open(self.source, "rb", **self.storage_options) as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)

    def is_empty(self) -> bool:
        """No row at all (a glob matching nothing, a header-only CSV, an empty JSONL or Parquet file)."""
        return next(iter(self._raw_batches()), None) is None

    def __iter__(self) -> Iterator[list[Item]]:
        seen = HashSet64()
        row = 0
        for raw_rows in self._raw_batches():
            items: list[Item] = []
            for raw in raw_rows:
                row += 1
                items.append(parse_row(raw, row, self.base, self.input_root))
            new = seen.add_new(id_hashes(item.file_id for item in items))
            # an id seen before (on a good or a bad row) makes a good row a duplicate-id error
            yield [_duplicate(item) if isinstance(item, FileTask) and not fresh else item
                   for item, fresh in zip(items, new)]

    # -- readers: each yields lists of raw row dicts --------------------------------------------------

    def _raw_batches(self) -> Iterator[list[Any]]:
        reader = {"csv": self._delimited, "tsv": self._delimited, "jsonl": self._jsonl,
                  "parquet": self._parquet, "glob": self._glob}[self.format]
        try:
            yield from reader()
        except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
            raise ManifestError(f"{self.source}: cannot read the manifest ({error})") from error

    def _open_text(self) -> Any:
        return fsspec.open(self.source, "rt", encoding="utf-8-sig", newline="", compression="infer",
                           **self.storage_options)

    def _delimited(self) -> Iterator[list[dict]]:
        with self._open_text() as handle:
            reader = csv.DictReader(handle, delimiter="\t" if self.format == "tsv" else ",")
            columns = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
            if "path" not in columns:
                raise ManifestError(f"{self.source}: no 'path' column (columns: {columns})")
            reader.fieldnames = columns
            batch: list[dict] = []
            for record in reader:
                batch.append(record)
                if len(batch) >= self.batch_rows:
                    yield batch
                    batch = []
            if batch:
                yield batch

    def _jsonl(self) -> Iterator[list[Any]]:
        with self._open_text() as handle:
            batch: list[Any] = []
            for line in handle:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    record = _Unparsable(f"not a JSON object ({error.msg})")
                batch.append(record)
                if len(batch) >= self.batch_rows:
                    yield batch
                    batch = []
            if batch:
                yield batch

    def _parquet(self) -> Iterator[list[dict]]:
        import pyarrow.parquet as pq

        with fsspec.open(self.source, "rb", **self.storage_options) as handle:
            parquet = pq.ParquetFile(handle)
            names = {name.lower(): name for name in parquet.schema_arrow.names}
            if "path" not in names:
                raise ManifestError(f"{self.source}: no 'path' column (columns: {list(names)})")
            wanted = [names[c] for c in ("path", "id", "num_speakers", "min_speakers", "max_speakers",
                                          "channel", "channels") if c in names]
            for batch in parquet.iter_batches(batch_size=self.batch_rows, columns=wanted):
                yield [{key.lower(): value for key, value in record.items()} for record in batch.to_pylist()]

    def _glob(self) -> Iterator[list[dict]]:
        fs, path = fsspec.core.url_to_fs(self.source, **self.storage_options)
        if any(c in path for c in "*?["):
            found = fs.glob(path)
        else:
            found = [p for p in fs.find(path) if p.lower().endswith(AUDIO_EXTENSIONS)]
        remote = local_path(self.source) is None
        paths = sorted(fs.unstrip_protocol(p) if remote else p for p in found)
        for start in range(0, len(paths), self.batch_rows):
            yield [{"path": p} for p in paths[start:start + self.batch_rows]]


@dataclass(frozen=True)
class _Unparsable:
    reason: str


def parse_row(raw: Any, row: int, base: str = "", input_root: InputRoot | None = None) -> Item:
    """Validate one raw manifest row (a dict of column -> value) into a FileTask or a BadRow."""
    if isinstance(raw, _Unparsable) or not isinstance(raw, Mapping):
        reason = raw.reason if isinstance(raw, _Unparsable) else f"not a JSON object ({type(raw).__name__})"
        return BadRow(row, f"row:{row}", "", BAD_VALUE, f"manifest row {row}: {reason}")
    record = {str(key).strip().lower(): value for key, value in raw.items()}
    given_id = _text(record.get("id"))
    path = _text(record.get("path"))
    if not path:
        file_id = given_id or f"row:{row}"
        return BadRow(row, file_id, "", MISSING_PATH, f"manifest row {row}: no path")
    path = resolve_path(path, base)
    file_id = given_id or path
    if input_root is not None and not input_root.contains(path):
        return BadRow(row, file_id, path, OUTSIDE_ROOT,
                      f"manifest row {row}: {path!r} is outside the input root {input_root.root!r}")
    try:
        values = {name: _count(record.get(name), name, minimum=1)
                  for name in ("num_speakers", "min_speakers", "max_speakers")}
        channel = _count(record.get("channel"), "channel", minimum=0)
        channels = _text(record.get("channels")) or None
        if channels is not None:
            channels = ChannelMode.named(channels.lower()).value
    except (ValueError, TypeError) as error:
        return BadRow(row, file_id, path, BAD_VALUE, f"manifest row {row}: {error}")
    low, high = values["min_speakers"], values["max_speakers"]
    if low is not None and high is not None and low > high:
        return BadRow(row, file_id, path, BAD_VALUE,
                      f"manifest row {row}: min_speakers ({low}) is larger than max_speakers ({high})")
    return FileTask(row, file_id, path, channel=channel, channels=channels, **values)


def resolve_path(path: str, base: str) -> str:
    """A manifest path made absolute: URLs and absolute paths as they are, others relative to ``base``."""
    if "://" in path or not base or os.path.isabs(path):
        return path
    if "://" in base:
        return base.rstrip("/") + "/" + posixpath.normpath(path)
    return os.path.normpath(os.path.join(base, path))


class InputRoot:
    """The folder or URL prefix that manifest paths must stay inside."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.remote = _is_remote(root)
        if self.remote:
            scheme, _, rest = root.partition("://")
            key = posixpath.normpath("/" + rest.strip("/")).lstrip("/")
            if not key or key == "." or ".." in rest.split("/"):
                raise ValueError(f"input root {root!r}: a URL needs a bucket (and no '..')")
            self.prefix = f"{scheme.lower()}://{key}/"
        else:
            self.prefix = os.path.join(os.path.realpath(root.removeprefix("file://")), "")

    def contains(self, path: str) -> bool:
        """True when ``path`` (already resolved against the manifest's folder) lies under the root."""
        if _is_remote(path) != self.remote:
            return False
        if self.remote:
            scheme, _, rest = path.partition("://")
            if ".." in rest.split("/") or "//" in rest:  # no segment games in keys
                return False
            return f"{scheme.lower()}://{rest}".startswith(self.prefix)
        try:  # symlinks and '..' resolved: where the file really is
            real = os.path.realpath(path.removeprefix("file://"))
        except (OSError, ValueError):
            return False
        return os.path.join(real, "").startswith(self.prefix)


def _is_remote(path: str) -> bool:
    return local_path(path) is None


def _base_of(source: str) -> str:
    local = local_path(source)
    if local is None:
        return source.rsplit("/", 1)[0]
    return os.path.dirname(os.path.abspath(local))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _count(value: Any, name: str, minimum: int) -> int | None:
    """An optional integer >= minimum from a CSV string, a JSON number or a Parquet value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _duplicate(item: Item) -> BadRow:
    return BadRow(item.row, item.file_id, item.path, DUPLICATE_ID,
                  f"manifest row {item.row}: id {item.file_id!r} appears on an earlier row")


def write_manifest(rows: list[dict], destination: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """Write ``rows`` as a manifest whose format follows ``destination``'s extension (a helper for users
    and tests)."""
    kind = detect_format(destination)
    options = dict(storage_options or {})
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with fsspec.open(destination, "wb", **options) as handle:
            pq.write_table(pa.Table.from_pylist(rows), handle)
    elif kind == "jsonl":
        with fsspec.open(destination, "wt", encoding="utf-8", compression="infer", **options) as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    else:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, delimiter="\t" if kind == "tsv" else ",")
        writer.writeheader()
        writer.writerows(rows)
        with fsspec.open(destination, "wt", encoding="utf-8", compression="infer", **options) as handle:
            handle.write(buffer.getvalue())
    return destination
