"""Batch diarization jobs on Ray: manifests in, Parquet out, models pinned in actors, resumable runs.

Modules: ``manifest`` (rows in), ``dates`` (run dates, ``{run_date}``), ``plan`` (options, resources),
``engine`` (the pipeline every worker builds), ``records`` (typed results of tasks and actors, table rows),
``tasks`` (decode, finish, commit), ``actors`` (model actors and their pools), ``flight`` (a row's state
through the stages), ``stages`` (decode -> segmentation -> embedding -> finish, crash isolation), ``stats``
(counters, run report), ``driver`` (sharding, the stage chain, commits, resume), ``store`` (the Parquet store:
committing writer, clean-up, resume set), ``schema`` (Arrow schemas), ``report`` (run summaries),
``error_types`` (the ``error_type`` values), ``html_report`` and ``svg`` (the HTML run report), ``cli``
(``diarize run|report``).

Output tables
-------------
Four hive-partitioned Parquet datasets under ``OUTPUT/<table>/run_date=YYYY-MM-DD/part-*.parquet``
(``run_date`` is the partition column), joined on ``(file_id, run_id)``. Their columns are defined once,
as the Arrow schemas in ``schema``; the values of ``status.error_type`` in ``error_types``. The README's
*Output* section describes both for users, and ``tests/jobs/test_schema_docs.py`` checks it against them.

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
