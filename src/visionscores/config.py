"""The workflow's configuration, checked before any job runs.

First against the schema (``workflow/schemas/config.schema.yaml``: every key described and
required, no other key accepted), then across keys: a minimum above its maximum, an enlarged
page allowed more pixels than a rendered one, split shares that do not sum to 1, a path that
is empty or the filesystem's root. Every problem is
named by the key's path (``clean.max_skew_degs: unknown key``), all of them at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from visionscores.errors import VisionscoresError

# (section, minimum key, maximum key): the minimum may not exceed the maximum.
MIN_MAX_PAIRS = (
    ("clean", "min_skew_deg", "max_skew_deg"),
    ("judge", "min_ink_density", "max_ink_density"),
    ("movements", "indent_min_sp", "indent_max_sp"),
    ("movements", "heading_clear_sp", "heading_reach_sp"),
    ("segment", "enlarge_min_spacing_px", "min_spacing_px"),
    ("segment", "min_spacing_px", "enlarge_to_spacing_px"),
)
# Keys holding a folder the pipeline writes into.
PATH_KEYS = (("paths", "resources"), ("paths", "results"))
# Split shares may differ from 1 by this much (decimal shares such as 0.7 + 0.2 + 0.1).
SPLIT_SUM_TOLERANCE = 1e-9


class ConfigError(VisionscoresError):
    """A configuration that cannot be used; the message lists each key's problem."""

    cause = "config"


def key_path(parts: Iterable[Any]) -> str:
    """``clean.max_skew_deg``, ``judge.allowed_n_staves[0]``; the top level is ``(top)``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def _join(parent: str, key: str) -> str:
    return key if parent == "(top)" else f"{parent}.{key}"


def schema_problems(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """One message per schema violation, each starting with the key's path."""
    from jsonschema import Draft202012Validator

    problems = []
    validator = Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path))):
        where = key_path(error.path)
        if (
            error.validator == "additionalProperties"
            and error.schema.get("additionalProperties") is False
        ):
            allowed = set(error.schema.get("properties", {}))
            problems += [
                f"{_join(where, key)}: unknown key" for key in sorted(set(error.instance) - allowed)
            ]
        elif error.validator == "required":
            problems += [
                f"{_join(where, key)}: missing"
                for key in error.validator_value
                if key not in error.instance
            ]
        else:
            problems.append(f"{where}: {error.message}")
    return problems


def cross_key_problems(config: Mapping[str, Any]) -> list[str]:
    """Problems no single key shows: run on a config that passed the schema."""
    problems = []
    if config["scenario"] not in config["scenarios"]:
        problems.append(
            f"scenario: {config['scenario']!r} is not one of the scenarios"
            f" {sorted(config['scenarios'])}"
        )
    for section, low, high in MIN_MAX_PAIRS:
        minimum, maximum = config[section][low], config[section][high]
        if minimum > maximum:
            problems.append(f"{section}.{low}: {minimum} is above {section}.{high} ({maximum})")
    # The segment job declares memory for render.max_pixels_per_page: an enlarged page of
    # tiny staves must stay within it.
    enlarged, rendered = (
        config["segment"]["enlarge_max_pixels"],
        config["render"]["max_pixels_per_page"],
    )
    if enlarged > rendered:
        problems.append(
            f"segment.enlarge_max_pixels: {enlarged} is above render.max_pixels_per_page"
            f" ({rendered})"
        )
    fractions = config["export"]["split_fractions"]
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, abs_tol=SPLIT_SUM_TOLERANCE):
        problems.append(f"export.split_fractions: the shares sum to {total:g}, not 1")
    for section, key in PATH_KEYS:
        value = config[section][key]
        if not value.strip():
            problems.append(f"{section}.{key}: empty")
        elif Path(value).resolve() == Path(Path(value).resolve().anchor):
            problems.append(f"{section}.{key}: {value!r} is the filesystem's root")
    return problems


def check_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``, if it has any."""
    problems = schema_problems(config, schema)
    if not problems:
        problems = cross_key_problems(config)
    if problems:
        raise ConfigError(format_problems(problems))


def format_problems(problems: Sequence[str]) -> str:
    """The error message: one problem per line."""
    return "config: " + "\n  ".join(["invalid configuration:", *problems])
