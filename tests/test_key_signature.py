"""Key signatures read at the start of each system, against engraved pages with known keys."""

from __future__ import annotations

import numpy as np
import pytest
from shipped_params import CLEAN, CONFIG, KEY_SIGNATURE

from visionscores.segment import key_signature, page
from visionscores.segment.staves import Staff
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
