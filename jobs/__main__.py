"""``python -m jobs run|report ...`` (what ``ray job submit ... -- python -m jobs run ...`` executes)."""

import sys

from .cli import main

sys.exit(main())
