"""The judgement on a candidate system's measured features (see segment.features).

Every rejection records a reason code and the value that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Rejection reason codes, in the order judge_candidate checks them, and what each means.
REASON_MEANINGS: dict[str, str] = {
    "n_staves": "not one grand staff (staff count outside judge.allowed_n_staves)",
    "narrow": "much narrower than the widest system on its page (judge.min_width_ratio)",
    "partial": "its staff lines stop short of the page's other systems with no barline there,"
    " a part of a system (judge.max_open_end_sp)",
    "barline_beyond": "its left barline runs on past its outer staves to a staff not in it,"
    " part of a larger system (judge.max_barline_beyond_sp)",
    "broken_lines": "staff lines show ink over too little of the width (judge.min_line_fill)",
    "skewed": "a staff still tilted after page deskew (judge.max_residual_skew_deg)",
    "curved": "a staff line bent from straight (judge.max_bend_sp)",
    "edge_cut": "the system runs off the page (judge.max_edge_cut)",
    "sparse": "too little ink in the crop box (judge.min_ink_density)",
    "dense": "too much ink in the crop box (judge.max_ink_density)",
    "blurred": "staff lines too soft to read (judge.min_sharpness)",
    "noisy": "too much of the ink is specks (judge.max_noise)",
    "text": "too much ink detached from the staves, like text (judge.max_text_likeness)",
    "overlap": "its staves overlap another system's (judge.max_overlap)",
}


@dataclass(frozen=True)
class Verdict:
    """The judgement on one candidate: kept, or the first failed rule and all failed rules."""

    keep: bool
    reason: str  # "" when kept
    reason_value: float  # the measured value that failed (NaN when kept)
    reasons: str  # every failed rule, ";"-separated


def judge_candidate(features: Mapping[str, Any], thresholds: Mapping[str, Any]) -> Verdict:
    """Judge one candidate system on its ``features`` with ``thresholds`` from config.

    Rules, in the order reported (reason code: what fails it):
      n_staves: n_staves not in ``allowed_n_staves``;
      narrow: width_ratio < ``min_width_ratio``;
      partial: open_end_sp > ``max_open_end_sp``;
      barline_beyond: barline_beyond_sp > ``max_barline_beyond_sp``;
      broken_lines: line_fill < ``min_line_fill``;
      skewed: |residual_skew_deg| > ``max_residual_skew_deg``;
      curved: bend_sp > ``max_bend_sp``;
      edge_cut: edge_cut > ``max_edge_cut``;
      sparse / dense: ink_density outside [``min_ink_density``, ``max_ink_density``];
      blurred: sharpness < ``min_sharpness``;
      noisy: noise > ``max_noise``;
      text: text_likeness > ``max_text_likeness``;
      overlap: overlap > ``max_overlap``.
    """
    checks = [
        (
            "n_staves",
            features["n_staves"],
            features["n_staves"] not in thresholds["allowed_n_staves"],
        ),
        (
            "narrow",
            features["width_ratio"],
            features["width_ratio"] < thresholds["min_width_ratio"],
        ),
        (
            "partial",
            features["open_end_sp"],
            features["open_end_sp"] > thresholds["max_open_end_sp"],
        ),
        (
            "barline_beyond",
            features["barline_beyond_sp"],
            features["barline_beyond_sp"] > thresholds["max_barline_beyond_sp"],
        ),
        (
            "broken_lines",
            features["line_fill"],
            features["line_fill"] < thresholds["min_line_fill"],
        ),
        (
            "skewed",
            features["residual_skew_deg"],
            abs(features["residual_skew_deg"]) > thresholds["max_residual_skew_deg"],
        ),
        ("curved", features["bend_sp"], features["bend_sp"] > thresholds["max_bend_sp"]),
        ("edge_cut", features["edge_cut"], features["edge_cut"] > thresholds["max_edge_cut"]),
        (
            "sparse",
            features["ink_density"],
            features["ink_density"] < thresholds["min_ink_density"],
        ),
        ("dense", features["ink_density"], features["ink_density"] > thresholds["max_ink_density"]),
        ("blurred", features["sharpness"], features["sharpness"] < thresholds["min_sharpness"]),
        ("noisy", features["noise"], features["noise"] > thresholds["max_noise"]),
        (
            "text",
            features["text_likeness"],
            features["text_likeness"] > thresholds["max_text_likeness"],
        ),
        ("overlap", features["overlap"], features["overlap"] > thresholds["max_overlap"]),
    ]
    failed = [(code, float(value)) for code, value, fails in checks if fails]
    if not failed:
        return Verdict(True, "", float("nan"), "")
    return Verdict(False, failed[0][0], failed[0][1], ";".join(code for code, _ in failed))
