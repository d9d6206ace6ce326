"""Work metadata read from IMSLP work-page wikitext, fetched through an injected client."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from visionscores.acquire.work_pages import (
    WorkPageNotFound,
    cache_path_for,
    fetch_work_metadata,
    key_name,
    page_title_from_url,
    parse_key_field,
    parse_work_wikitext,
    revisions_query_url,
    strip_wiki_markup,
    work_info_fields,
)

API_URL = "https://imslp.org/api.php"

CLEMENTI_WIKITEXT = """{{#fte:imslppage

|*****FILES*****=
===For Piano (Köhler)===
{{#fte:imslpfile
|File Name 1=Clementi - Sonatina Op.36 No.1.pdf
|File Description 1=Complete Score
|Page Count 1=4
|Editor={{LinkEd|Louis|Köhler}}
|Scanner=Feldmahler
|Publisher Information=Leipzig: C.F. Peters, n.d.(ca.1880). Plate 6245.
|Copyright=Public Domain
|Misc. Notes=
}}

|*****WORK INFO*****=
|Work Title=Sonatina in C major
|Alternative Title=
|Opus/Catalogue Number=Op.36 No.1
|I-Catalogue Number=IMC 40
|Key={{Key|C}}
|Movements/Sections=3 movements:<br>
#Allegro
#Andante
#Vivace
|Year/Date of Composition=1797
|First Publication=1797 – London: Longman, Clementi & Co.
|Average Duration=5 minutes
|Piece Style=[[:Category:Classical style|Classical]]
|Instrumentation=[[:Category:For piano|Piano]]
|Related Works=
|External Links=
}}"""

LISZT_WIKITEXT = """{{#fte:imslppage
|*****FILES*****=
{{#fte:imslpfile
|File Name 1=Liszt - S.178 Sonata.pdf
|File Description 1=Complete Score
|Page Count 1=35
|Editor={{LinkEd|Emil von|Sauer}}
|Publisher Information=Leipzig: C.F. Peters, 1917. Plate 10034.
|Copyright=Public Domain
}}
|*****WORK INFO*****=
|Work Title=Piano Sonata in B minor<!-- German: Klaviersonate h-Moll -->
|Alternative Title=''Grosse Sonate''
|Opus/Catalogue Number=S.178 ; LW A179
|Key={{Key|b}}
|Year/Date of Composition=1852–53
|Dedication=[[Schumann, Robert|Robert Schumann]]
|Piece Style=Romantic
|Instrumentation=piano
|*****COMMENTS*****=
|Work Title=not the work title
}}"""


def test_work_info_fields_reads_only_the_work_info_section():
    fields = work_info_fields(CLEMENTI_WIKITEXT)
    assert fields["Work Title"] == "Sonatina in C major"
    assert fields["Key"] == "{{Key|C}}"
    assert "File Name 1" not in fields  # a FILES field, not work info
    assert fields["Movements/Sections"].startswith("3 movements:<br>\n#Allegro")
    assert work_info_fields("{{#fte:imslppage|*****FILES*****=}}") == {}


def test_parse_work_wikitext_clementi():
    assert parse_work_wikitext(CLEMENTI_WIKITEXT) == {
        "work_title": "Sonatina in C major",
        "opus": "Op.36 No.1",
        "key": "C major",
        "year": "1797",
        "piece_style": "Classical",
        "instrumentation": "Piano",
    }


def test_parse_work_wikitext_liszt_stops_at_the_next_section_and_strips_comments():
    metadata = parse_work_wikitext(LISZT_WIKITEXT)
    assert metadata["work_title"] == "Piano Sonata in B minor"
    assert metadata["key"] == "B minor"
    assert metadata["opus"] == "S.178; LW A179"
    assert metadata["year"] == "1852–53"


def test_parse_work_wikitext_leaves_missing_fields_empty():
    metadata = parse_work_wikitext(
        "{{#fte:imslppage\n|*****WORK INFO*****=\n|Work Title=Sonatine\n}}"
    )
    assert metadata == {
        "work_title": "Sonatine",
        "opus": "",
        "key": "",
        "year": "",
        "piece_style": "",
        "instrumentation": "",
    }


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("C", "C major"),
        ("a", "A minor"),
        ("f#", "F-sharp minor"),
        ("fis", "F-sharp minor"),
        ("F♯", "F-sharp major"),
        ("Bb", "B-flat major"),
        ("bb", "B-flat minor"),
        ("B-flat", "B-flat major"),
        ("b-flat minor", "B-flat minor"),
        ("Es", "E-flat major"),
        ("as", "A-flat minor"),
        ("Des", "D-flat major"),
        ("c-moll", "C minor"),
        ("H", "B major"),
        ("b", "B minor"),
        ("E major", "E major"),
        ("g min", "G minor"),
    ],
)
def test_key_name(code, name):
    assert key_name(code) == name


@pytest.mark.parametrize("code", ["", "Dorian", "cs", "C major/minor", "none", "X"])
def test_key_name_rejects_what_is_not_a_key(code):
    assert key_name(code) is None


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("{{Key|a}}", "A minor"),
        ("{{key|F#}}", "F-sharp major"),
        ("{{Key|C}} / {{Key|a}}", "C major, A minor"),
        ("{{Key|D}} and {{Key|d}}", "D major, D minor"),
        ("C major", "C major"),
        ("Various", "Various"),  # unsure: keep the text
        ("{{Key|C}} (first movement)", "C major (first movement)"),
        ("{{Key|Dorian}}", "Dorian"),
        ("", ""),
    ],
)
def test_parse_key_field(value, parsed):
    assert parse_key_field(value) == parsed


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("[[:Category:Romantic style|Romantic]]", "Romantic"),
        ("[[:Category:For piano]]", "For piano"),
        ("[[Liszt, Franz]]", "Liszt, Franz"),
        ("{{LinkComp|Franz|Liszt}}", "Franz Liszt"),
        ("'''1797'''", "1797"),
        ("1838<br />rev. 1851", "1838; rev. 1851"),
        ("[http://example.org/catalogue LW A179]", "LW A179"),
        ("{{Lang|fr|''Sonatine''}}", "fr Sonatine"),
        ("piano <!-- 2 hands -->", "piano"),
        ("{{Outer|{{Key|g}}}}", "G minor"),
    ],
)
def test_strip_wiki_markup(markup, plain):
    assert strip_wiki_markup(markup) == plain


@pytest.mark.parametrize(
    ("url", "title"),
    [
        (
            "https://imslp.org/wiki/Sonatina_in_C_major,_Op.36_No.1_(Clementi,_Muzio)",
            "Sonatina in C major, Op.36 No.1 (Clementi, Muzio)",
        ),
        (
            "https://imslp.org/wiki/R%C3%A9miniscences_de_Don_Juan,_S.418_(Liszt,_Franz)",
            "Réminiscences de Don Juan, S.418 (Liszt, Franz)",
        ),
        (
            "https://imslp.org/wiki/6_Variations_on_%22Mio_caro%22,_K.180/173c_(Mozart,_W.A.)",
            '6 Variations on "Mio caro", K.180/173c (Mozart, W.A.)',
        ),
        (
            "https://imslp.org/index.php?title=Sonatine_(Ravel,_Maurice)&action=edit",
            "Sonatine (Ravel, Maurice)",
        ),
    ],
)
def test_page_title_from_url(url, title):
    assert page_title_from_url(url) == title


def test_page_title_from_url_rejects_other_urls():
    with pytest.raises(ValueError):
        page_title_from_url("https://imslp.org/imslpscripts/API.ISCR.php")


def test_revisions_query_url_encodes_the_title():
    url = revisions_query_url("Sonatine (Ravel, Maurice) & Co", API_URL)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == API_URL
    assert parse_qs(parts.query) == {
        "action": ["query"],
        "prop": ["revisions"],
        "rvprop": ["content"],
        "titles": ["Sonatine (Ravel, Maurice) & Co"],
        "format": ["json"],
    }
    assert " " not in url


def api_answer(title: str, wikitext: str, page_id: int = 1234) -> str:
    """A ``prop=revisions`` answer in the MediaWiki 1.18 JSON shape."""
    page = {"pageid": page_id, "ns": 0, "title": title, "revisions": [{"*": wikitext}]}
    return json.dumps({"query": {"pages": {str(page_id): page}}})


class RecordingFetcher:
    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.requested_titles: list[str] = []

    def __call__(self, url: str) -> str:
        title = parse_qs(urlsplit(url).query)["titles"][0]
        self.requested_titles.append(title)
        return self.answers[title]


CLEMENTI_PAGE = "Sonatina in C major, Op.36 No.1 (Clementi, Muzio)"


def test_fetch_work_metadata_fetches_once_then_reads_the_cache(tmp_path):
    fetcher = RecordingFetcher({CLEMENTI_PAGE: api_answer(CLEMENTI_PAGE, CLEMENTI_WIKITEXT)})
    first = fetch_work_metadata(CLEMENTI_PAGE, fetcher, API_URL, tmp_path)
    second = fetch_work_metadata(CLEMENTI_PAGE, fetcher, API_URL, tmp_path)
    assert fetcher.requested_titles == [CLEMENTI_PAGE]
    assert first == second
    assert first["page_title"] == CLEMENTI_PAGE
    assert first["key"] == "C major"
    cache_file = cache_path_for(CLEMENTI_PAGE, tmp_path)
    assert json.loads(cache_file.read_text(encoding="utf-8")) == first
    assert [p.name for p in tmp_path.iterdir()] == [cache_file.name]  # no temporary left over


def test_cache_file_names_are_safe_and_distinct(tmp_path):
    a = cache_path_for("Sonatine (Ravel, Maurice)", tmp_path)
    b = cache_path_for("Sonatine (Ravel, Maurice) ", tmp_path)
    c = cache_path_for("../../etc/passwd", tmp_path)
    assert a != b
    for path in (a, b, c):
        assert path.parent == tmp_path
        assert path.suffix == ".json"


def test_fetch_work_metadata_refetches_over_a_corrupt_cache_file(tmp_path):
    cache_path_for(CLEMENTI_PAGE, tmp_path).write_text("{not json", encoding="utf-8")
    fetcher = RecordingFetcher({CLEMENTI_PAGE: api_answer(CLEMENTI_PAGE, CLEMENTI_WIKITEXT)})
    assert fetch_work_metadata(CLEMENTI_PAGE, fetcher, API_URL, tmp_path)["opus"] == "Op.36 No.1"


def test_fetch_work_metadata_follows_one_redirect(tmp_path):
    old_title = "Sonatine in C, Op.36 No.1 (Clementi, Muzio)"
    fetcher = RecordingFetcher(
        {
            old_title: api_answer(old_title, f"#REDIRECT [[{CLEMENTI_PAGE}]]", page_id=1),
            CLEMENTI_PAGE: api_answer(CLEMENTI_PAGE, CLEMENTI_WIKITEXT, page_id=2),
        }
    )
    metadata = fetch_work_metadata(old_title, fetcher, API_URL, tmp_path)
    assert metadata["page_title"] == CLEMENTI_PAGE
    assert metadata["work_title"] == "Sonatina in C major"
    assert fetcher.requested_titles == [old_title, CLEMENTI_PAGE]


def test_fetch_work_metadata_reads_newer_revision_slots(tmp_path):
    page = {"pageid": 7, "title": CLEMENTI_PAGE, "revisions": [{"slots": {"main": {}}}]}
    page["revisions"][0]["slots"]["main"]["*"] = CLEMENTI_WIKITEXT
    answer = json.dumps({"query": {"pages": {"7": page}}})
    metadata = fetch_work_metadata(CLEMENTI_PAGE, lambda url: answer, API_URL, tmp_path)
    assert metadata["key"] == "C major"


def test_fetch_work_metadata_missing_page_raises_and_is_not_cached(tmp_path):
    missing = json.dumps({"query": {"pages": {"-1": {"ns": 0, "title": "Nope", "missing": ""}}}})
    with pytest.raises(WorkPageNotFound):
        fetch_work_metadata("Nope", lambda url: missing, API_URL, tmp_path)
    assert list(tmp_path.iterdir()) == []
