"""Derive the scenario manifests (``config/pieces/*.csv``) from a list of IMSLP piano files.

The input is the ``filelist.txt`` of the public repository HMC-MIR/piano_bootleg_scores at commit
caee5fbe70a502aab8f0c58045a4b4e3084ddc7f (MIT licence; scraped from IMSLP in 2020). Each line
names one IMSLP PDF as ``score_scrape/results/composer/<Composer>/<Work_title_>/<index>.pdf``,
with URL-encoded page-name parts, spaces written as ``_`` and a trailing ``_`` on the title
(titles containing ``/`` span several path segments).

Two scenarios of the VisionScores dataset are selected from it:

- ``sonatinas``: works of any composer whose title names a sonatina;
- ``liszt``: works of "Liszt, Franz".

Rows that are plainly not two-handed solo piano are dropped by named title rules, and a file
index listed more than once in a scenario is kept once. The derivation reports how many rows
each step removed and writes the manifests plus a ``README.md`` documenting all of it.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from visionscores.acquire.manifest import MANIFEST_COLUMNS
from visionscores.names import slugify

SOURCE_REPOSITORY = "HMC-MIR/piano_bootleg_scores"
SOURCE_COMMIT = "caee5fbe70a502aab8f0c58045a4b4e3084ddc7f"
SOURCE_CITATION = (
    f"`filelist.txt` of the public repository {SOURCE_REPOSITORY} "
    f"(https://github.com/{SOURCE_REPOSITORY}) at commit {SOURCE_COMMIT}, MIT licence; "
    "scraped from IMSLP in 2020. Titles and file indices are facts about IMSLP."
)

IMSLP_WIKI_URL = "https://imslp.org/wiki/"
MAX_PIECE_ID_LENGTH = 80
DUPLICATE_STEP = "duplicate_file_index"

# "score_scrape/results/composer/<Composer>/<Title segments...>/<index>.pdf"
_FILELIST_PREFIX = ("score_scrape", "results", "composer")
_FILE_NAME = re.compile(r"(?P<index>[0-9]+)\.pdf")


@dataclass(frozen=True, order=True)
class ImslpFile:
    """One PDF of the file list, with decoded, human-readable page-name parts."""

    composer: str
    title: str
    file_index: str


def decode_page_name_part(encoded: str) -> str:
    """Turn a URL-encoded page-name part with ``_`` for spaces into readable text."""
    return unquote(encoded).replace("_", " ").strip()


def parse_filelist_line(line: str) -> ImslpFile | None:
    """Parse one file-list line; return None for blank lines and lines of another shape."""
    parts = line.strip().split("/")
    if len(parts) < 6 or tuple(parts[:3]) != _FILELIST_PREFIX:
        return None
    file_name = _FILE_NAME.fullmatch(parts[-1])
    if file_name is None:
        return None
    # A title containing "/" (e.g. "K.180/173c") is split over several path segments.
    encoded_title = "/".join(parts[4:-1]).removesuffix("_")
    composer = decode_page_name_part(parts[3])
    title = decode_page_name_part(encoded_title)
    if not composer or not title:
        return None
    return ImslpFile(composer=composer, title=title, file_index=file_name["index"])


def read_filelist(lines: Iterable[str]) -> list[ImslpFile]:
    """Parse all well-formed lines of a file list, in input order."""
    return [entry for line in lines if (entry := parse_filelist_line(line)) is not None]


# --- scenario selection ------------------------------------------------------------------------

_SONATINA = re.compile(r"\bsonatin", re.IGNORECASE)
LISZT_COMPOSER = "Liszt, Franz"


def names_a_sonatina(entry: ImslpFile) -> bool:
    """Sonatina, Sonatine, Sonatinas, Sonatinen, Sonatinette... in any case, any composer."""
    return _SONATINA.search(entry.title) is not None


def is_by_liszt(entry: ImslpFile) -> bool:
    return entry.composer == LISZT_COMPOSER


SCENARIO_SELECTORS: dict[str, Callable[[ImslpFile], bool]] = {
    "sonatinas": names_a_sonatina,
    "liszt": is_by_liszt,
}


# --- exclusion rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExclusionRule:
    """A title pattern that marks a work as plainly not two-handed solo piano."""

    name: str
    pattern: re.Pattern[str]
    rationale: str

    def matches(self, title: str) -> bool:
        return self.pattern.search(title) is not None


def _rule(name: str, pattern: str, rationale: str) -> ExclusionRule:
    return ExclusionRule(name, re.compile(pattern, re.IGNORECASE), rationale)


_SOLO_INSTRUMENTS = (
    r"violins?|violas?|viole|(?:violon)?cellos?|violoncelle|violon|violine|bratsche|"
    r"double[\s-]bass|contrabass|flutes?|fl[öoû]te|oboes?|hautbois|clarinets?|clarinette|"
    r"klarinette|bassoons?|basson|fagott|horns?|cor|trumpets?|trompete|trompette|trombones?|"
    r"posaune|saxophones?|harps?|harfe|harpe|guitars?|gitarre|guitare|mandolin[ea]?|"
    r"voices?|stimmen?|singstimme|gesang|chant|soprano|mezzo-soprano|alto|tenor|baritone|"
    r"choir|chorus|chor|ch(?:oe|œ)ur"
)
_KEYBOARD = r"piano(?:forte)?s?|klavier|clavier"
# "for harp or piano" offers piano as an alternative: only "and"/"with" make a duo.
_DUO_JOIN = r"and|&|und|et|e|y|with|mit|avec|con"

# Order matters only for attribution: a row is counted against the first rule that matches.
EXCLUSION_RULES: tuple[ExclusionRule, ...] = (
    _rule(
        "four_hands",
        r"\b(?:4|four|vier|quatre|6|six|sechs|8|eight|acht|huit)[\s-]*"
        r"(?:hands?|händen?|haendig|händig|mains)\b|\bvierhändig|\bpiano[\s-]duets?\b",
        "4/6/8-hand writing needs two players at one piano: not a two-handed score",
    ),
    _rule(
        "two_pianos",
        r"\b(?:2|two|zwei|deux|due)\s+(?:pianos|pianofortes|klavieren?|flügel|pianoforti)\b",
        "music for two pianos has two separate piano parts",
    ),
    _rule(
        "one_hand",
        r"\b(?:left|right|linke|rechte)[\s-]+hand\b|\bmain\s+(?:gauche|droite)\s+seule\b",
        "music for one hand alone is not two-handed",
    ),
    _rule(
        "with_orchestra",
        r"\b(?:orchestra|orchester|orchestre|orchestral|orquesta|orchestrale)\b",
        "piano with orchestra (or an orchestral reduction) is not solo piano",
    ),
    _rule(
        "with_other_instrument",
        rf"\b(?:for|für|pour|per|para)\s+(?:(?:the|a|die|le|la|il)\s+)?(?:{_SOLO_INSTRUMENTS})"
        rf"\s+(?:{_DUO_JOIN})\s+(?:{_KEYBOARD})\b"
        rf"|\b(?:{_KEYBOARD})\s+(?:{_DUO_JOIN})\s+(?:{_SOLO_INSTRUMENTS})\b"
        r"|\b(?:violin|viola|cello|violoncello|flute|oboe|clarinet|bassoon|horn)\s+sonat",
        "a duo with violin, cello, flute, voice... has a non-piano part on its own staff",
    ),
    _rule(
        "chamber_ensemble",
        r"\bpiano\s+(?:trios?|quartets?|quintets?|sextets?)\b"
        r"|\b(?:klavier|piano)(?:trio|quartett|quintett)\b|\b(?:string\s+)?quartets?\b",
        "trios, quartets and quintets with piano are chamber music, not solo piano",
    ),
    _rule(
        "organ_or_harmonium",
        r"\b(?:organ(?:s|o|i|um|ist\w*)?|orgue|\w*orgel\w*|harmonium\w*)\b",
        "organ and harmonium writing (pedal staff, stops) is not piano writing",
    ),
)


def first_matching_rule(
    title: str, rules: Sequence[ExclusionRule] = EXCLUSION_RULES
) -> ExclusionRule | None:
    """The first rule whose pattern occurs in the title, or None if the title passes all."""
    return next((rule for rule in rules if rule.matches(title)), None)


# --- manifest fields ---------------------------------------------------------------------------

_KEY_IN_TITLE = re.compile(
    r"\bin\s+(?P<tonic>[A-G](?:-(?:flat|sharp))?)\s+"
    r"(?P<mode>major|minor|dorian|phrygian|lydian|mixolydian|aeolian|locrian)\b",
    re.IGNORECASE,
)


def key_from_title(title: str) -> str:
    """The key a title states plainly ("... in F-sharp minor, ..."), else the empty string.

    Only "in <tonic> <mode>" counts: "in G" or "in E-flat" alone leave the mode open.
    """
    match = _KEY_IN_TITLE.search(title)
    if match is None:
        return ""
    tonic = match["tonic"]
    if not tonic[0].isupper():
        return ""  # "in a major..." is prose, not a key
    return f"{tonic[0]}{tonic[1:].lower()} {match['mode'].lower()}"


def composer_surname(composer: str) -> str:
    """IMSLP writes composers as "Last, First": the surname is the part before the comma."""
    return composer.split(",", 1)[0].strip()


def make_piece_id(entry: ImslpFile, max_length: int = MAX_PIECE_ID_LENGTH) -> str:
    """``<surname>-<title>-<file index>``, trimmed so the file index always survives."""
    index_slug = slugify(entry.file_index)
    stem = slugify(f"{composer_surname(entry.composer)} {entry.title}")
    room = max_length - len(index_slug) - 1
    if len(stem) > room:
        # Cut at a word boundary: "...-s-385" must not become "...-s-3" next to the index.
        stem = stem[: room + 1].rsplit("-", 1)[0] if "-" in stem[: room + 1] else stem[:room]
    return f"{stem}-{index_slug}" if stem else index_slug


def imslp_page_name(entry: ImslpFile) -> str:
    return f"{entry.title} ({entry.composer})"


# MediaWiki (wfUrlencode) leaves these characters unescaped in page URLs.
_MEDIAWIKI_URL_SAFE = ";@$!*(),/~:"


def imslp_page_url(entry: ImslpFile) -> str:
    """The work page URL, encoded the way MediaWiki writes it: spaces as ``_``."""
    page = imslp_page_name(entry).replace(" ", "_")
    return IMSLP_WIKI_URL + quote(page, safe=_MEDIAWIKI_URL_SAFE)


def manifest_row(entry: ImslpFile, scenario: str) -> dict[str, str]:
    return {
        "piece_id": make_piece_id(entry),
        "scenario": scenario,
        "title": entry.title,
        "composer": entry.composer,
        "key": key_from_title(entry.title),
        "imslp_page": imslp_page_url(entry),
        "imslp_file_index": entry.file_index,
        # The pipeline fetches by file index; a source URL or checksum is filled in later.
        "source": "",
        "sha256": "",
    }


# --- duplicates --------------------------------------------------------------------------------


def shared_index_fractions(entries: Sequence[ImslpFile]) -> dict[str, float]:
    """Per composer, the fraction of rows whose file index is also listed under someone else.

    The scrape followed IMSLP composer categories, which also hold editors and typesetters, so
    one PDF can appear under its composer and under its editor. Editors' rows are mostly such
    repeats; a composer's own rows mostly are not.
    """
    composers_by_index: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        composers_by_index[entry.file_index].add(entry.composer)
    rows = Counter(entry.composer for entry in entries)
    shared = Counter(e.composer for e in entries if len(composers_by_index[e.file_index]) > 1)
    return {composer: shared[composer] / count for composer, count in rows.items()}


def keep_one_per_file_index(
    entries: Sequence[ImslpFile], shared_fraction: dict[str, float]
) -> tuple[list[ImslpFile], list[ImslpFile]]:
    """Keep one row per file index; return (kept, dropped).

    The same PDF twice would put identical pages into the dataset. Among rows sharing an index,
    the one whose composer least often shares indices (the likely composer, not an editor) wins;
    ties go to the alphabetically first composer and title, so the choice is deterministic.
    """
    by_index: dict[str, list[ImslpFile]] = defaultdict(list)
    for entry in entries:
        by_index[entry.file_index].append(entry)
    kept: list[ImslpFile] = []
    dropped: list[ImslpFile] = []
    for rows in by_index.values():
        best = min(rows, key=lambda e: (shared_fraction.get(e.composer, 0.0), e))
        kept.append(best)
        others = list(rows)
        others.remove(best)  # one instance only: a verbatim repeated line is dropped too
        dropped.extend(others)
    return kept, dropped


# --- derivation --------------------------------------------------------------------------------


@dataclass
class ScenarioManifest:
    """The rows of one scenario and an account of what was removed on the way."""

    scenario: str
    selected: int
    removed_by_rule: dict[str, list[ImslpFile]] = field(default_factory=dict)
    duplicates: list[ImslpFile] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)


def manifest_sort_key(row: dict[str, str]) -> tuple:
    return (
        row["composer"].casefold(),
        row["title"].casefold(),
        int(row["imslp_file_index"]),
        row["piece_id"],
    )


def derive_scenario(
    entries: Sequence[ImslpFile],
    scenario: str,
    shared_fraction: dict[str, float],
    rules: Sequence[ExclusionRule] = EXCLUSION_RULES,
) -> ScenarioManifest:
    selector = SCENARIO_SELECTORS[scenario]
    selected = [entry for entry in entries if selector(entry)]
    result = ScenarioManifest(scenario, len(selected), {rule.name: [] for rule in rules})
    passing: list[ImslpFile] = []
    for entry in selected:
        rule = first_matching_rule(entry.title, rules)
        if rule is None:
            passing.append(entry)
        else:
            result.removed_by_rule[rule.name].append(entry)
    kept, result.duplicates = keep_one_per_file_index(passing, shared_fraction)
    result.rows = sorted((manifest_row(e, scenario) for e in kept), key=manifest_sort_key)
    piece_ids = [row["piece_id"] for row in result.rows]
    if len(set(piece_ids)) != len(piece_ids):
        raise ValueError(f"duplicate piece_id in scenario {scenario!r}")
    return result


def derive_all(
    entries: Sequence[ImslpFile], scenarios: Iterable[str] = SCENARIO_SELECTORS
) -> list[ScenarioManifest]:
    shared_fraction = shared_index_fractions(entries)
    return [derive_scenario(entries, name, shared_fraction) for name in scenarios]


def rule_hits_in_whole_list(
    entries: Sequence[ImslpFile], rules: Sequence[ExclusionRule] = EXCLUSION_RULES
) -> Counter[str]:
    """How many rows of the whole list each rule would remove (for calibrating the rules)."""
    hits: Counter[str] = Counter()
    for entry in entries:
        if (rule := first_matching_rule(entry.title, rules)) is not None:
            hits[rule.name] += 1
    return hits


# --- output ------------------------------------------------------------------------------------


def write_manifest(rows: Sequence[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def removal_table(
    manifests: Sequence[ScenarioManifest],
    whole_list_hits: Counter[str],
    rules: Sequence[ExclusionRule] = EXCLUSION_RULES,
) -> str:
    """A Markdown table: rows removed per rule and scenario, plus the totals."""
    names = [m.scenario for m in manifests]
    lines = [
        "| step | " + " | ".join(names) + " | whole list |",
        "|---|" + "---:|" * (len(names) + 1),
        "| selected by scenario | " + " | ".join(str(m.selected) for m in manifests) + " | |",
    ]
    for rule in rules:
        counts = [str(len(m.removed_by_rule.get(rule.name, []))) for m in manifests]
        lines.append(
            f"| `{rule.name}` | " + " | ".join(counts) + f" | {whole_list_hits[rule.name]} |"
        )
    duplicates = [str(len(m.duplicates)) for m in manifests]
    lines.append(f"| `{DUPLICATE_STEP}` | " + " | ".join(duplicates) + " | |")
    lines.append("| **kept** | " + " | ".join(f"**{len(m.rows)}**" for m in manifests) + " | |")
    return "\n".join(lines)


def render_readme(
    manifests: Sequence[ScenarioManifest],
    whole_list_hits: Counter[str],
    total_rows: int,
    rules: Sequence[ExclusionRule] = EXCLUSION_RULES,
) -> str:
    rule_lines = "\n".join(
        f"- `{rule.name}`: {rule.rationale}.\n"
        f"  Pattern (case-insensitive): `{rule.pattern.pattern}`"
        for rule in rules
    )
    manifest_lines = "\n".join(
        f"- `{m.scenario}.csv`: {len(m.rows)} files. Source: `filelist.txt` of "
        f"{SOURCE_REPOSITORY} at commit {SOURCE_COMMIT} (MIT licence)."
        for m in manifests
    )
    return f"""# Scenario manifests

