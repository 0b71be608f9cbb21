"""Registered mmengine metrics (``METRICS`` of the ``surgvista_mm`` scope)."""
from .classification_metric import SurgicalActionMetric, SurgicalCVSMetric
from .phase_metric import SurgicalPhaseMetric
from .triplet_metric import SurgicalTripletMetric

__all__ = ['SurgicalPhaseMetric', 'SurgicalTripletMetric', 'SurgicalCVSMetric',
           'SurgicalActionMetric']
