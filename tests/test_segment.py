"""clean_and_segment: a page taken as upright is checked, and measured when it is not."""

import pytest
from drawn_pages import draw_page, rotate

from visionscores.segment import page as segment


def boxes(result):
    return [[round(v) for v in box] for box in result.staff_boxes]


def test_an_upright_page_taken_as_upright_gives_what_measuring_gives():
    gray = draw_page([2, 2, 2]).gray
    _, matrix, upright = segment.clean_and_segment(gray, assume_upright=True)
    _, _, measured = segment.clean_and_segment(gray)
    assert upright.skew_deg == 0.0 and matrix.tolist() == [[1, 0, 0], [0, 1, 0]]
    assert [s.n_staves for s in upright.systems] == [2, 2, 2]
    assert boxes(upright) == boxes(measured)


@pytest.mark.parametrize("angle_deg", [0.4, 2.0])
def test_a_tilted_page_taken_as_upright_is_measured_and_deskewed(angle_deg):
    gray = rotate(draw_page([2, 2, 2]).gray, angle_deg)
    _, _, result = segment.clean_and_segment(gray, assume_upright=True)
    assert result.skew_deg == pytest.approx(angle_deg, abs=0.05)
    assert [s.n_staves for s in result.systems] == [2, 2, 2]
