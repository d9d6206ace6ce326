"""visionscores: system-segmented image datasets from two-handed piano scores."""

__version__ = "0.1.0"

# Version of what the stages write (files, tables, their columns and meaning). The workflow
# passes it to its first stage as a param, so changing it reruns every piece from render on:
# change it whenever a new version would read older intermediate files wrongly.
OUTPUTS_VERSION = "2026-11-29.3"
