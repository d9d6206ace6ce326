"""Where the repository is, for tests that read its config, schemas and demo data."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
