"""Scenario manifests derived from an IMSLP piano file list."""

import csv
import re

import pytest

from visionscores_tools import scenarios
from visionscores_tools.scenarios import (
    ImslpFile,
    derive_all,
    first_matching_rule,
    imslp_page_url,
    key_from_title,
    main,
    make_piece_id,
    parse_filelist_line,
    read_filelist,
    slugify,
)

PREFIX = "score_scrape/results/composer"

FIXTURE_LINES = [
    f"{PREFIX}/Clementi,_Muzio/Sonatina_in_C_major,_Op.36_No.1_/29868.pdf",
    f"{PREFIX}/Clementi,_Muzio/6_Piano_Sonatinas,_Op.36_/063976.pdf",
    f"{PREFIX}/Kuhlau,_Friedrich/Piano_Sonatina_in_F-sharp_minor,_Op.55_No.9_/481799.pdf",
    f"{PREFIX}/Ravel,_Maurice/Sonatine_/01616.pdf",
    f"{PREFIX}/Hiller,_Ferdinand/6_Sonatinen,_Op.95_/121055.pdf",
    f"{PREFIX}/Sternberg,_Constantin_von/10_Characteristic_Sonatinettes_/99466.pdf",
    f"{PREFIX}/Bart%C3%B3k,_B%C3%A9la/Sonatina,_Sz.55_/12635.pdf",
    f"{PREFIX}/Diabelli,_Anton/Sonatinas_for_Piano_4_hands,_Op.24_/11111.pdf",
    f"{PREFIX}/Dvo%C5%99%C3%A1k,_Anton%C3%ADn/Violin_Sonatina_in_G_major,_Op.100_/22222.pdf",
    f"{PREFIX}/Karg-Elert,_Sigfrid/Organ_Sonatina,_Op.74_/179562.pdf",
    f"{PREFIX}/Handel,_George_Frideric/Keyboard_Sonatina_in_B-flat_major,_HWV_585_/402681.pdf",
    f"{PREFIX}/Handel,_George_Frideric/Keyboard_Suite_in_D_minor,_HWV_437_/402700.pdf",
    f"{PREFIX}/Gouin,_Pierre/Keyboard_Sonatina_in_B-flat_major,_HWV_585_/402681.pdf",
    f"{PREFIX}/Gouin,_Pierre/Fugue_in_G_minor,_BWV_578_/402690.pdf",
    f"{PREFIX}/Bach,_Johann_Sebastian/Fugue_in_G_minor,_BWV_578_/402690.pdf",
    f"{PREFIX}/Bach,_Johann_Sebastian/Prelude_in_C_major,_BWV_846_/402691.pdf",
    f"{PREFIX}/Liszt,_Franz/Piano_Sonata_in_B_minor,_S.178_/02100.pdf",
    f"{PREFIX}/Liszt,_Franz/Hungarian_Rhapsody_No.2,_S.244/2_/67715.pdf",
    f"{PREFIX}/Liszt,_Franz/R%C3%A9miniscences_de_Don_Juan,_S.418_/13001.pdf",
    f"{PREFIX}/Liszt,_Franz/Piano_Concerto_No.1_with_Orchestra,_S.124_/33333.pdf",
    f"{PREFIX}/Liszt,_Franz/Grand_Galop_for_2_Pianos_/44444.pdf",
    f"{PREFIX}/Liszt,_Franz/Requiem_f%C3%BCr_die_Orgel,_S.266_/15557.pdf",
    f"{PREFIX}/Dana,_Ruth/Collection_of_Liszt_editions,_Volume_6_/67715.pdf",
    "",
    "not/a/file/list/line.pdf",
]


@pytest.fixture
def manifests():
    return {m.scenario: m for m in derive_all(read_filelist(FIXTURE_LINES))}


def test_parse_line_decodes_names_and_keeps_leading_zeros():
    entry = parse_filelist_line(f"{PREFIX}/Bart%C3%B3k,_B%C3%A9la/Sonatina,_Sz.55_/012635.pdf\n")
    assert entry == ImslpFile(composer="Bartók, Béla", title="Sonatina, Sz.55", file_index="012635")


def test_parse_line_joins_titles_that_contain_a_slash():
    line = f"{PREFIX}/Mozart,_Wolfgang_Amadeus/6_Variations,_K.180/173c_/24866.pdf"
    assert parse_filelist_line(line).title == "6 Variations, K.180/173c"


@pytest.mark.parametrize(
    "line", ["", "   ", "score_scrape/results/x.pdf", f"{PREFIX}/A,_B/T_/x.txt"]
)
def test_parse_line_ignores_other_lines(line):
    assert parse_filelist_line(line) is None


