"""Arrow schemas of the four output tables, and conversion of per-file results into Arrow tables.

Every table is a hive-partitioned Parquet dataset under ``OUTPUT/<table>/run_date=YYYY-MM-DD/``;
``run_date`` is the partition column (not stored inside the files). Rows of one file are joined
across tables on ``(file_id, run_id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

TABLES = ("status", "segments", "exclusive", "embeddings")
PARTITION = "run_date"

STATUS = pa.schema([
    pa.field("file_id", pa.string(), nullable=False),
    pa.field("path", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),  # "ok" or "error"
    pa.field("error_type", pa.string()),  # null when ok; one of jobs.error_types.ERROR_TYPES
    pa.field("error_message", pa.string()),
    pa.field("duration", pa.float64()),  # seconds of audio (after decoding); null when not decoded
    pa.field("num_speakers", pa.int32()),  # speakers found; null on error
    pa.field("num_segments", pa.int32()),
    # worker seconds spent on this file, all stages (a model call's time shared out by duration)
    pa.field("processing_time", pa.float64()),
    pa.field("source_sample_rate", pa.int32()),
    pa.field("source_channels", pa.int32()),
    pa.field("channel", pa.int32()),  # requested channel, null = average of all channels
    pa.field("channel_mode", pa.string()),  # how the channels were used: mix, split or channel (one picked)
    # telephone audio (8 kHz or less, or nothing above the telephone band): the telephone settings were used
    pa.field("telephone", pa.bool_()),
    pa.field("manifest_row", pa.int64()),
    pa.field("fingerprint", pa.string(), nullable=False),  # models + config + engine: the resume key
    pa.field("model_versions", pa.string()),  # JSON object of Pipeline.versions
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("finished_at", pa.timestamp("us", tz="UTC"), nullable=False),
])

# one row per speaker turn (overlapping speech: one row per speaker), times in seconds
SEGMENTS = pa.schema([
    pa.field("file_id", pa.string(), nullable=False),
    pa.field("speaker", pa.string(), nullable=False),  # SPEAKER_00, ...; CH0_SPEAKER_00, ... in a split call
    pa.field("channel", pa.int32()),  # the speaker's channel in a split call; null when channels were mixed
    pa.field("start", pa.float64(), nullable=False),
    pa.field("end", pa.float64(), nullable=False),
    pa.field("duration", pa.float64(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])

EXCLUSIVE = SEGMENTS  # at most one speaker at a time (for transcript alignment)

EMBEDDINGS = pa.schema([
    pa.field("file_id", pa.string(), nullable=False),
    pa.field("speaker", pa.string(), nullable=False),
    pa.field("embedding", pa.list_(pa.float32()), nullable=False),  # the speaker's centroid
    pa.field("run_id", pa.string(), nullable=False),
])

SCHEMAS: dict[str, pa.Schema] = {"status": STATUS, "segments": SEGMENTS, "exclusive": EXCLUSIVE,
                                 "embeddings": EMBEDDINGS}


def table_of(name: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows (dicts with the schema's column names) as an Arrow table of table ``name``'s schema."""
    schema = SCHEMAS[name]
    columns = {field.name: [row.get(field.name) for row in rows] for field in schema}
    return pa.table(columns, schema=schema)
