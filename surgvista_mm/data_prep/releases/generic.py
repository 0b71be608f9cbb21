"""The generic formats for private and new datasets (ESD57, Prostate21, ...): phase datasets with
any class list, triplet datasets with any number of classes, their own component map and null
classes. ``tools/data/prepare.py generic_phase|generic_triplet`` validates a folder in this
layout and writes what ``SurgicalPhaseDataset`` / ``SurgicalTripletDataset`` read.

Layout (ROOT)::

    classes.txt             phase only: one class name per line, in id order
    maps.txt                triplet only: one row per triplet "IVT,I,V,T,IV,IT" (ids 0..C-1 in
                            the first column; '#' comments), as CholecT50's label_mapping.txt
    null_classes.txt        triplet only, optional: null triplet ids dropped from AP_IVT
    videos/<id>.<ext>       the videos (any of frames.VIDEO_EXTS) ...
    frames/<id>/000000.jpg  ... or 1-fps frames (6 digits, 0-based, .jpg or .png)
    labels/<id>.csv         one row per 1-fps frame, 0-based, contiguous, with the header
                              phase:   "frame,phase"     phase = class name or id 0..C-1
                              triplet: "frame,triplets"  space-separated triplet ids, or empty
                            phase only, or segments (``segments.py``): "start_s,end_s,phase"
                            or "start_frame,end_frame,phase" (native frames; ``fps``), turned
                            into the 1-fps rows above (1-fps frame k = the phase at k s)
    splits/train.txt, val.txt, test.txt    video ids, one per line ('#' comments)
    splits/train_only.txt   optional: videos that must stay in training (e.g. Prostate21's
                            PSI-AVA videos); the configs exclude them from val / test

Output (OUT): ``manifests/<name>.json`` (name = OUT's folder name unless ``--name``),
``labels/``, ``classes.txt`` or ``maps.txt`` + ``null_classes.txt``, ``splits/``.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Tuple

from surgvista_mm.datasets.cholect50_dataset import read_generic_triplet_csv
from surgvista_mm.evaluation.functional.triplet import load_triplet_map, read_null_classes
from ..frames import VIDEO_EXTS
from .common import (Plan, ReleaseError, Video, VideoResolver, check_length, fail,
                              frame_folder, read_label_rows, read_lines)
from .segments import rows_csv, segment_kind, segments_to_rows

GENERIC_PHASE_EXPECTS = """\
generic_phase: ROOT = a folder in the generic phase layout (docs/data.md, "Generic formats")
  classes.txt, videos/<id>.<ext> or frames/<id>/NNNNNN.jpg, labels/<id>.csv ("frame,phase",
  one row per 1-fps frame; or segments "start_s,end_s,phase" / "start_frame,end_frame,phase"
  with --fps), splits/{train,val,test}.txt
  -> manifests/<name>.json, labels/, classes.txt, splits/ (name: --name, else OUT's name)"""

GENERIC_TRIPLET_EXPECTS = """\
generic_triplet: ROOT = a folder in the generic triplet layout (docs/data.md, "Generic formats")
  maps.txt (IVT,I,V,T,IV,IT), null_classes.txt (optional), videos/ or frames/,
  labels/<id>.csv ("frame,triplets"), splits/{train,val,test}.txt, splits/train_only.txt (opt.)
  -> manifests/<name>.json, labels/, maps.txt, null_classes.txt, splits/"""


def _videos(root: str, frames: Optional[str]) -> List[Video]:
    resolver = VideoResolver(frames)
    vdir, fdir = osp.join(root, 'videos'), osp.join(root, 'frames')
    out = []
    if osp.isdir(vdir):
        for n in sorted(os.listdir(vdir)):
            stem, ext = osp.splitext(n)
            if ext.lower() in VIDEO_EXTS:
                out.append(resolver.video(stem, osp.join(vdir, n)))
    elif osp.isdir(fdir):
        for vid in sorted(os.listdir(fdir)):
            folder = osp.join(fdir, vid)
            if not osp.isdir(folder):
                continue
            ext = 'png' if osp.isfile(osp.join(folder, '000000.png')) else 'jpg'
            out.append(frame_folder(vid, folder, '{:06d}.' + ext))
    else:
        raise ReleaseError(f'{root}: neither videos/ nor frames/ exists')
    if not out:
        raise ReleaseError(f'{root}: no video found in videos/ or frames/')
    ids = [v.video_id for v in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ReleaseError(f'{root}: video ids {dup} appear twice')
    return out


def _read_split(path: str, ids: set) -> List[Tuple[str, int]]:
    out = []
    for lineno, line in enumerate(read_lines(path), start=1):
        text = line.split('#', 1)[0].strip()
        if not text:
            continue
        if text not in ids:
            raise fail(path, lineno, f'video {text!r} is not in the release')
        out.append((text, lineno))
    return out


def _splits(root: str, plan: Plan, ids: List[str]) -> None:
    have = set(ids)
    sdir = osp.join(root, 'splits')
    found: Dict[str, List[Tuple[str, int]]] = {}
    for name in ('train', 'val', 'test', 'train_only'):
        path = osp.join(sdir, f'{name}.txt')
        if osp.isfile(path):
            found[name] = _read_split(path, have)
            plan.copy(path, f'splits/{name}.txt')
        elif name != 'train_only':
            raise ReleaseError(f'missing file: {path}')
    seen: Dict[str, str] = {}
    for name in ('train', 'val', 'test'):
        for vid, lineno in found[name]:
            if vid in seen:
                raise fail(osp.join(sdir, f'{name}.txt'), lineno,
                           f'video {vid!r} is also in the {seen[vid]} split')
            seen[vid] = name
    for vid, lineno in found.get('train_only', []):
        if seen.get(vid) in ('val', 'test'):
            raise fail(osp.join(sdir, 'train_only.txt'), lineno,
                       f'video {vid!r} must stay in training but is in the {seen[vid]} split')
    if not found.get('train_only'):
        plan.text('splits/train_only.txt', '# videos that may only be used for training\n')


def _manifest_name(out: Optional[str], name: Optional[str]) -> str:
    if name:
        return name
    if out:
        return osp.basename(osp.normpath(out))
    return 'dataset'


def _labelled_videos(root: str, frames: Optional[str], out: Optional[str],
                     name: Optional[str], plan: Plan,
                     check: Callable[[Video, str], Optional[str]]) -> None:
    """Every video of ``root`` with its ``labels/<id>.csv`` validated by ``check(video, path)``
    (which raises ReleaseError, and returns the file's converted text or None to copy it): the
    label files, the manifest and the splits go into ``plan``."""
    entries = []
    videos = _videos(root, frames)
    for v in videos:
        ann = osp.join(root, 'labels', f'{v.video_id}.csv')
        converted = check(v, ann)
        if converted is None:
            plan.copy(ann, f'labels/{v.video_id}.csv')
        else:
            plan.text(f'labels/{v.video_id}.csv', converted)
        entries.append(v.entry)
    source = _manifest_name(out, name)
    plan.manifest(f'manifests/{source}.json', source, entries)
    _splits(root, plan, [v.video_id for v in videos])


def convert_generic_phase(root: str, frames: Optional[str] = None, tolerance: int = 0,
                          out: Optional[str] = None, name: Optional[str] = None,
                          segment_fps: Optional[float] = None) -> Plan:
    """The generic phase layout (module doc); ``segment_fps``: native frame rate of
    ``start_frame,end_frame,phase`` label files (default: each video's own)."""
    classes_path = osp.join(root, 'classes.txt')
    classes = [c.strip() for c in read_lines(classes_path) if c.strip()]
    if len(set(classes)) != len(classes) or not classes:
        raise fail(classes_path, None, 'expected distinct class names, one per line')
    plan = Plan()

    converted = []

    def check(v: Video, ann: str) -> Optional[str]:
        if osp.isfile(ann) and segment_kind(ann):
            ids, last = segments_to_rows(ann, classes, segment_fps or v.fps)
            check_length(v, ann, last, len(ids), 1, tolerance)
            converted.append(v.video_id)
            return rows_csv(ids, classes)
        ids, last = read_label_rows(ann, ',', classes, header=('frame', 'phase'), int_base=0)
        check_length(v, ann, last, len(ids), 1, tolerance)
        return None

    plan.copy(classes_path, 'classes.txt')
    _labelled_videos(root, frames, out, name, plan, check)
    plan.notes.append(f'{len(classes)} classes: {classes}')
    if converted:
        plan.notes.append(f'{len(converted)} segment label files turned into 1-fps rows '
                          f'(1-fps frame k = the phase at k s): {converted}')
    return plan


def convert_generic_triplet(root: str, frames: Optional[str] = None, tolerance: int = 0,
                            out: Optional[str] = None, name: Optional[str] = None) -> Plan:
    maps_path = osp.join(root, 'maps.txt')
    if not osp.isfile(maps_path):
        raise ReleaseError(f'missing file: {maps_path}')
    try:
        mapping = load_triplet_map(maps_path)
    except ValueError as e:
        raise ReleaseError(str(e)) from e
    num = len(mapping)
    plan = Plan()
    null_path = osp.join(root, 'null_classes.txt')
    if osp.isfile(null_path):
        try:
            read_null_classes(null_path, num)
        except ValueError as e:
            raise ReleaseError(str(e)) from e
        plan.copy(null_path, 'null_classes.txt')
    else:
        plan.text('null_classes.txt', '# no null triplet classes\n')
        plan.notes.append('no null_classes.txt: AP_IVT keeps every triplet')

    def check(v: Video, ann: str) -> None:
        try:
            labels = read_generic_triplet_csv(ann, num)
        except (ValueError, FileNotFoundError) as e:
            raise ReleaseError(str(e)) from e
        check_length(v, ann, len(labels) + 1, len(labels), 1, tolerance)
        return None

    plan.copy(maps_path, 'maps.txt')
    _labelled_videos(root, frames, out, name, plan, check)
    comps = {c: int(mapping[:, i].max()) + 1 for i, c in ((1, 'instruments'), (2, 'verbs'),
                                                           (3, 'targets'))}
    plan.notes.append(f'{num} triplets; component ids: {comps}')
    return plan
