"""Where each candidate system stands in its score file: which piece or movement it belongs
to, whether it starts one, and the key signature printed at its start.

Per page, :func:`read_page` measures the cues of a movement start
(:mod:`visionscores.segment.movements`) and reads each system's key signature
(:mod:`visionscores.segment.key_signature`) while the cleaned page is in memory; once every
page is read, :func:`file_sequence` decides the starts over the whole file and the key
signature of each movement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visionscores.segment import key_signature, movements


@dataclass(frozen=True)
class PageReading:
    """What one page says of its systems' places in the file, in their reading order."""

    cues: list[dict[str, Any]]  # movements.system_cues
    fifths: list[int | None]  # key signature of each system
    heading_boxes: list[tuple[int, int, int, int] | None]  # region above each system, px


def read_page(
    cleaned: np.ndarray,
    result,
    movement_params: Mapping[str, Any],
    key_params: Mapping[str, Any],
) -> PageReading:
    """Movement cues, key signatures and heading regions of a segmented page's systems.

    ``cleaned``: the deskewed gray page; ``result``: its ``PageSegmentation``;
    ``movement_params``, ``key_params``: config ``movements`` and ``key_signature``.
    """
    systems = result.systems
    if not systems:
        return PageReading([], [], [])
    thickness = result.metrics.line_thickness_px
    return PageReading(
        cues=movements.system_cues(cleaned, systems, thickness, movement_params),
        # On a page whose staff lines were found only at the lowest contrast the
        # accidentals are as faint, and a key read there says 0 where they were lost.
        fifths=[
            None
            if result.faint_lines
            else key_signature.system_key_signature(cleaned, system, thickness, key_params)
            for system in systems
        ],
        heading_boxes=[
            movements.heading_box(cleaned.shape, systems, index, movement_params)
            for index in range(len(systems))
        ],
    )


def file_sequence(
    cues: Sequence[Mapping[str, Any]],
    fifths: Sequence[int | None],
    movement_params: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Per system of a file in reading order: ``movement_index``, ``movement_start``,
    ``key_signature_fifths`` and ``movement_key_signature_fifths`` (the consensus of the
    systems of its movement)."""
    starts = movements.movement_starts(cues, movement_params)
    indices = movements.movement_indices(starts)
    by_movement: dict[int, list[int | None]] = {}
    for index, value in zip(indices, fifths, strict=True):
        by_movement.setdefault(index, []).append(value)
    consensus = {
        index: key_signature.movement_key_consensus(values) for index, values in by_movement.items()
    }
    return [
        {
            "movement_index": index,
            "movement_start": start,
            "key_signature_fifths": value,
            "movement_key_signature_fifths": consensus[index],
        }
        for start, index, value in zip(starts, indices, fifths, strict=True)
    ]


def heading_file_name(movement_index: int) -> str:
    """File name of a movement's heading image in its piece's pages folder."""
    return f"heading-m{movement_index:02d}.jpg"
