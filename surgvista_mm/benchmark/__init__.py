"""Benchmark suites: a matrix of models x datasets x seeds, fine-tuned, tested and reported.

* :mod:`.suite`: reading a suite file and expanding it into runs (commands per step);
* :mod:`.runner`: validating every config and checkpoint, running / emitting the runs
  (resumable: completion markers per step and per run);
* :mod:`.scoring`: re-scoring a run's ``--out-dir`` files on all videos or on resamples;
* :mod:`.report`: ``results.csv`` (95 % bootstrap CIs over videos, paired Wilcoxon P-values
  against the reference model), ``tables.md`` / ``tables.tex`` and the figures;
* :mod:`.cli`: ``tools/run_suite.py``.
"""
from .suite import Suite, SuiteError, load_suite

__all__ = ['Suite', 'SuiteError', 'load_suite']
