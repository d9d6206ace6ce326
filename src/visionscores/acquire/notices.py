"""Messages for the person running the workflow, on the console (standard error).

A job's standard output goes to its log; the acquire rule sends standard error to both the
console and the log, so what is said here is seen while a long run is under way.
"""

from __future__ import annotations

import sys


def notice(text: str) -> None:
    """Say ``text`` on standard error at once (one paragraph, no trailing newline needed)."""
    print(f"visionscores: {text}", file=sys.stderr, flush=True)
