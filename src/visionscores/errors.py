"""The one exception family for input the pipeline cannot use, and how a failure is recorded.

A :class:`VisionscoresError` is a fact about a piece (a corrupt PDF, a CAPTCHA answer), not a
bug: the stage that meets it records it as the piece's outcome, the piece's later stages pass
it along with no pages, and publish lists it in the scenario's failures table, so one bad file
never stops a run. Any other exception is a bug and fails the job.
"""

from __future__ import annotations

from typing import Any


class VisionscoresError(Exception):
    """Input the pipeline cannot use; the message names the file or piece and the cause.

    ``cause`` is a short machine-readable code (e.g. ``"not-pdf"``, ``"encrypted"``).
    """

    cause = "error"

    def __init__(self, *args: Any, cause: str | None = None) -> None:
        super().__init__(*args)
        if cause is not None:
            self.cause = cause


def failure_record(piece_id: str, stage: str, error: VisionscoresError) -> dict[str, str]:
    """What is kept of a piece's failure: where it happened, the cause code and the message."""
    return {"piece_id": piece_id, "stage": stage, "cause": error.cause, "message": str(error)}
