"""The judgement: each rule, its reason code and the value that failed."""

import math

import pytest
import yaml
from repo_paths import REPO

from visionscores.judge import rules

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
    "sharpness": 0.6,
    "noise": 0.0,
    "text_likeness": 0.05,
    "overlap": 0.0,
    "open_end_sp": 0.0,
    "barline_beyond_sp": 0.0,
}


def test_a_good_grand_staff_is_kept():
    verdict = rules.judge_candidate(GOOD, THRESHOLDS)
    assert verdict.keep and verdict.reason == "" and math.isnan(verdict.reason_value)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"n_staves": 3}, "n_staves"),
        ({"n_staves": 1}, "n_staves"),
        ({"width_ratio": 0.05}, "narrow"),
        ({"open_end_sp": 20.0}, "partial"),
        ({"barline_beyond_sp": 10.0}, "barline_beyond"),
        ({"line_fill": 0.2}, "broken_lines"),
        ({"residual_skew_deg": -2.0}, "skewed"),
        ({"bend_sp": 3.0}, "curved"),
        ({"edge_cut": 0.3}, "edge_cut"),
        ({"ink_density": 0.001}, "sparse"),
        ({"ink_density": 0.9}, "dense"),
        ({"sharpness": 0.05}, "blurred"),
        ({"noise": 0.5}, "noisy"),
        ({"text_likeness": 0.9}, "text"),
        ({"overlap": 0.5}, "overlap"),
    ],
)
def test_each_rule_rejects_with_its_reason_and_value(change, reason):
    verdict = rules.judge_candidate({**GOOD, **change}, THRESHOLDS)
    assert not verdict.keep
    assert verdict.reason == reason
    assert verdict.reason_value == pytest.approx(float(next(iter(change.values()))))


def test_all_failed_rules_are_listed():
    verdict = rules.judge_candidate({**GOOD, "n_staves": 3, "width_ratio": 0.05}, THRESHOLDS)
    assert verdict.reasons == "n_staves;narrow"


def test_every_reason_has_a_meaning_in_check_order():
    features = {name: 0.0 for name in GOOD} | {"n_staves": 9, "width_ratio": 0.0}
    features |= {"ink_density": 0.0, "residual_skew_deg": 9.0, "bend_sp": 9.0, "edge_cut": 1.0}
    features |= {"noise": 1.0, "text_likeness": 1.0, "overlap": 1.0, "open_end_sp": 99.0}
    features |= {"barline_beyond_sp": 99.0}
    reasons = rules.judge_candidate(features, THRESHOLDS).reasons.split(";")
    # Every rule fails here except "dense" (density 0 is sparse): the order is the table's.
    assert reasons == [code for code in rules.REASON_MEANINGS if code != "dense"]


def test_the_config_readme_lists_every_reason_in_the_order_they_are_checked():
    text = (REPO / "config/README.md").read_text(encoding="utf-8")
    section = text.split("## Rejection reasons", 1)[1].split("(meanings in", 1)[0]
    listed = section.split("`reasons` (all failed rules):", 1)[1]
    assert listed.split("`")[1::2] == list(rules.REASON_MEANINGS)