Generated by `python -m visionscores_tools.scenarios`; do not edit by hand, re-run the derivation.

## Source

{SOURCE_CITATION}
The list holds {total_rows} IMSLP PDFs of piano works; it is not filtered to two-handed solo
piano and it contains arrangements.

## Manifests

{manifest_lines}

Columns: `{",".join(MANIFEST_COLUMNS)}`.

- `piece_id`: `<composer surname>-<title>-<IMSLP file index>` as an ASCII slug, at most
  {MAX_PIECE_ID_LENGTH} characters (the title part is trimmed, the file index is kept).
- `title`, `composer`: the IMSLP page-name parts, decoded; the work page is `Title (Composer)`.
- `key`: from the title when it says "in <tonic> <mode>", else empty.
- `imslp_page`: the work page URL; `imslp_file_index`: as listed (leading zeros kept).
- `source`, `sha256`: empty; the pipeline fetches each file by its IMSLP file index.
- Rows are sorted by composer, title and file index.

## Scenarios

- `sonatinas`: any composer, title matches `{_SONATINA.pattern}` (case-insensitive): Sonatina,
  Sonatine, Sonatinas, Sonatinen, Sonatinette...
- `liszt`: composer is exactly "{LISZT_COMPOSER}" (collections that merely mention Liszt, such
  as editors' volumes, are not his works).

## Exclusion rules

A row is removed when its title matches a rule; it is counted against the first rule that
matches, in this order:

{rule_lines}

Then a file index listed more than once in a scenario is kept once (`{DUPLICATE_STEP}`):
the scrape followed IMSLP composer categories, which include editors, so one PDF can be listed
under its composer and its editor. The row kept is the one whose composer least often shares
file indices with others in the whole list (the composer rather than the editor).

## Rows removed

"whole list" shows how often each rule fires on all {total_rows} rows, for calibration.

{removal_table(manifests, whole_list_hits, rules)}

## Limits

Title rules only see the work title. A work page can hold arrangements (e.g. a four-hand
edition next to the solo original) under the same title; those files stay in the manifest
and are for the pipeline's page checks to catch. The list dates from 2020: some file indices
may since have been replaced or blocked on IMSLP.
"""


def removed_rows_report(manifests: Sequence[ScenarioManifest]) -> str:
    """Plain-text listing of every removed row, for reviewing the rules."""
    lines: list[str] = []
    for manifest in manifests:
        steps = dict(manifest.removed_by_rule)
        steps[DUPLICATE_STEP] = manifest.duplicates
        for step, removed in steps.items():
            for entry in sorted(removed):
                lines.append(
                    f"{manifest.scenario}\t{step}\t{entry.composer}\t{entry.title}\t"
                    f"{entry.file_index}"
                )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m visionscores_tools.scenarios",
        description="Derive scenario manifests from an IMSLP piano file list.",
    )
    parser.add_argument("filelist", type=Path, help="piano_filelist.txt (piano_bootleg_scores)")
    parser.add_argument("output_dir", type=Path, help="directory for <scenario>.csv and README.md")
    parser.add_argument("--show-removed", action="store_true", help="also print every removed row")
    args = parser.parse_args(argv)

    entries = read_filelist(args.filelist.read_text(encoding="utf-8").splitlines())
    manifests = derive_all(entries)
    whole_list_hits = rule_hits_in_whole_list(entries)
    for manifest in manifests:
        write_manifest(manifest.rows, args.output_dir / f"{manifest.scenario}.csv")
    readme = render_readme(manifests, whole_list_hits, len(entries))
    (args.output_dir / "README.md").write_text(readme, encoding="utf-8")

    print(f"{len(entries)} files read from {args.filelist}")
    print(removal_table(manifests, whole_list_hits))
    if args.show_removed:
        print(removed_rows_report(manifests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
