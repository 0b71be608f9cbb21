"""Readers of the official phase annotation formats of CATARACTS, Cataract-101, Cataract-21 and
PmLR50 (dataset-formats.md §4-5), chosen by ``SurgicalPhaseDataset(label_format=...)``.

Every reader returns the class id of each 1-fps frame ``k`` (int64 ``[n]``), or ``-1`` for a
frame that has no label (only a prefix may be unlabelled: Cataract-101 frames before the first
annotation row). Annotations given per *native* video frame are sampled at native frame
``round(k * fps)`` (rounded half up, the manifest's rule), so the native frame rate must be known.
Malformed rows, unknown labels and a frame given twice with different labels raise
``ValueError`` naming ``file:line``; a missing row followed by later rows (a gap) raises naming
the row; a file that is not UTF-8 raises naming the file (a UTF-8 BOM is ignored).

Formats (``label_format`` -> reader):

- ``'cataracts'``: ``<video>.csv``, header ``Frame,Steps``, one row per native frame, ``Frame``
  1-based, ``Steps`` 0..18. The videos run at about 29.2 fps (non-integer, per video): the fps
  must come from the manifest entry (``fps``) or the video file, else an error.
- ``'cataract101'``: one ``annotations.csv`` for all videos, ``;``-separated, one header line,
  rows ``<video id>;<0-based start frame>;<phase 1..10>``; a phase runs until the next row of
  that video (or the video's end); frames before the first row are unlabelled (-1) and the
  dataset excludes them from the samples (they still serve as clip context). The video is
  the last integer of the manifest id (``case_269`` -> 269). fps: manifest / video file, else
  ``videos.csv`` beside ``annotations.csv`` (``id;frames;fps;...``, 25), else ``label_fps``.
- ``'cataract21'``: ``case_NN.csv``, no header, ``<frame>,<PhaseName>`` for every native frame
  (0-based, 25 fps) with the German phase names; ``Antibiotikum`` is merged into ``Tonisieren``
  (SurgVISTA's 11 classes) and ``not_initialized`` is an ordinary class (id 0), as in SurgVISTA.
  fps: manifest / video file, else ``label_fps`` (25).
- ``'pmlr50'``: ``phase_annotations/NN.txt``, one header line, then ``<frame> <phase>``
  (whitespace), one row per 1-fps frame, frame 0-based, phase 0..4.

The seeded Cataract-101 split (the dataset has no official one) is ``cataract101_split``
(50 / 10 / 41: the paper's 50 / 10 / 40 leaves one unnamed video out).
"""
from __future__ import annotations

import os
import os.path as osp
import re
from functools import lru_cache
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from surgvista_mm.utils.io import read_text
from .manifest import native_index, num_frames_at_1fps

__all__ = ['CATARACTS_STEPS', 'CATARACT101_PHASES', 'CATARACT21_PHASES', 'CATARACT21_ALIASES',
           'PMLR50_PHASES', 'LABEL_FORMATS', 'NATIVE_FRAME_FORMATS', 'DEFAULT_LABEL_FILES',
           'read_cataracts_csv', 'read_cataract101', 'read_cataract21_csv', 'read_pmlr50_txt',
           'read_phase_labels', 'seeded_split', 'cataract101_split']

CATARACTS_STEPS = ('Idle', 'Toric Marking', 'Implant Ejection', 'Incision', 'Viscodilatation',
                   'Capsulorhexis', 'Hydrodissection', 'Nucleus Breaking', 'Phacoemulsification',
                   'Vitrectomy', 'Irrigation/Aspiration', 'Preparing Implant',
                   'Manual Aspiration', 'Implantation', 'Positioning', 'OVD Aspiration',
                   'Suturing', 'Sealing Control', 'Wound Hydratation')
CATARACT101_PHASES = ('Incision', 'Viscous agent injection', 'Rhexis', 'Hydrodissection',
                      'Phacoemulsificiation', 'Irrigation and aspiration', 'Capsule polishing',
                      'Lens implant setting-up', 'Viscous agent removal',
                      'Tonifying and antibiotics')
CATARACT21_PHASES = ('not_initialized', 'Incision', 'Viscoelasticum', 'Rhexis', 'Hydrodissektion',
                     'Phako', 'Irrigation-Aspiration', 'Kapselpolishing', 'Linsenimplantation',
                     'Visco-Absaugung', 'Tonisieren')
