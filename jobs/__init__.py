"""Batch diarization jobs on Ray: manifests in, Parquet out, models pinned in actors, resumable runs.

Modules: ``manifest`` (rows in), ``dates`` (run dates, ``{run_date}``), ``plan`` (options, resources),
``engine`` (the pipeline every worker builds), ``records`` (typed results of tasks and actors, table rows),
``tasks`` (decode, finish, commit), ``actors`` (model actors and their pools), ``flight`` (a row's state
through the stages), ``stages`` (decode -> segmentation -> embedding -> finish, crash isolation), ``stats``
(counters, run report), ``driver`` (sharding, the stage chain, commits, resume), ``store`` (the Parquet store:
committing writer, clean-up, resume set), ``schema`` (Arrow schemas), ``report`` (run summaries),
``html_report`` and ``svg`` (the HTML run report), ``cli`` (``diarize run|report``).

Output tables
-------------
Four hive-partitioned Parquet datasets under ``OUTPUT/<table>/run_date=YYYY-MM-DD/part-*.parquet``
(zstd, row groups of at most 100k rows, 16k for embeddings). ``run_date`` is the partition column.
Read a table with ``pyarrow.dataset.dataset("OUTPUT/segments", partitioning="hive")``, DuckDB
``read_parquet('OUTPUT/segments/**/*.parquet', hive_partitioning=true)`` or Polars
``scan_parquet('OUTPUT/segments/**/*.parquet', hive_partitioning=True)``. Temporary files are
named ``.tmp-*.partial`` and run reports live in ``OUTPUT/_runs/``, so readers never pick them up.

``status``: exactly one row per manifest row processed in the partition.
    file_id string, path string, status string ("ok" | "error"), error_type string (null when ok),
    error_message string, duration float64 (seconds of decoded audio), num_speakers int32,
    num_segments int32, processing_time float64 (worker seconds spent on the file, model time
    shared out by duration), source_sample_rate int32, source_channels int32, channel int32,
    manifest_row int64, fingerprint string (models + configuration), model_versions string (JSON),
    run_id string, finished_at timestamp[us, UTC].
``segments``: one row per speaker turn (overlapping speech: one row per speaker).
    file_id string, speaker string (SPEAKER_00, ...), start float64, end float64, duration float64
    (seconds), run_id string.
``exclusive``: the same columns; at most one speaker at a time (for transcript alignment).
``embeddings``: one row per speaker of each file.
    file_id string, speaker string, embedding list<float32> (the speaker's centroid), run_id string.

Join the tables on ``(file_id, run_id)``. Error types: ``not_found``, ``read_error`` (storage failure or
unreachable store, tried 3 times), ``no_credentials`` (S3 without credentials, not retried), ``decode_error``
(also a WAV whose data ends before its header says: "truncated: header says N samples, file has M"),
``invalid_audio``, ``too_long`` (from the engine's ``AudioError``), ``load_error`` (anything else while
decoding), ``segmentation_error``, ``embedding_error``, ``clustering_error``, ``worker_crashed`` (the
file killed a model worker on every try), ``manifest_missing_path``, ``manifest_bad_value``,
``manifest_duplicate_id``.

Exactly one outcome, resume
---------------------------
A shard (``--shard-size`` rows) is committed as a unit: its data tables are written to temporary names
and renamed into place, then its status file is renamed into place last. The status file is the commit
marker: a run first deletes temporary files and data files of shards without a status file (left by a
crash), so readers never see rows of an uncommitted shard, and no shard is half counted.

A rerun (``--resume``, the default) skips every file id that has an ``ok`` row under the same
``fingerprint`` in any partition, and retries the rest. Before retrying, it removes the retried files'
earlier error rows from the partition it writes (rewriting those status files atomically), so each
partition keeps exactly one status row per manifest row however often the job is rerun. Only one job
at a time may write a given output partition. ``--no-resume`` deletes the partition and starts over.
"""
