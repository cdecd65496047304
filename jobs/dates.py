"""Run dates: the partition a run writes, and the ``{run_date}`` placeholder of manifest URLs.

``--run-date`` takes ``today``, ``yesterday`` (both resolved in UTC when the options are made, i.e. when
the run starts) or a date written ``YYYY-MM-DD``; ``{run_date}`` in a manifest URL or glob
(``'s3://calls/{run_date}/*.wav'``) becomes that date before anything is read, so a nightly command line
never changes and the run report names the prefix that was actually read.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

PLACEHOLDER = "{run_date}"
DAYS_BACK = {"today": 0, "yesterday": 1}


def check_run_date(run_date: str) -> str:
    """``run_date`` if it is a real date written YYYY-MM-DD (it names a partition folder), else ValueError."""
    try:
        if not isinstance(run_date, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", run_date):
            raise ValueError
        date.fromisoformat(run_date)
    except ValueError:
        raise ValueError(f"run date {run_date!r}: expected a date as YYYY-MM-DD") from None
    return run_date


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def resolve_run_date(run_date: str | None, today: date | None = None) -> str:
    """The partition date for ``run_date``: ``None`` or ``"today"`` -> today, ``"yesterday"`` -> the day
    before (UTC, unless ``today`` is given), a ``YYYY-MM-DD`` date -> itself; anything else: ValueError."""
    if run_date is None or run_date in DAYS_BACK:
        back = DAYS_BACK[run_date or "today"]
        return ((today or utc_today()) - timedelta(days=back)).isoformat()
    try:
        return check_run_date(run_date)
    except ValueError:
        raise ValueError(f"run date {run_date!r}: expected yesterday, today or a date as YYYY-MM-DD") from None


def fill_run_date(template: str, run_date: str) -> str:
    """``template`` with every ``{run_date}`` replaced by ``run_date`` (other braces are left alone)."""
    return template.replace(PLACEHOLDER, check_run_date(run_date))
