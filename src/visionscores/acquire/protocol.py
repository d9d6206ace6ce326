"""What an IMSLP answer means: a pure classifier from (status, URL, headers, text) to the next step.

IMSLP serves a file by index through ``Special:ImagefromIndex/<index>``: a disclaimer page
(accepted by a link, or skipped with the ``imslpdisclaimeraccepted=yes`` cookie), then either a
redirect to the file host or a "wait" page whose ``<span id="sm_dl_wait" data-id="...">`` holds
the file's URL; an EU mirror shows one more "continue" page. Instead of the file it may answer
with its bot gate (``/friendlytest.html``, a CAPTCHA; ``/friendlyredirect.html``, a JavaScript
cookie page), the daily-cap "Subscribe" page, or a "blocked pending copyright review" page.
This module decides, for one answer that is not the file itself, which of these it is; it
sends nothing and has no state, so it is tested table-driven.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from visionscores.acquire.errors import (
    AcquireError,
    BotCheckError,
    CopyrightBlockedError,
    DailyLimitError,
    DisclaimerLoopError,
    HttpStatusError,
    NotFoundError,
    NotPdfError,
)

#: Cookie IMSLP sets once its disclaimer is accepted; sending it skips the disclaimer page.
DISCLAIMER_COOKIE = ("imslpdisclaimeraccepted", "yes")

#: Error class of each failure cause the classifier gives.
FAILURE_CLASSES: dict[str, type[AcquireError]] = {
    "captcha": BotCheckError,
    "js-challenge": BotCheckError,
    "daily-cap": DailyLimitError,
    "copyright-blocked": CopyrightBlockedError,
    "not-found": NotFoundError,
    "disclaimer-loop": DisclaimerLoopError,
    "not-pdf": NotPdfError,
    "http-error": HttpStatusError,
}


@dataclass(frozen=True)
class Follow:
    """Request ``url`` next (after ``wait_s`` seconds); ``accepts_disclaimer`` when it is the
    disclaimer's accept link."""

    url: str
    wait_s: float = 0.0
    accepts_disclaimer: bool = False


@dataclass(frozen=True)
class Failure:
    """Stop: the answer is not the file and will not become it. ``what`` is one clause."""

    cause: str
    what: str

    @property
    def error_class(self) -> type[AcquireError]:
        return FAILURE_CLASSES[self.cause]


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_WAIT_SPAN_RE = re.compile(
    r"<span\b[^>]*\bid\s*=\s*[\"']?sm_dl_wait\b[^>]*>(.*?)</span\s*>", re.IGNORECASE | re.DOTALL
)
_DATA_ID_RE = re.compile(r"\bdata-id\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.IGNORECASE)
_ACCEPT_LINK_RE = re.compile(
    r"href\s*=\s*[\"']([^\"']*Special:IMSLPDisclaimerAccept/[^\"']*)[\"']", re.IGNORECASE
)
_ANCHOR_RE = re.compile(
    r"<a\b[^>]*\bhref\s*=\s*(?:\"([^\"]*)\"|'([^']*)')[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL
)
_HIDDEN_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]*>")

# IMSLP's pages, recognised on their visible text (see :func:`visible_text`), in lower case.
_BOT_CHECK_RE = re.compile(
    r"\bbot check\b|\bcaptcha\b|\b(?:prove|verify) (?:that )?you are (?:a )?human\b"
)
_BLOCKED_RE = re.compile(r"\bblocked pending (?:a )?copyright review\b")
_DAILY_CAP_RE = re.compile(
    r"\bdaily (?:download )?(?:limit|cap|quota)\b|\blimit of (?:free )?downloads\b"
    r"|\bdownload limit\b"
)
_SECONDS_RE = re.compile(r"\b(\d{1,4}) ?(?:seconds?|secs?)\b")


def visible_text(markup: str) -> str:
    """A page's text as a reader sees it: scripts, styles and comments dropped, tags
    stripped, entities decoded, whitespace (line breaks, ``&nbsp;``) collapsed, lower case."""
    text = _TAG_RE.sub(" ", _HIDDEN_RE.sub(" ", markup))
    return " ".join(html.unescape(text).split()).lower()


def wait_seconds(span_content: str, text: str, default_s: float) -> float:
    """The countdown a wait page states: the number in its ``sm_dl_wait`` span, else the first
    "N seconds" of its text, else ``default_s`` (all in seconds)."""
    inside = visible_text(span_content)
    if inside.isdigit():
        return float(inside)
    stated = _SECONDS_RE.search(text)
    return float(stated.group(1)) if stated else default_s


