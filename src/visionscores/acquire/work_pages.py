"""Optional enrichment of manifest rows with work metadata from IMSLP work pages.

An IMSLP work page is one ``{{#fte:imslppage ...}}`` template. Its ``*****WORK INFO*****``
section holds fields such as ``|Work Title=``, ``|Opus/Catalogue Number=``, ``|Key={{Key|a}}``,
``|Year/Date of Composition=``, ``|Piece Style=`` and ``|Instrumentation=``. This module reads
those fields from the page's wikitext, fetched through the MediaWiki API (IMSLP runs MediaWiki
1.18), and caches the parsed result per page so each page is requested once.

Network access is injected (``fetch_text``) so the caller decides rate limits and retries.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from visionscores.fileio import write_json_atomic
from visionscores.names import slugify

IMSLP_API_URL = "https://imslp.org/api.php"
WORK_INFO_MARKER = "*****WORK INFO*****"

# Work-info field name on IMSLP -> key in the parsed metadata.
WORK_INFO_FIELDS = {
    "Work Title": "work_title",
    "Opus/Catalogue Number": "opus",
    "Key": "key",
    "Year/Date of Composition": "year",
    "Piece Style": "piece_style",
    "Instrumentation": "instrumentation",
}


class WorkPageNotFound(LookupError):
    """The API reports no page under the requested title."""


# --- keys --------------------------------------------------------------------------------------

_KEY_CODE = re.compile(
    r"(?P<letter>[A-Ha-h])\s*"
    r"(?P<accidental>#|♯|b|♭|-?\s*sharp|-?\s*flat|is|es|s)?"
    r"(?:\s*-?\s*(?P<mode>major|minor|dur|moll|maj|min))?\.?",
    re.IGNORECASE,
)
_SHARP = {"#", "♯", "sharp", "is"}
_FLAT = {"b", "♭", "flat", "es", "s"}
_MINOR = {"minor", "moll", "min"}


def key_name(code: str) -> str | None:
    """Read a key code as IMSLP's ``{{Key|...}}`` takes it; None when it is not one.

    Upper-case letters are major and lower-case minor unless a mode is spelt out ("C", "a",
    "f#", "Bb", "B-flat", "fis", "Es", "c-moll"). German spellings are read too ("H" is B,
    "fis" F-sharp), but a lone "b" follows IMSLP's English usage: B minor, not B-flat.
    """
    match = _KEY_CODE.fullmatch(code.strip())
    if match is None:
        return None
    letter = match["letter"]
    accidental = re.sub(r"[\s-]", "", match["accidental"] or "").lower()
    if accidental == "s" and letter.lower() not in "ae":
        return None  # only "As"/"Es" drop the "e" of "-es"
    tonic = "B" if letter.upper() == "H" else letter.upper()
    if accidental in _SHARP:
        tonic += "-sharp"
    elif accidental in _FLAT:
        tonic += "-flat"
    if match["mode"]:
        mode = "minor" if match["mode"].lower() in _MINOR else "major"
    else:
        mode = "major" if letter.isupper() else "minor"
    return f"{tonic} {mode}"


_KEY_TEMPLATE = re.compile(r"\{\{\s*key\s*\|([^{}|]*)\}\}", re.IGNORECASE)
# What may stand between several key templates ("{{Key|C}} / {{Key|a}}", "... and ...").
_KEY_SEPARATORS = re.compile(r"(?:[\s,;/&]|\b(?:and|or|und|oder|et|ou)\b)*", re.IGNORECASE)


def parse_key_field(value: str) -> str:
    """Key names for a ``|Key=`` value; the cleaned raw text when any part is unclear."""
    codes = _KEY_TEMPLATE.findall(value)
    if codes:
        names = [key_name(code) for code in codes]
        if all(names) and _KEY_SEPARATORS.fullmatch(_KEY_TEMPLATE.sub("", value)):
            return ", ".join(names)
        return strip_wiki_markup(value)
    plain = strip_wiki_markup(value)
    return key_name(plain) or plain


# --- wiki markup -------------------------------------------------------------------------------

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_INTERNAL_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
_INNERMOST_TEMPLATE = re.compile(r"\{\{([^{}]*)\}\}")
_BOLD_ITALIC = re.compile(r"'{2,}")


def _link_label(match: re.Match[str]) -> str:
    target, _, label = match[1].partition("|")
    if label:
        return label
    # "[[:Category:For piano]]" reads as "For piano".
    return re.sub(r"^:?(?:Category|File|Image):", "", target.strip(), flags=re.IGNORECASE)


def _render_template(match: re.Match[str]) -> str:
    name, *args = (part.strip() for part in match[1].split("|"))
    positional = [arg for arg in args if "=" not in arg]
    if name.lower() == "key" and positional:
        return key_name(positional[0]) or positional[0]
    # Other templates ({{LinkComp|Franz|Liszt}}, {{Lang|...}}) read as their arguments.
    return " ".join(positional)


def strip_wiki_markup(text: str) -> str:
    """Plain text of a field value: links become their labels, templates their arguments."""
    text = _COMMENT.sub("", text)
    text = _LINE_BREAK.sub("; ", text)
    text = _HTML_TAG.sub("", text)
    text = _INTERNAL_LINK.sub(_link_label, text)
    text = _EXTERNAL_LINK.sub(lambda m: m[1] or "", text)
    while (rendered := _INNERMOST_TEMPLATE.sub(_render_template, text)) != text:
        text = rendered
    text = _BOLD_ITALIC.sub("", text)
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"(?:\s*;\s*)+", "; ", text).strip(" ;")


# --- the work-info section ---------------------------------------------------------------------

_SECTION_MARKER = re.compile(r"\*{5}[^*|=]+\*{5}")


def split_template_parameters(text: str) -> list[str]:
    """Split at ``|`` outside nested ``{{...}}`` and ``[[...]]``; stop where the template ends."""
    parameters: list[str] = []
    current: list[str] = []
    depth = 0
    position = 0
    while position < len(text):
        pair = text[position : position + 2]
        if pair in ("{{", "[["):
            depth += 1
            current.append(pair)
            position += 2
            continue
        if pair in ("}}", "]]"):
            if depth == 0:
                break  # the end of the enclosing template
            depth -= 1
            current.append(pair)
            position += 2
            continue
        char = text[position]
        if char == "|" and depth == 0:
            parameters.append("".join(current))
            current = []
        else:
            current.append(char)
        position += 1
    parameters.append("".join(current))
    return parameters


def work_info_fields(wikitext: str) -> dict[str, str]:
    """Raw ``name -> value`` pairs of the ``*****WORK INFO*****`` section (empty if absent)."""
    start = wikitext.find(WORK_INFO_MARKER)
    if start < 0:
        return {}
    section = wikitext[start + len(WORK_INFO_MARKER) :]
    fields: dict[str, str] = {}
    for parameter in split_template_parameters(section)[1:]:
        name, separator, value = parameter.partition("=")
        if _SECTION_MARKER.fullmatch(name.strip()):
            break  # the next section of the page template
        if separator:
            fields[name.strip()] = value.strip()
    return fields


def parse_work_wikitext(text: str) -> dict[str, str]:
    """Work metadata of an IMSLP work page's wikitext; missing fields are empty strings."""
    fields = work_info_fields(text)
    metadata = {}
    for imslp_name, key in WORK_INFO_FIELDS.items():
        value = fields.get(imslp_name, "")
        metadata[key] = parse_key_field(value) if key == "key" else strip_wiki_markup(value)
    return metadata


