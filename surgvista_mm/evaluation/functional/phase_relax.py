"""The relaxed-boundary rule of the M2CAI16 / Cholec80 MATLAB evaluation (metrics-spec §1b).

Per frame ``diff = pred - gt``. For every connected ground-truth segment of phase k and
``t = min(window, len(segment))``:

* late transition: among the first t frames, a diff in the phase's *late* set is set to 0;
* early transition: a diff in the phase's *early* set among the last t frames is accepted.
  ``'corrected'`` sets those last frames to 0. ``'matlab'`` reproduces the script's indexing:
  MATLAB's ``cur(cur(end-t+1:end) == 1) = 0`` uses a logical mask of length t, which selects among
  the **first** t elements, so frame j < t of the segment is zeroed when frame ``len-t+j`` holds an
  accepted diff.

A frame whose updated diff is 0 counts as correct. The only deliberate difference from the script
is that labels are read whole, so any number of phases works (the script reads one character).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ['PROTOCOLS', 'RELAXATIONS', 'TRANSITION_RULES', 'protocol_name', 'transition_accepts',
           'window_frames', 'relax_diff', 'relaxed_video_scores']

RELAXATIONS = ('none', 'matlab', 'corrected')
TRANSITION_RULES = ('cholec80', 'm2cai16', 'generic')

#: Named protocols of the command-line tool: name -> (relaxation, transition rule).
PROTOCOLS: Dict[str, Tuple[str, str]] = {
    'cholec80-matlab': ('matlab', 'cholec80'),
    'm2cai16-matlab': ('matlab', 'm2cai16'),
    'cholec80-corrected': ('corrected', 'cholec80'),
    'generic-matlab': ('matlab', 'generic'),
    'unrelaxed': ('none', 'generic'),
}

# (late accepted diffs, early accepted diffs) of the general rule and the two special groups.
_GENERAL = ((-1,), (1,))
_JUMP_AHEAD = ((-1,), (1, 2))  # Cholec80 phases 4, 5 (1-based): packaging may precede dissection
_JUMP_BOTH = ((-1, -2), (1, 2))  # Cholec80 phases 6, 7: cleaning and coagulation interleave
# 0-based phase ids of the special groups, and the number of phases each rule is defined for.
_SPECIAL = {'cholec80': (7, {3: _JUMP_AHEAD, 4: _JUMP_AHEAD, 5: _JUMP_BOTH, 6: _JUMP_BOTH}),
            'm2cai16': (8, {4: _JUMP_AHEAD, 5: _JUMP_AHEAD, 6: _JUMP_BOTH, 7: _JUMP_BOTH})}


def protocol_name(relaxation: str, rule: str) -> str:
    """Name of a protocol, e.g. ``'cholec80-matlab'``; ``'unrelaxed'`` without relaxation."""
    if relaxation not in RELAXATIONS:
        raise ValueError(f'relaxation must be one of {RELAXATIONS}, got {relaxation!r}')
    if relaxation == 'none':
        return 'unrelaxed'
    if rule not in TRANSITION_RULES:
        raise ValueError(f'transition rule must be one of {TRANSITION_RULES}, got {rule!r}')
    return f'{rule}-{relaxation}'


def transition_accepts(rule: str, num_classes: int) -> List[Tuple[Tuple[int, ...],
                                                                  Tuple[int, ...]]]:
    """Accepted (late, early) diffs of every phase under a transition rule.

    Args:
        rule: ``'cholec80'`` (7 phases), ``'m2cai16'`` (8 phases) or ``'generic'`` (any K: the
            general rule for every phase).
        num_classes: Number of phases K.

    Returns:
        A list of K ``(late, early)`` tuples of accepted ``pred - gt`` values.
    """
    if rule not in TRANSITION_RULES:
        raise ValueError(f'transition rule must be one of {TRANSITION_RULES}, got {rule!r}')
    accepts = [_GENERAL] * num_classes
    if rule in _SPECIAL:
        expected, special = _SPECIAL[rule]
        if num_classes != expected:
            raise ValueError(f'the {rule} transition rule is defined for {expected} phases, got '
                             f'{num_classes}; use rule="generic" for other datasets')
        for phase, acc in special.items():
            accepts[phase] = acc
    return accepts


def window_frames(fps: Optional[float], seconds: float = 10.0) -> int:
    """Relaxation window in frames, ``seconds * fps`` (fps of the evaluated sequence)."""
    if fps is None:
        raise ValueError('relaxed protocols need the fps of the evaluated sequences')
    if fps <= 0 or seconds <= 0:
        raise ValueError(f'fps and seconds must be positive, got fps={fps}, seconds={seconds}')
    window = seconds * fps
    rounded = int(round(window))
    if abs(window - rounded) > 1e-6 or rounded < 1:
        raise ValueError(f'the relaxation window seconds * fps = {window} is not a whole number '
                         'of frames')
    return rounded


def relax_diff(gt: np.ndarray, pred: np.ndarray, window: int,
               accepts: Sequence[Tuple[Tuple[int, ...], Tuple[int, ...]]],
               relaxation: str = 'matlab') -> np.ndarray:
    """Per-frame ``pred - gt`` after the boundary relaxation (0 = counted as correct).

    Args:
        gt: Ground-truth phase ids ``[N]`` (int).
        pred: Predicted phase ids ``[N]`` (int).
        window: Window T in frames.
        accepts: Output of :func:`transition_accepts`.
        relaxation: ``'matlab'`` or ``'corrected'``.

    Returns:
        The updated diff ``[N]``.
    """
    if relaxation not in ('matlab', 'corrected'):
        raise ValueError(f"relax_diff needs relaxation 'matlab' or 'corrected', got {relaxation!r}")
    diff = pred.astype(np.int64) - gt.astype(np.int64)
    updated = diff.copy()
    bounds = np.flatnonzero(gt[1:] != gt[:-1]) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [gt.size]))
    for start, end in zip(starts.tolist(), ends.tolist()):
        late, early = accepts[gt[start]]
        cur = updated[start:end]  # a view: edits land in ``updated``
        t = min(window, end - start)
        head = cur[:t]
        head[np.isin(head, late)] = 0
        early_mask = np.isin(cur[end - start - t:], early)
        if relaxation == 'matlab':
            cur[:t][early_mask] = 0
        else:
            cur[end - start - t:][early_mask] = 0
    return updated


def relaxed_video_scores(gt: np.ndarray, pred: np.ndarray, num_classes: int, window: int,
                         accepts: Sequence[Tuple[Tuple[int, ...], Tuple[int, ...]]],
                         relaxation: str) -> Dict[str, np.ndarray]:
    """The script's per-video Jaccard, precision, recall (per phase) and accuracy, in percent.

    For phase k with U = frames where gt = k or pred = k and TP = frames of U whose updated diff
    is 0: J = TP/|U|, P = TP/#(pred = k), R = TP/#(gt = k). Phases absent from the ground truth
    give NaN; P is +Inf (TP > 0, never predicted) or NaN (0/0) as in the script; nothing is
    clipped here.

    Returns:
        ``{'jaccard': [K], 'precision': [K], 'recall': [K], 'accuracy': float}``.
    """
    k = num_classes
    ok = relax_diff(gt, pred, window, accepts, relaxation) == 0
    gt_count = np.bincount(gt, minlength=k).astype(np.float64)
    pred_count = np.bincount(pred, minlength=k).astype(np.float64)
    both = np.bincount(gt[gt == pred], minlength=k)
    # A relaxed frame counts for its ground-truth phase and, if different, its predicted phase.
    tp = (np.bincount(gt[ok], minlength=k)
          + np.bincount(pred[ok & (gt != pred)], minlength=k)).astype(np.float64)
    union = gt_count + pred_count - both
    with np.errstate(divide='ignore', invalid='ignore'):
        jac = 100.0 * tp / union
        prec = 100.0 * tp / pred_count
        rec = 100.0 * tp / gt_count
    absent = gt_count == 0
    for arr in (jac, prec, rec):
        arr[absent] = np.nan
    return {'jaccard': jac, 'precision': prec, 'recall': rec,
            'accuracy': 100.0 * ok.sum() / gt.size}
