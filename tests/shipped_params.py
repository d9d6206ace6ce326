"""The shipped config's parameters, for tests that call one detection function directly."""

import yaml
from repo_paths import REPO

from visionscores.segment import page

CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))
CLEAN = page.cleaning_params(CONFIG["clean"])  # the arguments of clean.clean_page
STAFF, SYSTEM = page.split_segment_params(CONFIG["segment"])  # of find_staves, find_systems
KEY_SIGNATURE = CONFIG["key_signature"]  # the arguments `params` of segment.key_signature
MOVEMENTS = CONFIG["movements"]  # the arguments (params) of segment.movements