# --- fetching and caching ----------------------------------------------------------------------


def page_title_from_url(imslp_page_url: str) -> str:
    """``https://imslp.org/wiki/Sonatina_in_C_major_(Clementi,_Muzio)`` -> its page title."""
    parts = urlsplit(imslp_page_url)
    if "/wiki/" in parts.path:
        encoded = parts.path.split("/wiki/", 1)[1]
        return unquote(encoded).replace("_", " ").strip()
    titles = parse_qs(parts.query).get("title")
    if titles:
        return titles[0].replace("_", " ").strip()
    raise ValueError(f"not an IMSLP page URL: {imslp_page_url!r}")


def revisions_query_url(page_title: str, api_url: str = IMSLP_API_URL) -> str:
    query = {
        "action": "query",
        "prop": "revisions",
        "rvprop": "content",
        "titles": page_title,
        "format": "json",
    }
    return f"{api_url}?{urlencode(query, quote_via=quote)}"


def wikitext_from_api_response(response_text: str, page_title: str) -> str:
    """The page content of a ``prop=revisions`` answer (MediaWiki 1.18 JSON, or newer slots)."""
    pages = json.loads(response_text)["query"]["pages"]
    page = next(iter(pages.values()))
    if "missing" in page or "invalid" in page or not page.get("revisions"):
        raise WorkPageNotFound(page_title)
    revision = page["revisions"][0]
    if "*" in revision:
        return revision["*"]
    main_slot = revision.get("slots", {}).get("main", {})
    return main_slot.get("*", main_slot.get("content", ""))