@pytest.mark.parametrize(
    ("title", "rule"),
    [
        ("6 Waltzes for Piano 4 hands, Op.28", "four_hands"),
        ("Polonoise for Piano 4-Hands, Op.19", "four_hands"),
        ("Sonatine à 4 mains", "four_hands"),
        ("3 Sonatinen, vierhändig, Op.163", "four_hands"),
        ("Sonatinas for Four Hands", "four_hands"),
        ("Rondo for 2 Pianos", "two_pianos"),
        ("Sonatina for Two Pianos", "two_pianos"),
        ("Prelude and Nocturne for the Left Hand, Op.9", "one_hand"),
        ("Piano Concerto No.1 with Orchestra", "with_orchestra"),
        ("Fantasia for Piano and Orchestra", "with_orchestra"),
        ("Sonatina for Violin and Piano, Op.100", "with_other_instrument"),
        ("Sonatine pour flûte et piano", "with_other_instrument"),
        ("3 Songs for Voice and Piano", "with_other_instrument"),
        ("Violin Sonatina in G major, Op.100", "with_other_instrument"),
        ("Piano Trio No.1", "chamber_ensemble"),
        ("Organ Sonatina, Op.74", "organ_or_harmonium"),
        ("Requiem für die Orgel, S.266", "organ_or_harmonium"),
        ("10 Pieces for Harmonium", "organ_or_harmonium"),
    ],
)
def test_exclusion_rules_name_the_rule_that_removes_a_title(title, rule):
    assert first_matching_rule(title).name == rule


@pytest.mark.parametrize(
    "title",
    [
        "Sonatina in C major, Op.36 No.1",
        "Fantaisie pour la Harpe ou Piano, Op.12",  # piano as an alternative: solo
        "Inventions in 3 and 4 Voices, Op.17",
        "25 Fortschreitende Übungen für kleine Hände, Op.748",
        "Variations on a Theme by Handel, Op.24",
        "Les orchidées, Op.27",
        "Keyboard Sonatina in B-flat major, HWV 585",
        "Études de concert, S.144",
    ],
)
def test_exclusion_rules_keep_solo_piano_titles(title):
    assert first_matching_rule(title) is None


def test_every_rule_has_a_name_and_a_one_line_rationale():
    names = [rule.name for rule in scenarios.EXCLUSION_RULES]
    assert len(set(names)) == len(names)
    for rule in scenarios.EXCLUSION_RULES:
        assert re.fullmatch(r"[a-z_]+", rule.name)
        assert rule.rationale and "\n" not in rule.rationale


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Sonatina in C major, Op.36 No.1", "C major"),
        ("Piano Sonatina in F-sharp minor, Op.55 No.9", "F-sharp minor"),
        ("Keyboard Sonatina in B-flat major, HWV 585", "B-flat major"),
        ("Sonata in D Minor", "D minor"),
        ("Prelude in G mixolydian", "G mixolydian"),
        ("Minuet in E-flat", ""),
        ("Sonatina, Sz.55", ""),
        ("Melody in a Folk-song Style", ""),
    ],
)
def test_key_from_title(title, key):
    assert key_from_title(title) == key


def test_imslp_page_url_is_mediawiki_encoded():
    clementi = ImslpFile("Clementi, Muzio", "Sonatina in C major, Op.36 No.1", "29868")
    assert imslp_page_url(clementi) == (
        "https://imslp.org/wiki/Sonatina_in_C_major,_Op.36_No.1_(Clementi,_Muzio)"
    )
    liszt = ImslpFile("Liszt, Franz", "Réminiscences de Don Juan, S.418", "13001")
    assert imslp_page_url(liszt) == (
        "https://imslp.org/wiki/R%C3%A9miniscences_de_Don_Juan,_S.418_(Liszt,_Franz)"
    )
    quoted = ImslpFile("Knuth, Jürgen", 'Variations on "Mio caro", K.180/173c', "1")
    assert imslp_page_url(quoted) == (
        "https://imslp.org/wiki/Variations_on_%22Mio_caro%22,_K.180/173c_(Knuth,_J%C3%BCrgen)"
    )


