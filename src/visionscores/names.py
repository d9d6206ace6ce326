"""Names built from free text: slugs for identifiers and file names."""

from __future__ import annotations

import re
import unicodedata

# Letters that Unicode decomposition does not reduce to ASCII.
_ASCII_FALLBACKS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by ``-``; everything else becomes a separator."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_ASCII_FALLBACKS))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
