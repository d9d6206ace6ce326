"""Quality: the measured features of a candidate system, and the judgement on them.

Segment measures (these functions, on arrays); judge decides (on the table of measurements,
with thresholds from config), so the filter can be re-tuned without touching the images.
Every rejection records a reason code and the value that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# Feature columns: name → (unit, description). The order is the order of the metadata.
FEATURES: dict[str, tuple[str, str]] = {
    "width_ratio": ("fraction", "staff width / widest staff width on the page"),
    "height_sp": ("staff spacings", "tight staff box height"),
    "ink_density": ("fraction", "ink pixels in the crop box"),
    "residual_skew_deg": ("degrees", "largest tilt of a staff after deskew"),
    "bend_sp": ("staff spacings", "largest bend of a staff's top line from straight"),
    "line_fill": ("fraction", "smallest share of a staff's width where its lines show ink"),
    "edge_cut": ("fraction", "share of the wanted crop box that falls off the page"),
}


def ink_density(ink: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """Fraction of ink pixels of ``ink`` (0/1) inside ``box`` (x0, y0, x1, y1), pixels."""
    x0, y0, x1, y1 = (round(v) for v in box)
    region = ink[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
    return float(region.mean()) if region.size else 0.0


def edge_cut(
    staff_box: tuple[float, float, float, float], width: int, height: int, margin_px: float
) -> float:
    """Share of the staff box grown by ``margin_px`` that lies outside the page."""
    x0, y0, x1, y1 = staff_box
    gx0, gy0, gx1, gy1 = x0 - margin_px, y0 - margin_px, x1 + margin_px, y1 + margin_px
    area = (gx1 - gx0) * (gy1 - gy0)
    inside = max(0.0, min(gx1, width) - max(gx0, 0)) * max(0.0, min(gy1, height) - max(gy0, 0))
    return float(1.0 - inside / area) if area > 0 else 1.0


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
      broken_lines: line_fill < ``min_line_fill``;
      skewed: |residual_skew_deg| > ``max_residual_skew_deg``;
      curved: bend_sp > ``max_bend_sp``;
      edge_cut: edge_cut > ``max_edge_cut``;
      sparse / dense: ink_density outside [``min_ink_density``, ``max_ink_density``].
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
    ]
    failed = [(code, float(value)) for code, value, fails in checks if fails]
    if not failed:
        return Verdict(True, "", float("nan"), "")
    return Verdict(False, failed[0][0], failed[0][1], ";".join(code for code, _ in failed))
