"""visionscores: system-segmented image datasets from two-handed piano scores."""

__version__ = "0.1.0"
