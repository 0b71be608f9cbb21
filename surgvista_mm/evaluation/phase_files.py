"""Reading the community per-video phase files (metrics-spec §1b).

One text file per video, a header line (``Frame\\tPhase``), then ``<frame index>\\t<phase>`` lines;
ground truth and predictions live in two folders under the same file names. Phases are 0-based ids,
or names when a class list is given. Every error names the file and the line.
"""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .functional.stats import natural_key

__all__ = ['PhaseFileError', 'read_class_names', 'read_phase_file', 'list_phase_files',
           'load_phase_dirs', 'SHIPPED_CLASS_LISTS', 'resolve_class_names',
           'subsample_ground_truth']


class PhaseFileError(ValueError):
    """A phase file is missing, malformed or inconsistent with its counterpart."""


def _read_text(path: str) -> str:
    """UTF-8 text, a BOM removed (as the training readers); not UTF-8: PhaseFileError."""
    from surgvista_mm.utils.io import read_text
    try:
        return read_text(path)
    except ValueError as e:
        raise PhaseFileError(str(e)) from e


def read_class_names(path: str) -> List[str]:
    """Read phase names, one per line (blank lines ignored); the line order gives the ids."""
    names = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise PhaseFileError(f'{path}: duplicated class names')
    if not names:
        raise PhaseFileError(f'{path}: no class names')
    return names