_REDIRECT = re.compile(r"\s*#REDIRECT\s*\[\[([^\]|#]+)", re.IGNORECASE)


def cache_path_for(page_title: str, cache_dir: Path) -> Path:
    """A readable, collision-free file name: slug of the title plus a short hash of it."""
    digest = hashlib.sha256(page_title.encode("utf-8")).hexdigest()[:12]
    return cache_dir / f"{slugify(page_title)[:100]}-{digest}.json"


def read_cached(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def fetch_work_metadata(
    page_title: str,
    fetch_text: Callable[[str], str],
    api_url: str,
    cache_dir: Path,
) -> dict[str, str]:
    """Metadata of one work page, from the cache or fetched once through ``fetch_text``.

    A redirecting page is followed once. A missing page raises ``WorkPageNotFound`` and is not
    cached, so a later run can try again.
    """
    cache_path = cache_path_for(page_title, Path(cache_dir))
    cached = read_cached(cache_path)
    if cached is not None:
        return cached
    resolved_title = page_title
    wikitext = wikitext_from_api_response(
        fetch_text(revisions_query_url(page_title, api_url)), page_title
    )
    redirect = _REDIRECT.match(wikitext)
    if redirect:
        resolved_title = redirect[1].strip()
        wikitext = wikitext_from_api_response(
            fetch_text(revisions_query_url(resolved_title, api_url)), resolved_title
        )
    metadata = {"page_title": resolved_title, **parse_work_wikitext(wikitext)}
    write_json_atomic(cache_path, metadata)
    return metadata


# Work metadata added to the dataset's metadata table (besides filling an empty key).
ENRICHED_COLUMNS = ("opus", "year", "piece_style", "instrumentation")


def enrich_work_pages(
    imslp_pages: list[str],
    fetch_text: Callable[[str], str],
    api_url: str,
    cache_dir: Path,
) -> dict[str, dict[str, str]]:
    """Metadata per IMSLP work page URL; a page that cannot be fetched gets ``{"error": ...}``.

    Each page is fetched at most once ever (cached in ``cache_dir``); failures are not
    cached, so a later run tries again, and they never stop the others.
    """
    results: dict[str, dict[str, str]] = {}
    for url in sorted(set(filter(None, imslp_pages))):
        try:
            results[url] = fetch_work_metadata(
                page_title_from_url(url), fetch_text, api_url, cache_dir
            )
        except Exception as error:  # one work page's trouble must not stop the others
            results[url] = {"error": f"{type(error).__name__}: {error}"}
    return results