#: Cataract-21 label -> the class it is merged into (SurgVISTA's 11 classes)
CATARACT21_ALIASES: Mapping[str, str] = {'Antibiotikum': 'Tonisieren'}
PMLR50_PHASES = ('Preparation stage', 'Knotting of the Foley catheter',
                 'Procedure of the liver resection', 'Release of the Foley catheter',
                 'Postprocessing stage')

_INT = re.compile(r'-?\d+')


def _fail(path: str, lineno: int, msg: str) -> ValueError:
    return ValueError(f'{path}:{lineno}: {msg}')


def _read_lines(path: str) -> List[str]:
    """The lines of a label file (UTF-8, a BOM removed; another encoding raises naming it)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'phase annotation file not found: {path}')
    return read_text(path).splitlines()


def add_row(rows: Dict[int, int], lines_of: Dict[int, int], frame: int, label: int, path: str,
            lineno: int, classes: Sequence[str]) -> None:
    """Record ``frame -> label`` from ``path:lineno``; a repeated frame with another label is an
    error naming both lines (an identical repeat is harmless)."""
    old = rows.get(frame)
    if old is not None and old != label:
        raise _fail(path, lineno, f'frame {frame} is labelled {classes[label]!r} here but '
                                  f'{classes[old]!r} on line {lines_of[frame]}: conflicting '
                                  'duplicate rows')
    rows[frame] = label
    lines_of.setdefault(frame, lineno)


def _to_int(text: str, path: str, lineno: int, what: str) -> int:
    text = text.strip()
    if not _INT.fullmatch(text):
        raise _fail(path, lineno, f'bad {what} {text!r} (expected an integer)')
    return int(text)


def _class_of_int(value: int, base: int, classes: Sequence[str], path: str,
                  lineno: int) -> int:
    label = value - base
    if not 0 <= label < len(classes):
        raise _fail(path, lineno, f'unknown phase {value} (expected {base}..'
                                  f'{base + len(classes) - 1})')
    return label


def sample_rows(rows: Dict[int, int], row_of_k: Callable[[int], int],
                num_frames: Optional[int], path: str, hint: str = '') -> np.ndarray:
    """Labels of 1-fps frames 0, 1, ... while ``row_of_k(k)`` is in ``rows``.

    The labels end at the first missing row when no later row exists (the file ends before the
    video: the dataset reports it) or when frame 0 has none; a missing row after labelled ones,
    with later rows, is a gap in the annotation and raises ``ValueError`` naming the file, the
    row and the 1-fps frame (``hint`` is appended, e.g. which rate the rows were sampled at).
    """
    labels: List[int] = []
    k = 0
    while num_frames is None or k < num_frames:
        row = row_of_k(k)
        if row not in rows:
            last = max(rows, default=row)
            if k > 0 and last > row:  # (none at all: the dataset says it labels no frame)
                raise ValueError(f'{path}: no label row for frame {row} (1-fps frame {k}, '
                                 f'{k} s), but the rows go on up to frame {last}: a gap in the '
                                 f'annotation{hint}')
            break
        labels.append(rows[row])
        k += 1
    return np.asarray(labels, dtype=np.int64)


def _require_rows(rows: Dict[int, int], path: str, lines: List[str]) -> None:
    if not rows:
        raise ValueError(f'{path}: the phase annotation file holds no label rows'
                         + ('' if any(line.strip() for line in lines) else ' (it is empty)'))


def _require_fps(fps: Optional[float], what: str, path: str) -> float:
    if fps is None or not fps > 0:
        raise ValueError(f'{path}: {what} labels are per native video frame, so the native frame '
                         f'rate is needed: give "fps" in the manifest entry (frame folders too) '
                         f'or a video file whose rate can be read')
    return float(fps)


# --------------------------------------------------------------------------- CATARACTS
def read_cataracts_csv(path: str, classes: Sequence[str] = CATARACTS_STEPS,
                       fps: Optional[float] = None,
                       num_frames: Optional[int] = None) -> np.ndarray:
    """CATARACTS step labels (header ``Frame,Steps``, recognised by content; 1-based native
    frames) at 1 fps.

    Args:
        path: the video's CSV.
        classes: the 19 step names (ids 0..18 are the ``Steps`` values).
        fps: the video's native frame rate (about 29.2, non-integer; required).
        num_frames: number of 1-fps frames wanted (None: as many as the file covers).

    Returns:
        int64 ``[n]``: 1-fps frame ``k`` has the step of CSV ``Frame`` ``round(k * fps) + 1``.
    """
    lines = _read_lines(path)
    fps = _require_fps(fps, 'CATARACTS', path)
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if numbered and not _INT.fullmatch(numbered[0][1].split(',')[0].strip()):
        # a header, recognised by content (a file without one loses no row)
        lineno, first = numbered.pop(0)
        if [c.strip().lower() for c in first.split(',')] != ['frame', 'steps']:
            raise _fail(path, lineno, f'expected the header "Frame,Steps", got {first!r}')
    rows: Dict[int, int] = {}
    lines_of: Dict[int, int] = {}
    for lineno, line in numbered:
        parts = line.split(',')
        if len(parts) != 2:
            raise _fail(path, lineno, f'expected "<frame>,<step>", got {line!r}')
        frame = _to_int(parts[0], path, lineno, 'frame number')
        add_row(rows, lines_of, frame, _class_of_int(_to_int(parts[1], path, lineno, 'step'), 0,
                                                     classes, path, lineno),
                path, lineno, classes)
    _require_rows(rows, path, lines)
    return sample_rows(rows, lambda k: native_index(k, fps) + 1, num_frames, path,
                       f' (rows sampled at {fps:g} fps, 1-based)')


# --------------------------------------------------------------------------- Cataract-101
@lru_cache(maxsize=8)
def _cataract101_rows(path: str, mtime: float,
                      num_classes: int) -> Dict[int, List[Tuple[int, int, int]]]:
    """``annotations.csv`` -> {video: [(start frame, class id, line number), ...]}."""
    lines = _read_lines(path)
    out: Dict[int, List[Tuple[int, int, int]]] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split(';')
        if lineno == 1 and not _INT.fullmatch(parts[0].strip()):
            continue  # the header line (its strings are not fixed)
        if len(parts) != 3:
            raise _fail(path, lineno, f'expected "<video>;<frame>;<phase>", got {line!r}')
        video = _to_int(parts[0], path, lineno, 'video id')
        start = _to_int(parts[1], path, lineno, 'frame number')
        phase = _to_int(parts[2], path, lineno, 'phase')
        if not 1 <= phase <= num_classes:
            raise _fail(path, lineno, f'unknown phase {phase} (expected 1..{num_classes})')
        runs = out.setdefault(video, [])
        if start < 0 or (runs and start <= runs[-1][0]):
            raise _fail(path, lineno, f'start frame {start} of video {video} does not follow '
                                      f'the previous row (rows must be sorted by frame)')
        runs.append((start, phase - 1, lineno))
    return out


@lru_cache(maxsize=8)
def _cataract101_videos(path: str, mtime: float) -> Dict[int, Tuple[int, float]]:
    """``videos.csv`` -> {video: (native frame count, fps)}."""
    out: Dict[int, Tuple[int, float]] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        parts = line.split(';')
        if not line.strip() or (lineno == 1 and not _INT.fullmatch(parts[0].strip())):
            continue
        if len(parts) < 3:
            raise _fail(path, lineno, f'expected "<video>;<frames>;<fps>;...", got {line!r}')
        try:
            fps = float(parts[2])
        except ValueError as e:
            raise _fail(path, lineno, f'bad fps {parts[2]!r}') from e
        out[_to_int(parts[0], path, lineno, 'video id')] = (
            _to_int(parts[1], path, lineno, 'frame count'), fps)
    return out


def _video_number(video_id: str) -> int:
    nums = re.findall(r'\d+', video_id)
    if not nums:
        raise ValueError(f'video id {video_id!r} holds no number to look up in the annotations')
    return int(nums[-1])


def read_cataract101(path: str, video_id: str,
                     classes: Sequence[str] = CATARACT101_PHASES,
                     fps: Optional[float] = None, num_frames: Optional[int] = None,
                     default_fps: Optional[float] = 25.0) -> np.ndarray:
    """Cataract-101 phases of one video from the shared ``annotations.csv``, at 1 fps.

    Args:
        path: ``annotations.csv``.
        video_id: manifest id; its last integer is the ``VideoID`` (``case_269`` -> 269).
        classes: the 10 phase names (phase ``i`` -> id ``i - 1``).
        fps: native frame rate from the manifest / video (None: ``videos.csv`` beside ``path``,
            else ``default_fps``).
        num_frames: number of 1-fps frames (None: ``videos.csv``'s length, else up to the last
            row's start).
        default_fps: rate used when neither ``fps`` nor ``videos.csv`` gives one (None: error).

    Returns:
        int64 ``[n]``; frames before the first row are -1 (unlabelled).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'phase annotation file not found: {path}')
    runs = _cataract101_rows(path, os.stat(path).st_mtime, len(classes))
    number = _video_number(video_id)
    if number not in runs:
        raise ValueError(f'{path}: no annotation rows for video {number} ({video_id!r})')
    meta_path = osp.join(osp.dirname(path), 'videos.csv')
    meta = (_cataract101_videos(meta_path, os.stat(meta_path).st_mtime).get(number)
            if osp.isfile(meta_path) else None)
    if fps is None:
        fps = meta[1] if meta is not None else default_fps
    fps = _require_fps(fps, 'Cataract-101', path)
    if meta is not None:
        end = num_frames_at_1fps(meta[0], fps)
        num_frames = end if num_frames is None else min(num_frames, end)
    rows = runs[number]
    if num_frames is None:
        num_frames = int(np.floor(rows[-1][0] / fps)) + 1  # up to the last row's start
    starts = np.asarray([r[0] for r in rows], dtype=np.int64)
    ids = np.asarray([r[1] for r in rows], dtype=np.int64)
    native = np.asarray([native_index(k, fps) for k in range(num_frames)], dtype=np.int64)
    pos = np.searchsorted(starts, native, side='right') - 1
    return np.where(pos >= 0, ids[np.maximum(pos, 0)], -1).astype(np.int64)


