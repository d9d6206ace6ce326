"""Pages drawn with OpenCV primitives for unit tests: staves, barlines, braces, text.

Exact by construction: the returned boxes are the line centres that were drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class DrawnPage:
    gray: np.ndarray
    systems: list[dict] = field(default_factory=list)  # staff_bbox, n_staves


def draw_page(
    staves_per_system: list[int],
    *,
    spacing_px: int = 20,
    thickness_px: int = 2,
    width_px: int = 2400,
    height_px: int | None = None,
    top_px: int = 200,
    left_px: int = 200,
    staff_gap_sp: float = 6.0,
    system_gap_sp: float = 9.0,
    first_indent_px: int = 0,
    join_with_barline: bool = True,
    notes: bool = True,
    seed: int = 0,
) -> DrawnPage:
    """Draw systems of five-line staves, each joined at its left end by a barline."""
    rng = np.random.default_rng(seed)
    staff_height = 4 * spacing_px
    total = top_px
    for count in staves_per_system:
        total += count * staff_height + (count - 1) * staff_gap_sp * spacing_px
        total += system_gap_sp * spacing_px
    height_px = height_px or int(total + top_px)
    gray = np.full((height_px, width_px), 255, dtype=np.uint8)
    right_px = width_px - left_px
    y = float(top_px)
    page = DrawnPage(gray)
    for index, count in enumerate(staves_per_system):
        x0 = left_px + (first_indent_px if index == 0 else 0)
        tops = []
        for staff in range(count):
            top = round(y)
            tops.append(top)
            for line in range(5):
                row = top + line * spacing_px
                cv2.line(gray, (x0, row), (right_px, row), 0, thickness_px)
            if notes:
                for _ in range(12):
                    cx = int(rng.integers(x0 + 3 * spacing_px, right_px - spacing_px))
                    cy = top + int(rng.integers(-2, 10)) * spacing_px // 2
                    cv2.ellipse(
                        gray, (cx, cy), (spacing_px * 6 // 10, spacing_px // 2), -20, 0, 360, 0, -1
                    )
                    cv2.line(
                        gray,
                        (cx + spacing_px // 2, cy),
                        (cx + spacing_px // 2, cy - int(3.5 * spacing_px)),
                        0,
                        thickness_px,
                    )
            y += staff_height + (staff_gap_sp * spacing_px if staff < count - 1 else 0)
        bottom = tops[-1] + 4 * spacing_px
        if join_with_barline or count == 1:
            cv2.line(gray, (x0, tops[0]), (x0, bottom), 0, thickness_px + 1)
            cv2.line(gray, (right_px, tops[0]), (right_px, bottom), 0, thickness_px + 1)
        # Line centres: cv2.line with an even thickness covers rows row-t/2 .. row+t/2.
        page.systems.append({"staff_bbox": [x0, tops[0], right_px + 1, bottom], "n_staves": count})
        y += system_gap_sp * spacing_px
    return page


def draw_text_page(width_px: int = 2400, height_px: int = 3300, seed: int = 0) -> np.ndarray:
    """A page of prose: lines of words in a serif font, no music."""
    rng = np.random.default_rng(seed)
    gray = np.full((height_px, width_px), 255, dtype=np.uint8)
    words = ["preface", "sonata", "the", "edition", "of", "music", "allegro", "piano", "and"]
    y = 250
    while y < height_px - 250:
        line = " ".join(rng.choice(words, size=9))
        cv2.putText(gray, line, (200, y), cv2.FONT_HERSHEY_COMPLEX, 1.6, 0, 3, cv2.LINE_AA)
        y += 70
    return gray


def rotate(gray: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate counter-clockwise (as seen on screen) by ``angle_deg`` about the centre."""
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, 1.0)
    return cv2.warpAffine(gray, matrix, (width, height), borderValue=255)
