"""Surgical evaluators: registered metrics, a functional API and the phase-file reader.

Importing this package registers ``SurgicalPhaseMetric``, ``SurgicalTripletMetric``,
``SurgicalCVSMetric`` and ``SurgicalActionMetric`` in the ``surgvista_mm`` ``METRICS`` registry.
The CholecT50 triplet map ships as package data in ``evaluation/data/cholect50_maps.txt``.
"""
from . import functional  # noqa: F401
from .metrics import (SurgicalActionMetric, SurgicalCVSMetric, SurgicalPhaseMetric,
                      SurgicalTripletMetric)
from .phase_files import PhaseFileError, load_phase_dirs, read_class_names, read_phase_file
from .writers import SurgicalPredictionWriter

__all__ = ['functional', 'SurgicalPhaseMetric', 'SurgicalTripletMetric', 'SurgicalCVSMetric',
           'SurgicalActionMetric', 'PhaseFileError', 'load_phase_dirs', 'read_class_names',
           'read_phase_file', 'SurgicalPredictionWriter']
