"""Why a PDF could not be fetched: one error class per cause, each naming the manual fallback.

Every :class:`AcquireError` is a fact about a piece (a CAPTCHA answer, a daily cap, a host
that cannot be reached), not a bug: the acquire stage records it as the piece's outcome and
the run goes on. Its message names the piece, what happened, and where to place the PDF by
hand.
"""

from __future__ import annotations

from visionscores.errors import VisionscoresError

#: Where a user puts a PDF fetched by hand; named in every :class:`AcquireError` message.
MANUAL_PDF_PATH = "resources/pdf/{piece_id}.pdf"


class AcquireError(VisionscoresError):
    """A PDF could not be fetched; ``cause`` is a short machine-readable code.

    Attributes:
        piece_id: the piece the download was for (or what a text fetch was for).
        cause: short code, e.g. ``"captcha"``, ``"daily-cap"``, ``"not-pdf"``.
        message: one human-readable paragraph: piece, what happened, how to place the PDF by
            hand.
        url: the URL that gave the answer, when known.
    """

    def __init__(self, piece_id: str, cause: str, message: str, url: str | None = None):
        # Keep every constructor argument in ``args`` so the error pickles across processes.
        super().__init__(piece_id, cause, message, url)
        self.piece_id = piece_id
        self.cause = cause
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class BotCheckError(AcquireError):
    """The site answered with a bot gate: cause ``"captcha"`` or ``"js-challenge"``."""


class DailyLimitError(AcquireError):
    """The per-IP daily download cap was reached ("Subscribe" page): cause ``"daily-cap"``."""


class CopyrightBlockedError(AcquireError):
    """The file is blocked pending copyright review: cause ``"copyright-blocked"``."""


class NotFoundError(AcquireError):
    """HTTP 404/410 for the file or its index: cause ``"not-found"``."""


class DisclaimerLoopError(AcquireError):
    """The disclaimer page came back after accepting it: cause ``"disclaimer-loop"``."""


class NotPdfError(AcquireError):
    """Something other than a readable PDF arrived: cause ``"not-pdf"``."""


class TooLargeError(AcquireError):
    """The file is larger than ``DownloadPolicy.max_bytes``: cause ``"too-large"``."""


class HostNotAllowedError(AcquireError):
    """A redirect or link pointed outside the host allowlist: cause ``"host-not-allowed"``."""


class FetchTimeoutError(AcquireError):
    """The server did not answer in time, on every attempt: cause ``"timeout"``."""


class HttpStatusError(AcquireError):
    """An HTTP error status that retries did not cure: cause ``"http-error"``."""


class RateLimitedError(HttpStatusError):
    """HTTP 429 persisted or asked for too long a wait: cause ``"rate-limited"``."""


class ConnectionFailedError(AcquireError):
    """The host could not be reached on any attempt: cause ``"connection-error"``."""


class HostUnreachableError(AcquireError):
    """The host's name does not resolve, or it failed to connect too often in a row (for
    every process sharing the pacing folder): cause ``"host-unreachable"``."""


class TruncatedError(AcquireError):
    """The body kept arriving incomplete, even with resumption: cause ``"truncated"``."""


class TooSlowError(AcquireError):
    """The body arrived below the minimum rate or past the whole-download deadline: cause
    ``"too-slow"``."""


class ChecksumMismatchError(AcquireError):
    """The file's SHA-256 differs from the expected one: cause ``"checksum-mismatch"``."""


class TooManyRedirectsError(AcquireError):
    """Redirects or intermediate pages did not end in a file: cause ``"redirect-loop"``."""


def acquire_error(
    error_class: type[AcquireError],
    piece_id: str,
    cause: str,
    what: str,
    url: str | None,
    next_step: str = "This answer is not retried.",
) -> AcquireError:
    """Build an error whose message names the piece, the event, and the manual fallback.

    Args:
        error_class: the class matching ``cause``.
        piece_id: the piece (named first in the message and in the manual path).
        cause: the short code recorded in failures.csv.
        what: what happened, one clause.
        url: the URL that gave the answer, or None.
        next_step: what a rerun will do, one sentence.
    """
    where = f" (at {url})" if url else ""
    manual_path = MANUAL_PDF_PATH.format(piece_id=piece_id)
    then = f"{next_step} " if next_step else ""
    message = (
        f"{piece_id}: {what}{where}. {then}To go on without this download, get the PDF in a web "
        f"browser and place it at {manual_path} (`snakemake todo` lists the missing files, "
        "`visionscores import` places them)."
    )
    return error_class(piece_id, cause, message, url)