def read_phase_file(path: str,
                    class_names: Optional[Sequence[str]] = None,
                    num_classes: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Read one per-video phase file.

    Args:
        path: File path.
        class_names: Phase names (labels in the file are names); default: labels are 0-based ids.
        num_classes: Number of phases, to reject ids >= K (default: only negative ids rejected).

    Returns:
        ``(frames, labels)``: frame indices and phase ids, both int64 ``[N]``.
    """
    name_to_id: Optional[Dict[str, int]] = None
    if class_names is not None:
        name_to_id = {name: i for i, name in enumerate(class_names)}
        num_classes = len(class_names)
    frames: List[int] = []
    labels: List[int] = []
    lines = _read_text(path).splitlines()
    if not lines:
        raise PhaseFileError(f'{path}:1: empty file (expected a header line such as '
                             '"Frame\\tPhase")')
    first = lines[0].split()
    if first and first[0].lstrip('-').isdigit():
        raise PhaseFileError(f'{path}:1: missing header line (expected "Frame\\tPhase", got '
                             f'{lines[0]!r})')
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split('\t') if '\t' in line else line.split()
        fields = [x.strip() for x in fields]
        if not any(fields):
            continue
        if len(fields) != 2:
            raise PhaseFileError(f'{path}:{lineno}: expected "<frame>\\t<phase>", got {line!r}')
        frame_str, label_str = fields
        try:
            frame = int(frame_str)
        except ValueError:
            raise PhaseFileError(f'{path}:{lineno}: frame index {frame_str!r} is not an '
                                 'integer') from None
        if name_to_id is not None and label_str not in name_to_id and label_str.isdigit() \
                and int(label_str) < len(name_to_id):
            label = int(label_str)  # a 0-based id (the class list then names the phases)
        elif name_to_id is not None:
            if label_str not in name_to_id:
                raise PhaseFileError(f'{path}:{lineno}: unknown phase {label_str!r} (not in the '
                                     'class list)')
            label = name_to_id[label_str]
        else:
            try:
                label = int(label_str)
            except ValueError:
                raise PhaseFileError(f'{path}:{lineno}: unknown phase {label_str!r} (expected a '
                                     '0-based id; give --classes to read names)') from None
            if label < 0 or (num_classes is not None and label >= num_classes):
                bound = '' if num_classes is None else f' (ids are 0..{num_classes - 1})'
                raise PhaseFileError(f'{path}:{lineno}: unknown phase id {label}{bound}')
        if frames and frame <= frames[-1]:
            raise PhaseFileError(f'{path}:{lineno}: frame index {frame} does not increase '
                                 f'(previous {frames[-1]})')
        frames.append(frame)
        labels.append(label)
    if not frames:
        raise PhaseFileError(f'{path}: no frames after the header')
    return np.asarray(frames, np.int64), np.asarray(labels, np.int64)


def list_phase_files(folder: str) -> List[str]:
    """File names (``.txt``, not hidden) in ``folder``, in natural order."""
    if not os.path.isdir(folder):
        raise PhaseFileError(f'{folder}: not a directory')
    names = [n for n in os.listdir(folder)
             if n.endswith('.txt') and not n.startswith('.')
             and os.path.isfile(os.path.join(folder, n))]
    if not names:
        raise PhaseFileError(f'{folder}: no .txt phase files')
    return sorted(names, key=natural_key)


def load_phase_dirs(gt_dir: str, pred_dir: str,
                    class_names: Optional[Sequence[str]] = None,
                    num_classes: Optional[int] = None, gt_fps: Optional[float] = None
                    ) -> Tuple[List[str], List[np.ndarray], List[np.ndarray]]:
    """Read matching ground-truth and prediction folders.

    Args:
        gt_dir: Folder of ground-truth files.
        pred_dir: Folder of prediction files with the same names.
        class_names: Optional phase names (see :func:`read_phase_file`).
        num_classes: Optional number of phases, to reject out-of-range ids.
        gt_fps: rows per second of the ground-truth files when they are at the native rate
            (e.g. 25 for Cholec80's official files) and the predictions at 1 fps: prediction
            frame ``k`` is scored against ground-truth row ``round(k * gt_fps)``
            (:func:`subsample_ground_truth`). None: both list the same frames.

    Returns:
        ``(videos, gts, preds)``: file stems in natural order and per-video label arrays.

    Raises:
        PhaseFileError: for missing or extra files, frame indices that differ between the two
            files of a video, malformed lines and unknown labels.
    """
    gt_names, pred_names = list_phase_files(gt_dir), list_phase_files(pred_dir)
    missing = [n for n in gt_names if n not in set(pred_names)]
    extra = [n for n in pred_names if n not in set(gt_names)]
    if missing:
        raise PhaseFileError('missing prediction files: '
                             + ', '.join(os.path.join(pred_dir, n) for n in missing))
    if extra:
        raise PhaseFileError('prediction files without ground truth: '
                             + ', '.join(os.path.join(pred_dir, n) for n in extra))
    videos, gts, preds = [], [], []
    for name in gt_names:
        gt_path, pred_path = os.path.join(gt_dir, name), os.path.join(pred_dir, name)
        gt_frames, gt = read_phase_file(gt_path, class_names, num_classes)
        pred_frames, pred = read_phase_file(pred_path, class_names, num_classes)
        if gt_fps is not None:
            gt_frames, gt = subsample_ground_truth(gt_frames, gt, gt_fps, pred_frames, gt_path)
        n = min(gt_frames.size, pred_frames.size)
        bad = np.flatnonzero(gt_frames[:n] != pred_frames[:n])
        if bad.size:
            i = int(bad[0])
            raise PhaseFileError(
                f'{pred_path}:{i + 2}: frame index {pred_frames[i]} but {gt_path}:{i + 2} has '
                f'{gt_frames[i]} (ground truth and prediction must list the same frames, e.g. '
                'both at 1 fps)')
        if gt_frames.size != pred_frames.size:
            if gt_frames.size > pred_frames.size:
                longer, shorter, frames = gt_path, pred_path, gt_frames
            else:
                longer, shorter, frames = pred_path, gt_path, pred_frames
            raise PhaseFileError(
                f'{longer}:{n + 2}: frame {frames[n]} has no counterpart in {shorter} '
                f'({gt_frames.size} ground-truth frames, {pred_frames.size} predicted)')
        videos.append(os.path.splitext(name)[0])
        gts.append(gt)
        preds.append(pred)
    return videos, gts, preds


#: Benchmarks whose phase-name lists ship with the package (``evaluation/data/classes/``).
SHIPPED_CLASS_LISTS = ('autolaparo', 'cataract101', 'cataract21', 'cataracts', 'cholec80',
                       'm2cai16', 'pmlr50')


def resolve_class_names(name_or_file: str) -> List[str]:
    """Phase names of a shipped benchmark (``'cholec80'``, ``'m2cai16'``, ...; see
    :data:`SHIPPED_CLASS_LISTS`) or of a text file (one name per line).

    Raises:
        PhaseFileError: neither a shipped list nor a readable file.
    """
    key = name_or_file.strip().lower()
    if key in SHIPPED_CLASS_LISTS:
        return read_class_names(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data',
                                             'classes', f'{key}.txt'))
    if not os.path.isfile(name_or_file):
        raise PhaseFileError(f'--classes {name_or_file!r}: not a shipped class list '
                             f'({", ".join(SHIPPED_CLASS_LISTS)}) nor a file')
    return read_class_names(name_or_file)


def subsample_ground_truth(frames: np.ndarray, labels: np.ndarray, gt_fps: float,
                           pred_frames: np.ndarray, path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Ground truth at ``gt_fps`` rows per second -> the 1-fps frames ``pred_frames``.

    1-fps frame ``k`` takes the row whose frame number is ``round(k * gt_fps)`` (half up: the
    rule of the datasets, ``manifest.native_index``).

    Raises:
        PhaseFileError: a needed row is missing, naming the file, the frame and the row.
    """
    from surgvista_mm.datasets.manifest import native_index
    rows = {int(f): int(lab) for f, lab in zip(frames, labels)}
    out = []
    for k in pred_frames.tolist():
        row = native_index(int(k), gt_fps)
        if row not in rows:
            raise PhaseFileError(f'{path}: no row for frame {row} (1-fps frame {k} at '
                                 f'--gt-fps {gt_fps:g})')
        out.append(rows[row])
    return np.asarray(pred_frames, np.int64), np.asarray(out, np.int64)