def classify(
    status: int,
    url: str,
    headers: Mapping[str, str],
    text: str,
    *,
    disclaimer_accepted: bool = False,
    entry_url: str | None = None,
    default_wait_s: float = 15.0,
) -> Follow | Failure:
    """The next step after an answer that is not the file's bytes.

    Args:
        status: the HTTP status.
        url: the URL that was requested.
        headers: the response headers (``Location`` of a redirect is read).
        text: the body as text (empty for redirects).
        disclaimer_accepted: whether the disclaimer's accept link was already followed for
            this file (a disclaimer page after that is a loop).
        entry_url: the ``Special:ImagefromIndex`` URL of this file, if it was requested.
        default_wait_s: seconds to wait on a wait page that states no countdown.

    Returns:
        :class:`Follow` with the next URL (absolute; the caller checks its host), or
        :class:`Failure` with the cause.
    """
    if 300 <= status < 400:
        location = headers.get("Location")
        if not location:
            return Failure("http-error", f"got HTTP {status} without a Location")
        return classify_redirect(urllib.parse.urljoin(url, location))
    if status in (404, 410):
        return Failure("not-found", f"the file was not found (HTTP {status})")
    if status not in (200, 206):
        if status == 403 and _BLOCKED_RE.search(visible_text(text)):
            return Failure("copyright-blocked", "the file is blocked pending copyright review")
        return Failure("http-error", f"the server answered HTTP {status}")
    return classify_page(url, text, disclaimer_accepted, entry_url, default_wait_s)


def classify_redirect(location: str) -> Follow | Failure:
    """A redirect's target: IMSLP's bot gate pages stop the file; anything else is followed."""
    path = urllib.parse.urlsplit(location).path.lower()
    if path.endswith("/friendlytest.html"):
        return Failure(
            "captcha",
            "IMSLP answered with its bot check (CAPTCHA) page; it is not answered automatically",
        )
    if path.endswith("/friendlyredirect.html"):
        # The JavaScript redirect page sets a cookie in a browser. Emulating it would be
        # getting past a gate meant to keep automated clients out, so it is treated like the
        # CAPTCHA: stop and let the user fetch the file in a browser.
        return Failure(
            "js-challenge",
            "IMSLP answered with its JavaScript bot gate (friendlyredirect); it is not worked "
            "around automatically",
        )
    return Follow(location)


def classify_page(
    url: str,
    markup: str,
    disclaimer_accepted: bool,
    entry_url: str | None,
    default_wait_s: float = 15.0,
) -> Follow | Failure:
    """What an HTML page (status 200) means; see :func:`classify`."""
    title_match = _TITLE_RE.search(markup)
    title = visible_text(title_match.group(1)) if title_match else ""
    text = visible_text(markup)
    if "bot check" in title or _BOT_CHECK_RE.search(text):
        return Failure(
            "captcha",
            "IMSLP answered with a 'Bot Check' (CAPTCHA) page; it is not answered automatically",
        )
    # The wait page comes first: its text may invite the reader to subscribe, which must not
    # be mistaken for the daily-cap page.
    span = _WAIT_SPAN_RE.search(markup)
    if span:
        data_id = _DATA_ID_RE.search(span.group(0))
        target = html.unescape(next(filter(None, data_id.groups()), "")).strip() if data_id else ""
        if target:
            wait_s = wait_seconds(span.group(1), text, default_wait_s)
            return Follow(urllib.parse.urljoin(url, target), wait_s=wait_s)
    accept = _ACCEPT_LINK_RE.search(markup)
    if accept:
        if disclaimer_accepted:
            return Failure(
                "disclaimer-loop", "IMSLP showed its disclaimer again after it had been accepted"
            )
        link = urllib.parse.urljoin(url, html.unescape(accept.group(1)))
        return Follow(link, accepts_disclaimer=True)
    if _BLOCKED_RE.search(text):
        return Failure("copyright-blocked", "the file is blocked pending copyright review")
    if "subscribe" in title or _DAILY_CAP_RE.search(text):
        return Failure(
            "daily-cap",
            "IMSLP's daily limit of free downloads for this address was reached (its "
            "'Subscribe' page came instead of the file)",
        )
    continue_url = continue_link(url, markup)
    if continue_url:
        return Follow(continue_url)
    if disclaimer_accepted and entry_url and "IMSLPDisclaimerAccept" in url:
        # The accept link answered with a page rather than a redirect: go back to the entry.
        return Follow(entry_url)
    kind = title or "an HTML page"
    return Failure("not-pdf", f"the server sent {kind!r} instead of a PDF")


def continue_link(url: str, text: str) -> str | None:
    """A link to a PDF on an intermediate page (the EU mirror's "continue" page), absolute."""
    candidates = []
    for match in _ANCHOR_RE.finditer(text):
        href = html.unescape(match.group(1) or match.group(2) or "").strip()
        target = urllib.parse.urljoin(url, href)
        if not urllib.parse.urlsplit(target).path.lower().endswith(".pdf"):
            continue
        label = re.sub(r"<[^>]+>", " ", match.group(3)).lower()
        candidates.append((0 if "continue" in label else 1, target))
    return min(candidates)[1] if candidates else None
