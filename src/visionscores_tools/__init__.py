"""Tooling around the visionscores product, never imported by it.

Synthetic engraved pages with exact ground truth (``synthetic``), the demo maker (``demo``),
segmentation scoring (``evaluation``), the derivation of the IMSLP scenario manifests
(``scenarios``) and a single-node SLURM cluster for tests (``slurm_cluster``). Their extra
dependencies come with ``pip install -e '.[tools]'``.
"""
