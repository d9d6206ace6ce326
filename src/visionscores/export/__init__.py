"""The export stage (see :mod:`visionscores.export.stage`).

* ``splits``: splits by work;
* ``duplicates``: near-duplicate samples;
* ``hub``: Hugging Face shards;
* ``card``: the dataset card;
* ``stage``: the export stage function the workflow's rule calls.
"""