# --------------------------------------------------------------------------- Cataract-21
def read_cataract21_csv(path: str, classes: Sequence[str] = CATARACT21_PHASES,
                        fps: Optional[float] = 25.0, num_frames: Optional[int] = None,
                        aliases: Mapping[str, str] = CATARACT21_ALIASES) -> np.ndarray:
    """Cataract-21 phases (``<frame>,<PhaseName>``, every native frame, 0-based) at 1 fps.

    Args:
        path: ``case_NN.csv`` (no header; a first line whose frame is not a number is skipped).
        classes: class names in id order (default: SurgVISTA's 11, ``not_initialized`` = 0).
        fps: native frame rate (25 for the official videos).
        num_frames: number of 1-fps frames wanted (None: as many as the file covers).
        aliases: label -> class it is merged into (default: Antibiotikum -> Tonisieren).

    Returns:
        int64 ``[n]``: 1-fps frame ``k`` has the phase of frame ``round(k * fps)``.
    """
    lines = _read_lines(path)
    fps = _require_fps(fps, 'Cataract-21', path)
    index = {name: i for i, name in enumerate(classes)}
    for alias, target in aliases.items():
        if target in index:
            index.setdefault(alias, index[target])
    rows: Dict[int, int] = {}
    lines_of: Dict[int, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split(',', 1)
        if lineno == 1 and not _INT.fullmatch(parts[0].strip()):
            continue  # tolerate a header line
        if len(parts) != 2:
            raise _fail(path, lineno, f'expected "<frame>,<phase name>", got {line!r}')
        frame = _to_int(parts[0], path, lineno, 'frame number')
        name = parts[1].strip()
        if name not in index:
            raise _fail(path, lineno, f'unknown phase {name!r} (classes: {list(classes)}, '
                                      f'merged: {dict(aliases)})')
        add_row(rows, lines_of, frame, index[name], path, lineno, classes)
    _require_rows(rows, path, lines)
    return sample_rows(rows, lambda k: native_index(k, fps), num_frames, path,
                       f' (rows sampled at {fps:g} fps)')


# --------------------------------------------------------------------------- PmLR50
def read_pmlr50_txt(path: str, classes: Sequence[str] = PMLR50_PHASES,
                    num_frames: Optional[int] = None) -> np.ndarray:
    """PmLR50 phases (a header line, then ``<frame> <phase>``, one row per 1-fps frame; the
    header is recognised by content: a first line starting with a number is a row).

    Args:
        path: ``phase_annotations/NN.txt``.
        classes: the 5 phase names (phase ``i`` -> id ``i``).
        num_frames: number of 1-fps frames wanted (None: as many as the file covers).
    """
    lines = _read_lines(path)
    rows: Dict[int, int] = {}
    lines_of: Dict[int, int] = {}
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if numbered and not _INT.fullmatch(numbered[0][1].split()[0]):
        numbered = numbered[1:]  # the header line, recognised by content
    for lineno, line in numbered:
        parts = line.split()
        if len(parts) != 2:
            raise _fail(path, lineno, f'expected "<frame> <phase>", got {line!r}')
        frame = _to_int(parts[0], path, lineno, 'frame number')
        add_row(rows, lines_of, frame, _class_of_int(_to_int(parts[1], path, lineno, 'phase'),
                                                     0, classes, path, lineno),
                path, lineno, classes)
    _require_rows(rows, path, lines)
    return sample_rows(rows, lambda k: k, num_frames, path)


# --------------------------------------------------------------------------- dispatch
LABEL_FORMATS = ('cataracts', 'cataract101', 'cataract21', 'pmlr50')
#: formats labelled per native frame (they need the video's native fps)
NATIVE_FRAME_FORMATS = ('cataracts', 'cataract101', 'cataract21')
#: annotation file name of each format (``label_file_tmpl`` when the dataset gets None)
DEFAULT_LABEL_FILES = {'frame_phase': '{video_id}-phase.txt', 'cataracts': '{video_id}.csv',
                       'cataract101': 'annotations.csv', 'cataract21': '{video_id}.csv',
                       'pmlr50': '{num:02d}.txt'}


def read_phase_labels(label_format: str, path: str, classes: Sequence[str], video_id: str,
                      num_frames: Optional[int] = None, native_fps: Optional[float] = None,
                      label_fps: Optional[float] = 25.0) -> np.ndarray:
    """Per-1-fps-frame class ids (-1: unlabelled) of one video in one of ``LABEL_FORMATS``.

    Args:
        label_format: ``'cataracts'``, ``'cataract101'``, ``'cataract21'`` or ``'pmlr50'``.
        path: the annotation file.
        classes: class names in id order.
        video_id: the manifest id (Cataract-101 looks its number up in the shared file).
        num_frames: number of 1-fps frames of the video.
        native_fps: the video's native frame rate (manifest or file), None when unknown.
        label_fps: fallback rate for Cataract-101 / Cataract-21 when ``native_fps`` is None
            (not used by CATARACTS, whose rate is per video and non-integer).
    """
    if label_format == 'cataracts':
        return read_cataracts_csv(path, classes, native_fps, num_frames)
    if label_format == 'cataract101':
        return read_cataract101(path, video_id, classes, native_fps, num_frames,
                                default_fps=label_fps)
    if label_format == 'cataract21':
        return read_cataract21_csv(path, classes, native_fps or label_fps, num_frames)
    if label_format == 'pmlr50':
        return read_pmlr50_txt(path, classes, num_frames)
    raise ValueError(f'unknown label_format {label_format!r}; expected one of '
                     f'{("frame_phase",) + LABEL_FORMATS}')


# --------------------------------------------------------------------------- splits
def seeded_split(ids: Sequence[str], sizes: Sequence[int], seed: int = 0) -> List[List[str]]:
    """Split ``ids`` into consecutive parts of ``sizes`` after a seeded shuffle.

    The ids are first sorted (numerically by their last integer, then as strings) so the
    result depends only on the set of ids and the seed; the permutation is
    ``numpy.random.default_rng(seed).permutation``. Each part is returned sorted the same way.
    """
    def key(v: str) -> Tuple[int, str]:
        nums = re.findall(r'\d+', v)
        return (int(nums[-1]) if nums else -1, v)

    ordered = sorted((str(i) for i in ids), key=key)
    if len(set(ordered)) != len(ordered):
        raise ValueError('seeded_split: duplicate ids')
    if sum(sizes) != len(ordered) or any(s < 0 for s in sizes):
        raise ValueError(f'seeded_split: sizes {list(sizes)} do not add up to the '
                         f'{len(ordered)} ids')
    perm = np.random.default_rng(seed).permutation(len(ordered))
    parts, start = [], 0
    for size in sizes:
        parts.append(sorted((ordered[i] for i in perm[start:start + size]), key=key))
        start += size
    return parts


def cataract101_split(ids: Sequence[str], seed: int = 0) -> Tuple[List[str], List[str],
                                                                   List[str]]:
    """The project's Cataract-101 split (no official one): 50 train / 10 val / the other 41
    test videos, ``seeded_split(ids, (50, 10, 41), seed)`` over the 101 video ids.

    The paper reports 50/10/40, which leaves one of the 101 videos out without saying which; we
    keep every video and put the extra one in the test set.
    """
    if len(ids) != 101:
        raise ValueError(f'cataract101_split: expected the 101 Cataract-101 videos, got '
                         f'{len(ids)}')
    train, val, test = seeded_split(ids, (50, 10, len(ids) - 60), seed)
    return train, val, test
