"""The report stage (see :mod:`visionscores.report.stage`).

* ``figures``: each figure and table, from the tables and pages;
* ``stage``: the report stage function the workflow's rule calls.
"""
