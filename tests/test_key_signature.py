"""Key signatures read at the start of each system, against engraved pages with known keys."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from shipped_params import CLEAN, CONFIG, KEY_SIGNATURE

from visionscores.segment import key_signature, page, sequence
from visionscores.segment.staves import Staff
from visionscores.segment.systems import System
from visionscores_tools import synthetic

DPI = 200


def engraved(source: str, font: str, staff_space_mm: float):
    """First page of a corpus work: its systems' true key signatures (from verovio's SVG) and
    the page through the page pipeline."""
    (engraved_page,) = synthetic.engrave(
        source, font=font, staff_space_mm=staff_space_mm, max_pages=1
    )
    gray, _ = synthetic.rasterize(engraved_page, DPI)
    processed = page.process_image(gray, CLEAN, CONFIG["segment"])
    return engraved_page.key_signatures, processed


@pytest.mark.parametrize(
    ("source", "font", "staff_space_mm", "fifths"),
    [
        ("chopin/mazurka06-2", "Leipzig", 1.8, 4),  # four sharps, C sharp minor
        ("joplin/maple_leaf_rag", "Bravura", 1.8, -4),  # four flats, A flat major
        ("cpebach/h186", "Leland", 2.0, 3),  # three sharps, A major
        ("bach/bwv846", "Petaluma", 1.6, 0),  # none, C major
    ],
)
def test_systems_read_their_engraved_key_signature(source, font, staff_space_mm, fifths):
    truth, processed = engraved(source, font, staff_space_mm)
    assert truth[0] == fifths  # verovio's own key signature, as the score has it
    thickness = processed.result.metrics.line_thickness_px
    read = [
        key_signature.system_key_signature(processed.cleaned, system, thickness, KEY_SIGNATURE)
        for system in processed.result.systems
    ]
    assert len(read) == len(truth)
    # Never a wrong key; a staff start not read with confidence (None) is allowed on one
    # system in five.
    assert all(value in (true, None) for value, true in zip(read, truth, strict=True))
    assert sum(value == true for value, true in zip(read, truth, strict=True)) >= 0.8 * len(truth)


def test_blank_staff_start_has_no_clef():
    staff = Staff(
        top_px=100.0,
        bottom_px=140.0,
        left_px=50,
        right_px=900,
        spacing_px=10.0,
        slope_deg=0.0,
        bend_px=0.0,
        line_fill=1.0,
    )
    blank = np.full((300, 1000), 255, np.uint8)
    for row in (100, 110, 120, 130, 140):
        blank[row, 50:900] = 0
    assert key_signature.staff_key_signature(blank, staff, 1.0, KEY_SIGNATURE) is None


@pytest.mark.parametrize(
    ("text", "fifths"),
    [
        ("C major", 0),
        ("A minor", 0),
        ("B-flat major", -2),
        ("F♯ minor", 3),
        ("Eb", -3),
        ("E-flat minor", -6),
        ("C# major", 7),
        ("Cb major", -7),
        ("f minor", -4),
        ("G", 1),
        ("D major", 2),
        ("Es-Dur", -3),
        ("fis-moll", 3),
        ("B minor", 2),
        ("D# major", None),  # nine sharps: no key signature
        ("", None),
        ("Allegro", None),
        ("H-moll", 2),  # German: H is B ...
        ("h-moll", 2),
        ("B-Dur", -2),  # ... and B before Dur or moll is B-flat
        ("b-moll", -5),
        ("B major", 5),
        ("Bes", -2),  # Dutch
    ],
)
def test_fifths_of_key_names(text, fifths):
    assert key_signature.fifths_of_key(text) == fifths


def test_movement_consensus_is_the_most_frequent_read_value():
    assert key_signature.movement_key_consensus([2, None, 2, 1, 2]) == 2
    assert key_signature.movement_key_consensus([None, None]) is None
    assert key_signature.movement_key_consensus([]) is None
    # A tie goes to the value read first.
    assert key_signature.movement_key_consensus([None, -3, 0, 0, -3]) == -3


def test_system_value_needs_more_than_half_of_its_staves():
    assert key_signature.combine_staff_keys([4, 4]) == 4
    assert key_signature.combine_staff_keys([4, 0]) is None
    assert key_signature.combine_staff_keys([4, None]) is None
    assert key_signature.combine_staff_keys([1, 1, None]) == 1
    assert key_signature.combine_staff_keys([None, None]) is None


SPACING = 12  # pixels between staff lines of the drawn staves
TREBLE_TOP, BASS_TOP = 100, 220  # rows of the drawn staves' top lines
CLEF_X, KEY_X, ACCIDENTAL_STEP = 40, 90, 14  # columns: clef, first accidental; pixels apart


def drawn_staff(top: int) -> Staff:
    return Staff(
        top_px=float(top),
        bottom_px=float(top + 4 * SPACING),
        left_px=30,
        right_px=900,
        spacing_px=float(SPACING),
        slope_deg=0.0,
        bend_px=0.0,
        line_fill=1.0,
    )


def draw_flat(page: np.ndarray, x: int, pitch_row: int) -> None:
    """A flat whose pitch lies on ``pitch_row``: stem from 1.75 spacings above it to 0.6
    below, its bowl (hollow) right of the stem around the pitch."""
    page[pitch_row - 21 : pitch_row + 8, x : x + 2] = 0
    cv2.ellipse(page, (x + 5, pitch_row + 2), (4, 5), 0, 0, 360, 0, 2)


def draw_sharp(page: np.ndarray, x: int, pitch_row: int) -> None:
    """A sharp centred on ``pitch_row``: two stems 1.35 spacings up and down, two beams."""
    page[pitch_row - 16 : pitch_row + 16, x : x + 2] = 0
    page[pitch_row - 16 : pitch_row + 16, x + 6 : x + 8] = 0
    page[pitch_row - 6 : pitch_row - 3, x - 2 : x + 10] = 0
    page[pitch_row + 3 : pitch_row + 6, x - 2 : x + 10] = 0


def drawn_system(kind: str, count: int, note_after: bool = False) -> tuple[np.ndarray, System]:
    """Treble and bass staves, each a clef (a block) and ``count`` accidentals of ``kind`` in
    the key signature pattern, ``ACCIDENTAL_STEP`` pixels apart; with ``note_after``, a
    note with a stem up follows on each staff where the next accidental would sit."""
    page = np.full((360, 1000), 255, np.uint8)
    staves = []
    steps = key_signature.SHARP_STEPS if kind == key_signature.SHARP else key_signature.FLAT_STEPS
    draw = draw_sharp if kind == key_signature.SHARP else draw_flat
    for top, offset in ((TREBLE_TOP, 0), (BASS_TOP, 2)):
        for line in range(5):
            page[top + line * SPACING, 30:900] = 0
        page[top - 12 : top + 60, CLEF_X : CLEF_X + 26] = 0
        for i in range(count):
            draw(page, KEY_X + i * ACCIDENTAL_STEP, top + (steps[i] + offset) * SPACING // 2)
        if note_after:
            row = top + (steps[count] + offset) * SPACING // 2
            x = KEY_X + count * ACCIDENTAL_STEP
            cv2.ellipse(page, (x + 5, row), (6, 4), -20, 0, 360, 0, -1)
            page[row - 42 : row, x + 10 : x + 12] = 0
        staves.append(drawn_staff(top))
    system = System(staves=tuple(staves), staff_box=(30, 100, 900, 268), crop_box=(0, 0, 1, 1))
    return page, system


@pytest.mark.parametrize("kind", [key_signature.FLAT, key_signature.SHARP])
@pytest.mark.parametrize("count", [1, 4, 6])
def test_reading_by_places_counts_the_drawn_accidentals(kind, count):
    sign = 1 if kind == key_signature.SHARP else -1
    page, system = drawn_system(kind, count, note_after=count < 6)
    readings = [key_signature.read_staff(page, s, 1.0, KEY_SIGNATURE) for s in system.staves]
    assert [r.value for r in readings] == [sign * count] * 2  # the glyph reading, for a start
    template = key_signature.accidental_template(readings, kind)
    # By the template alone: the staves' own readings left out.
    unread = [replace(r, accidentals=()) for r in readings]

    def walk(offsets):
        return key_signature.walk_pattern(unread, kind, offsets, template, KEY_SIGNATURE)

    # On the clefs drawn (treble, bass), every drawn accidental and not the note after them.
    assert walk((0, 2)) == (count, True)
    # The wrong clef for the bass staff (a third off) finds its first accidental nowhere.
    assert walk((0, 0))[0] == 0


def test_staves_that_disagree_are_settled_by_the_places_both_show():
    page, system = drawn_system(key_signature.FLAT, 4, note_after=True)
    readings = [key_signature.read_staff(page, s, 1.0, KEY_SIGNATURE) for s in system.staves]
    treble, bass = readings

    def settle(treble_value, bass_value):
        return key_signature.settle_disagreement(
            [replace(treble, value=treble_value), replace(bass, value=bass_value)],
            KEY_SIGNATURE,
        )

    assert settle(-4, -2) == -4  # one staff cut short
    assert settle(0, -4) == -4  # one staff read no accidental
    assert settle(-5, -4) is None  # one staff took the note's flat for the key's: unsettled
    assert settle(-2, -1) == -4  # both cut short: all four places show a flat on both
    assert settle(-4, 3) is None  # flats and sharps: not settled
    assert settle(-4, None) is None  # a staff without a clef: not settled
    assert settle(0, 0) is None  # no accidental read anywhere: nothing to settle


def test_line_residue_is_dropped_and_beams_and_stems_kept():
    symbols = np.zeros((60, 200), bool)
    symbols[10:12, 20:140] = True  # a staff line drawn 2 px thick, 120 px long: residue
    symbols[30:36, 20:80] = True  # a beam, 6 px thick
    symbols[20:50, 150:152] = True  # a stem
    symbols[45:47, 100:120] = True  # a thin stroke shorter than the least residue length
    kept = key_signature.drop_line_residue(symbols, min_length_px=36, max_thickness_px=3.5)
    expected = symbols.copy()
    expected[10:12, 20:140] = False
    np.testing.assert_array_equal(kept, expected)


def test_staves_cut_short_alike_are_extended_to_the_places_all_show():
    page, system = drawn_system(key_signature.SHARP, 4, note_after=True)
    readings = [key_signature.read_staff(page, s, 1.0, KEY_SIGNATURE) for s in system.staves]
    assert [r.value for r in readings] == [4, 4]
    assert key_signature.extend_agreement(readings, 4, KEY_SIGNATURE) == 4  # not the note
    # Both staves read two of the four sharps (as a blurred scan may cut them alike).
    short = [replace(r, value=2, accidentals=r.accidentals[:2]) for r in readings]
    assert key_signature.extend_agreement(short, 2, KEY_SIGNATURE) == 4
    # No key agreed: nothing to extend.
    assert key_signature.extend_agreement(readings, 0, KEY_SIGNATURE) == 0


def test_a_page_of_lines_found_only_at_the_lowest_contrast_reads_no_key():
    # The segment stage reads a page's keys through sequence.read_page: an engraved page with
    # four sharps reads them, and the same page marked faint (its lines found only when
    # measured at the lowest contrast, where accidentals are lost) reads none, never a 0.
    truth, processed = engraved("chopin/mazurka06-2", "Leipzig", 1.8)
    result = processed.result
    assert not result.faint_lines
    movements = CONFIG["movements"]
    read = sequence.read_page(processed.cleaned, result, movements, KEY_SIGNATURE).fifths
    assert 4 in read and set(read) <= {4, None}
    faint = replace(result, faint_lines=True)
    assert sequence.read_page(processed.cleaned, faint, movements, KEY_SIGNATURE).fifths == [
        None
    ] * len(result.systems)