def test_piece_id_is_a_bounded_ascii_slug_ending_in_the_file_index():
    entry = ImslpFile("Dvořák, Antonín", "Humoresques, Op.101 " + "very long " * 20, "0012345")
    piece_id = make_piece_id(entry)
    assert re.fullmatch(r"[a-z0-9-]+", piece_id)
    assert len(piece_id) <= 80
    assert piece_id.startswith("dvorak-humoresques-op-101-")
    assert piece_id.endswith("-0012345")
    assert "--" not in piece_id
    # Trimmed at a word boundary, so no word of the title is cut in half.
    untrimmed_stem = slugify(f"Dvořák {entry.title}")
    assert f"{untrimmed_stem}-".startswith(piece_id.removesuffix("0012345"))
    assert make_piece_id(entry) == piece_id  # deterministic


def test_keep_one_per_file_index_drops_repeated_lines_and_editors():
    composer = ImslpFile("Handel, George Frideric", "Sonatina, HWV 585", "402681")
    editor = ImslpFile("Gouin, Pierre", "Sonatina, HWV 585", "402681")
    other = ImslpFile("Handel, George Frideric", "Suite, HWV 437", "402700")
    kept, dropped = scenarios.keep_one_per_file_index(
        [editor, composer, editor, other, other],
        {"Gouin, Pierre": 0.8, "Handel, George Frideric": 0.2},
    )
    assert kept == [composer, other]
    assert sorted(dropped) == sorted([editor, editor, other])


def test_sonatina_scenario_selection_rules_and_duplicates(manifests):
    sonatinas = manifests["sonatinas"]
    assert sonatinas.selected == 12
    removed = {name: len(rows) for name, rows in sonatinas.removed_by_rule.items() if rows}
    assert removed == {"four_hands": 1, "with_other_instrument": 1, "organ_or_harmonium": 1}
    # HWV 585 is listed under Handel and under his editor: kept once, under Handel.
    assert [e.composer for e in sonatinas.duplicates] == ["Gouin, Pierre"]
    hwv = [row for row in sonatinas.rows if row["imslp_file_index"] == "402681"]
    assert [row["composer"] for row in hwv] == ["Handel, George Frideric"]
    assert len(sonatinas.rows) == 8


def test_liszt_scenario_is_liszt_only_without_orchestra_two_pianos_or_organ(manifests):
    liszt = manifests["liszt"]
    assert liszt.selected == 6
    assert {row["composer"] for row in liszt.rows} == {"Liszt, Franz"}
    assert sorted(row["title"] for row in liszt.rows) == [
        "Hungarian Rhapsody No.2, S.244/2",
        "Piano Sonata in B minor, S.178",
        "Réminiscences de Don Juan, S.418",
    ]


def test_manifest_rows_have_the_expected_fields(manifests):
    for manifest in manifests.values():
        ids = [row["piece_id"] for row in manifest.rows]
        assert len(set(ids)) == len(ids)
        assert manifest.rows == sorted(manifest.rows, key=scenarios.manifest_sort_key)
        for row in manifest.rows:
            assert tuple(row) == scenarios.MANIFEST_COLUMNS
            assert row["scenario"] == manifest.scenario
            assert row["source"] == "" and row["sha256"] == ""
    clementi = next(r for r in manifests["sonatinas"].rows if r["imslp_file_index"] == "29868")
    assert clementi == {
        "piece_id": "clementi-sonatina-in-c-major-op-36-no-1-29868",
        "scenario": "sonatinas",
        "title": "Sonatina in C major, Op.36 No.1",
        "composer": "Clementi, Muzio",
        "key": "C major",
        "imslp_page": "https://imslp.org/wiki/Sonatina_in_C_major,_Op.36_No.1_(Clementi,_Muzio)",
        "imslp_file_index": "29868",
        "source": "",
        "sha256": "",
    }


def test_main_writes_manifests_and_readme(tmp_path, capsys):
    filelist = tmp_path / "filelist.txt"
    filelist.write_text("\n".join(FIXTURE_LINES) + "\n", encoding="utf-8")
    out_dir = tmp_path / "config" / "pieces"
    assert main([str(filelist), str(out_dir)]) == 0

    with (out_dir / "sonatinas.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == scenarios.MANIFEST_COLUMNS
        rows = list(reader)
    assert len(rows) == 8
    assert any(row["imslp_file_index"] == "063976" for row in rows)  # leading zero kept

    readme = (out_dir / "README.md").read_text(encoding="utf-8")
    assert scenarios.SOURCE_REPOSITORY in readme and scenarios.SOURCE_COMMIT in readme
    for rule in scenarios.EXCLUSION_RULES:
        assert f"`{rule.name}`" in readme
    assert "| `four_hands` | 1 | 0 | 1 |" in readme
    assert "| **kept** | **8** | **3** | |" in readme
    assert "four_hands" in capsys.readouterr().out
