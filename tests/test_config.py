"""The configuration is checked before any job runs: each problem named by the key's path."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from repo_paths import REPO

from visionscores.config import ConfigError, check_config
from visionscores.segment import page as segment

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())


def with_change(path: str, value) -> dict:
    """The default config with the key at dotted ``path`` set (a missing last key added)."""
    config = copy.deepcopy(DEFAULT)
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value
    return config


def object_schemas(schema: dict, path: str = ""):
    """(dotted path, schema) of every object in the schema with fixed keys."""
    if "properties" in schema:
        yield path, schema
        for key, child in schema["properties"].items():
            yield from object_schemas(child, f"{path}.{key}" if path else key)


def test_the_default_config_passes():
    check_config(DEFAULT, SCHEMA)


def test_every_level_requires_every_key_refuses_others_and_describes_each():
    for path, schema in object_schemas(SCHEMA):
        assert schema.get("additionalProperties") is False, path or "(top)"
        assert sorted(schema["required"]) == sorted(schema["properties"]), path or "(top)"
        for key, child in schema["properties"].items():
            assert child.get("description"), f"{path}.{key}"


def test_every_key_is_in_the_config_file_and_in_its_readme():
    readme = (REPO / "config/README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_]+(?:\.[a-z_<>]+)?)`", readme))
    for section, schema in object_schemas(SCHEMA):
        if not section:
            continue
        for key in schema["properties"]:
            assert key in DEFAULT[section], f"{section}.{key} missing from config.yaml"
            row = f"{section}.{key}"
            assert row in documented or key in documented, f"{row} missing from config/README.md"


CASES = {
    "misspelled key": (with_change("clean.max_skew_degs", 3), "clean.max_skew_degs: unknown key"),
    "unknown section": (with_change("cleaning", {}), "cleaning: unknown key"),
    "missing key": (
        {**DEFAULT, "render": {k: v for k, v in DEFAULT["render"].items() if k != "dpi"}},
        "render.dpi: missing",
    ),
    "wrong type": (with_change("judge.max_noise", "high"), "judge.max_noise: 'high' is not"),
    "minimum above maximum (clean)": (
        with_change("clean.min_skew_deg", 6.0),
        "clean.min_skew_deg: 6.0 is above clean.max_skew_deg (5.0)",
    ),
    "minimum above maximum (judge)": (
        with_change("judge.min_ink_density", 0.4),
        "judge.min_ink_density: 0.4 is above judge.max_ink_density (0.35)",
    ),
    "minimum above maximum (segment)": (
        with_change("segment.enlarge_min_spacing_px", 5.5),
        "segment.enlarge_min_spacing_px: 5.5 is above segment.min_spacing_px (5.0)",
    ),
    "enlarged page above the render limit": (
        with_change("segment.enlarge_max_pixels", 200_000_000),
        "segment.enlarge_max_pixels: 200000000 is above render.max_pixels_per_page (150000000)",
    ),
    "split shares": (
        with_change("export.split_fractions", {"train": 0.8, "test": 0.3}),
        "export.split_fractions: the shares sum to 1.1, not 1",
    ),
    "empty results path": (with_change("paths.results", ""), "paths.results: '' should be"),
    "blank resources path": (with_change("paths.resources", "  "), "paths.resources: empty"),
    "root results path": (with_change("paths.results", "/"), "paths.results: '/' is the"),
    "unknown scenario": (with_change("scenario", "nope"), "scenario: 'nope' is not one of"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_config_is_refused_naming_the_key(name):
    config, expected = CASES[name]
    with pytest.raises(ConfigError) as raised:
        check_config(config, SCHEMA)
    assert expected in str(raised.value)


def test_shares_of_decimal_fractions_that_sum_to_one_pass():
    check_config(with_change("export.split_fractions", {"a": 0.7, "b": 0.2, "c": 0.1}), SCHEMA)


def test_a_segment_key_of_neither_function_is_refused_not_dropped():
    with pytest.raises(ValueError, match="min_widht_sp"):
        segment.split_segment_params({**DEFAULT["segment"], "min_widht_sp": 3.0})
    staff, system = segment.split_segment_params(DEFAULT["segment"])
    assert set(staff) | set(system) | set(segment.PAGE_KEYS) == set(DEFAULT["segment"])
    assert staff["min_spacing_px"] == 5.0 and system["min_overlap"] == 0.5
