"""The judgement: each rule, its reason code and the value that failed."""

import math

import numpy as np
import pytest
import yaml
from repo_paths import REPO

from visionscores import quality

THRESHOLDS = yaml.safe_load((REPO / "config/config.yaml").read_text())["judge"]
GOOD = {
    "n_staves": 2,
    "width_ratio": 1.0,
    "height_sp": 14.0,
    "ink_density": 0.1,
    "residual_skew_deg": 0.0,
    "bend_sp": 0.1,
    "line_fill": 1.0,
    "edge_cut": 0.0,
}


def test_a_good_grand_staff_is_kept():
    verdict = quality.judge_candidate(GOOD, THRESHOLDS)
    assert verdict.keep and verdict.reason == "" and math.isnan(verdict.reason_value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"n_staves": 3}, "n_staves"),
        ({"n_staves": 1}, "n_staves"),
        ({"width_ratio": 0.05}, "narrow"),
        ({"line_fill": 0.2}, "broken_lines"),
        ({"residual_skew_deg": -2.0}, "skewed"),
        ({"bend_sp": 3.0}, "curved"),
        ({"edge_cut": 0.3}, "edge_cut"),
        ({"ink_density": 0.001}, "sparse"),
        ({"ink_density": 0.9}, "dense"),
    ],
)
def test_each_rule_rejects_with_its_reason_and_value(change, reason):
    verdict = quality.judge_candidate({**GOOD, **change}, THRESHOLDS)
    assert not verdict.keep
    assert verdict.reason == reason
    assert verdict.reason_value == pytest.approx(float(next(iter(change.values()))))


def test_all_failed_rules_are_listed():
    verdict = quality.judge_candidate({**GOOD, "n_staves": 3, "width_ratio": 0.05}, THRESHOLDS)
    assert verdict.reasons == "n_staves;narrow"


def test_ink_density_and_edge_cut():
    ink = np.zeros((100, 100), np.uint8)
    ink[:50] = 1
    assert quality.ink_density(ink, (0, 0, 100, 100)) == pytest.approx(0.5)
    assert quality.edge_cut((10, 10, 90, 90), 100, 100, 0) == 0.0
    assert quality.edge_cut((50, 10, 150, 90), 100, 100, 0) == pytest.approx(0.5)
