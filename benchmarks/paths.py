"""Where the benchmarks find this checkout and the team's shared folder (models, dev audio, tools)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DIARIZATION_SHARED", REPO.parent / "shared"))
DEV = SHARED / "data" / "dev"
