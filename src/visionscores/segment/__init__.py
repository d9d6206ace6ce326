"""The segment stage: from a PDF page to its candidate systems, in memory.

``render`` takes a page's pixels (a scan's own, or a vector page drawn at ``render.dpi``),
``clean`` flattens the paper and undoes the skew, ``staves`` finds the staves and the page's
units, ``systems`` groups staves into systems, and ``page`` runs them in that order: its
``process_pdf_pages`` is the one page pipeline that the workflow's segment rule, the
``visionscores segment`` command and the benchmarks all call. ``movements`` reads, over a
whole file's systems in reading order, which of them start a piece or movement.
"""
