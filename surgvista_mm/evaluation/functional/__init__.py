"""Functional API of the surgical metrics: plain NumPy arrays in, dictionaries out.

Modules: :mod:`.phase` (workflow recognition, with :mod:`.phase_relax` for the relaxed-boundary
rule), :mod:`.triplet` (triplet AP), :mod:`.cvs` (Critical View of Safety), :mod:`.ranking` (AP,
top-1, single-label metrics) and :mod:`.stats` (bootstrap, Wilcoxon, NaN-aware helpers).
"""
from .cvs import CVS_CRITERIA, cvs_consensus, cvs_criteria_met, cvs_metrics
from .phase import (PROTOCOLS, RELAXATIONS, TRANSITION_RULES, PhaseVideoStats,
                    aggregate_relaxed, aggregate_unrelaxed, compute_phase_stats,
                    phase_bootstrap_ci, phase_metrics, phase_summary, protocol_name)
from .phase_relax import relax_diff, transition_accepts, window_frames
from .ranking import average_precision, one_hot, single_label_metrics, top1_accuracy
from .stats import (bootstrap_ci, natural_key, natural_sorted, nanmean, paired_wilcoxon,
                    sample_std)
from .triplet import (CHOLECT50_NULL_CLASSES, COMPONENTS, component_classes,
                      component_projection, load_triplet_map, triplet_metrics)

__all__ = [
    'CVS_CRITERIA', 'cvs_consensus', 'cvs_criteria_met', 'cvs_metrics', 'PROTOCOLS',
    'RELAXATIONS', 'TRANSITION_RULES', 'PhaseVideoStats', 'aggregate_relaxed',
    'aggregate_unrelaxed', 'compute_phase_stats', 'phase_bootstrap_ci', 'phase_metrics',
    'phase_summary', 'protocol_name', 'relax_diff', 'transition_accepts', 'window_frames',
    'average_precision', 'one_hot', 'single_label_metrics', 'top1_accuracy', 'bootstrap_ci',
    'natural_key', 'natural_sorted', 'nanmean', 'paired_wilcoxon', 'sample_std',
    'CHOLECT50_NULL_CLASSES', 'COMPONENTS', 'component_classes', 'component_projection',
    'load_triplet_map', 'triplet_metrics'
]
