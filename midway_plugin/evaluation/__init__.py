"""Benchmarks that run the package end to end: ``midway bench quality`` (paper Table 3 at small scale).

Modules: :mod:`~.variants` (Table 3 rows), :mod:`~.stages` (subprocess stages and their scheduler),
:mod:`~.readers` (numbers from the tools' logs), :mod:`~.zeroshot` (token EPE without training),
:mod:`~.quality` (the run), :mod:`~.report` (table and picture).
"""
