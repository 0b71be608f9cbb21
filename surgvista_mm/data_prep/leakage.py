"""Leakage guard: find benchmark test videos inside pre-training sources
(``tools/data/check_leakage.py``).

Three checks, every overlap reported:

- **id**: a pre-training source that is a copy of a benchmark (by its name, see
  ``benchmarks.infer_benchmark``) holds one of the benchmark's shipped test ids, or a
  pre-training and a test manifest of the same source name share an id;
- **file**: byte-identical video files (SHA-256, compared only between files of equal size) or
  frame folders (SHA-256 of their first, middle and last frame files and their length);
- **content**: near-duplicate frames. Frames are sampled every ``stride`` seconds (1-fps frame
  indices, decoded by ``SurgicalFrameLoader``), hashed with ``imagehash.phash`` (64-bit DCT hash,
  robust to re-encoding and resizing), and frames with almost no texture (grey standard
  deviation below ``min_std``: black, out-of-body or uniform frames that every video shares) are
  skipped. A pre-training video overlaps a test video when at least ``min_matches`` of its
  sampled frames are within Hamming distance ``max_distance`` of a test frame **at one common
  time offset** (+- ``offset_tolerance`` s), and they are at least ``min_fraction`` of its
  frames that have a sampled test frame at this offset: a trimmed copy keeps a constant offset
  and matches nearly all of them, chance look-alikes do not. Cost: one XOR + popcount per (pre-training frame, test frame) pair.
"""
from __future__ import annotations

import hashlib
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from surgvista_mm.datasets.manifest import VideoEntry, load_manifest, read_id_list
from .benchmarks import find_test_videos, infer_benchmark


@dataclass
class Overlap:
    """One pre-training video found in a test set.

    Attributes:
        kind: ``'id'``, ``'file'`` or ``'content'``.
        source, video_id: the pre-training source and video.
        test_source, test_video_id: the test video (``test_source`` = benchmark for shipped ids).
        frames: content matches ``(pretrain second, test second, Hamming distance)``.
    """

    kind: str
    source: str
    video_id: str
    test_source: str
    test_video_id: str
    frames: List[Tuple[int, int, int]] = field(default_factory=list)

    def describe(self) -> str:
        text = (f'OVERLAP [{self.kind}] pre-training {self.source}:{self.video_id} <-> test '
                f'{self.test_source}:{self.test_video_id}')
        if self.frames:
            pairs = ', '.join(f'{p}s->{t}s (d={d})' for p, t, d in self.frames[:12])
            more = f', ... ({len(self.frames)} in all)' if len(self.frames) > 12 else ''
            text += f'; {len(self.frames)} matched frames (pre-training -> test): {pairs}{more}'
        return text


# ------------------------------------------------------------------------------ hashing
def file_fingerprint(entry: VideoEntry) -> Optional[Tuple[int, str]]:
    """``(size, sha256)`` of a video file, or of a frame folder's first / middle / last frame
    files (size = number of frames); None when the files are missing."""
    h = hashlib.sha256()
    if entry.video is not None:
        if not osp.isfile(entry.video):
            return None
        with open(entry.video, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        return os.path.getsize(entry.video), h.hexdigest()
    n = entry.num_frames
    for k in sorted({0, n // 2, max(n - 1, 0)}):
        path = osp.join(entry.frame_dir, entry.filename_tmpl.format(k + entry.offset))
        if not osp.isfile(path):
            return None
        with open(path, 'rb') as f:
            h.update(f.read())
    return -n, h.hexdigest()


def _phash(img: np.ndarray) -> int:
    import imagehash
    from PIL import Image
    return int(str(imagehash.phash(Image.fromarray(img))), 16)


def frame_hashes(entry: VideoEntry, stride: int = 1, min_std: float = 8.0,
                 max_frames: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Perceptual hashes of the 1-fps frames ``0, stride, 2*stride, ...`` of a video.

    Args:
        entry: the video (frame folder or file).
        stride: seconds between sampled frames.
        min_std: frames whose grey standard deviation is below this are skipped.
        max_frames: at most this many samples, spread evenly (None: all).

    Returns:
        ``(seconds int64 [n], hashes uint64 [n])`` of the kept frames.
    """
    from surgvista_mm.datasets.transforms import SurgicalFrameLoader
    ks = np.arange(0, entry.num_frames, max(1, int(stride)), dtype=np.int64)
    if max_frames is not None and len(ks) > max_frames:
        ks = ks[np.linspace(0, len(ks) - 1, max_frames).round().astype(int)]
    loader = SurgicalFrameLoader()
    secs, hashes = [], []
    for start in range(0, len(ks), 32):
        chunk = ks[start:start + 32]
        imgs = loader(dict(entry.to_results(), frame_inds=chunk))['imgs']
        for k, img in zip(chunk.tolist(), imgs):
            if cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).std() < min_std:
                continue
            secs.append(k)
            hashes.append(_phash(img))
    return np.asarray(secs, dtype=np.int64), np.asarray(hashes, dtype=np.uint64)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, 'bitwise_count'):
        return np.bitwise_count(x)
    b = x.view(np.uint8).reshape(x.shape + (8,))
    return np.unpackbits(b, axis=-1).sum(-1)


def match_frames(p_secs: np.ndarray, p_hashes: np.ndarray, t_secs: np.ndarray,
                 t_hashes: np.ndarray, max_distance: int = 10, min_matches: int = 3,
                 offset_tolerance: int = 1,
                 min_fraction: float = 0.5) -> List[Tuple[int, int, int]]:
    """Content matches between two videos at one consistent time offset.

    Args:
        p_secs, p_hashes: sampled seconds and hashes of the pre-training video.
        t_secs, t_hashes: those of the test video.
        max_distance: largest Hamming distance of matching frames.
        min_matches: fewest matched frames that make an overlap.
        offset_tolerance: seconds a match may deviate from the common offset.
        min_fraction: fewest matched frames as a fraction of the pre-training frames that have
            a sampled test frame at that offset (a copy matches most of them; a few look-alikes
            of two long videos do not).

    Returns:
        ``(pre-training second, test second, distance)`` for each pre-training frame matched at
        the most common offset (+- ``offset_tolerance``), or ``[]`` when there is no overlap.
    """
    if len(p_hashes) == 0 or len(t_hashes) == 0:
        return []
    dist = _popcount(p_hashes[:, None] ^ t_hashes[None, :])
    pi, ti = np.nonzero(dist <= max_distance)
    if len(pi) < min_matches:
        return []
    offsets = t_secs[ti] - p_secs[pi]
    counts = Counter()
    for off in offsets.tolist():
        for o in range(off - offset_tolerance, off + offset_tolerance + 1):
            counts[o] += 1
    best = counts.most_common(1)[0][0]
    keep = np.abs(offsets - best) <= offset_tolerance
    frames: Dict[int, Tuple[int, int, int]] = {}
    for i, j in zip(pi[keep].tolist(), ti[keep].tolist()):
        d = int(dist[i, j])
        if i not in frames or d < frames[i][2]:
            frames[i] = (int(p_secs[i]), int(t_secs[j]), d)
    # pre-training frames that have a sampled test frame exactly at the offset
    comparable = int(np.count_nonzero(np.isin(p_secs + best, t_secs)))
    if len(frames) < max(min_matches, min_fraction * comparable):
        return []
    return [frames[i] for i in sorted(frames)]


# ------------------------------------------------------------------------------ the check
def load_test_videos(manifests: Sequence[str],
                     test_ids: Optional[Sequence[str]] = None) -> List[VideoEntry]:
    """Videos of the test manifests, restricted to ``test_ids`` when given (every id must be in
    one of the manifests)."""
    entries = [e for m in manifests for e in load_manifest(m)]
    if test_ids is not None:
        wanted = set(test_ids)
        missing = sorted(wanted - {e.video_id for e in entries})
        if missing:
            raise ValueError(f'test ids not in the test manifests {list(manifests)}: {missing}')
        entries = [e for e in entries if e.video_id in wanted]
    return entries


def pretrain_entries_from_config(path: str) -> List[VideoEntry]:
    """The selected videos of every source of a pre-training config
    (``train_dataloader.dataset.sources``, with its ``data_root``), source names set."""
    from surgvista_mm.datasets.pretrain_dataset import select_source
    from surgvista_mm.utils import load_config
    cfg = load_config(path)
    ds = cfg.train_dataloader.dataset
    out = []
    for src in ds.sources:
        src = dict(src)
        src.setdefault('name', osp.splitext(osp.basename(src['manifest']))[0])
        out += select_source(src, ds.get('data_root'))
    return out


def load_pretrain_videos(inputs: Sequence[str]) -> List[VideoEntry]:
    """Videos of pre-training manifests and / or configs (``.py``)."""
    out: List[VideoEntry] = []
    for path in inputs:
        if path.endswith('.py'):
            out += pretrain_entries_from_config(path)
        else:
            entries = load_manifest(path)
            for e in entries:
                if e.source == path:  # unnamed manifest: its file name
                    e.source = osp.splitext(osp.basename(path))[0]
            out += entries
    return out


def check_leakage(pretrain: Sequence[VideoEntry], test: Sequence[VideoEntry],
                  content: bool = True, files: bool = True, stride: int = 1,
                  test_stride: int = 1, max_distance: int = 10, min_matches: int = 3,
                  offset_tolerance: int = 1, min_fraction: float = 0.5, min_std: float = 8.0,
                  max_frames: Optional[int] = None, progress: bool = True) -> List[Overlap]:
    """Every overlap between pre-training videos and test videos (see the module docstring)."""
    overlaps: List[Overlap] = []
    # ids: shipped benchmark test lists, and test manifests of the same source name
    by_source: Dict[str, List[VideoEntry]] = {}
    for e in pretrain:
        by_source.setdefault(e.source, []).append(e)
    test_ids = {(infer_benchmark(t.source) or t.source, t.video_id) for t in test}
    for source, entries in by_source.items():
        bench = infer_benchmark(source)
        if bench is not None:
            for vid in find_test_videos([e.video_id for e in entries], bench):
                overlaps.append(Overlap('id', source, vid, bench, vid))
        key = bench or source
        for e in entries:
            if (key, e.video_id) in test_ids and not any(
                    o.kind == 'id' and o.source == source and o.video_id == e.video_id
                    for o in overlaps):
                overlaps.append(Overlap('id', source, e.video_id, key, e.video_id))
    if files:
        t_prints: Dict[Tuple[int, str], List[VideoEntry]] = {}
        t_sizes = {osp.getsize(t.video) for t in test if t.video and osp.isfile(t.video)}
        for t in test:
            fp = file_fingerprint(t)
            if fp is not None:
                t_prints.setdefault(fp, []).append(t)
        for e in pretrain:
            if e.video is not None and (not osp.isfile(e.video) or
                                        osp.getsize(e.video) not in t_sizes):
                continue  # no test file of that size: skip hashing it
            for t in t_prints.get(file_fingerprint(e), []):
                overlaps.append(Overlap('file', e.source, e.video_id, t.source, t.video_id))
    if content and test:
        t_hashes = [(t, *frame_hashes(t, test_stride, min_std)) for t in
                    tqdm(test, desc='hashing test videos', disable=not progress)]
        for e in tqdm(pretrain, desc='checking pre-training videos', disable=not progress):
            secs, hashes = frame_hashes(e, stride, min_std, max_frames)
            for t, ts, th in t_hashes:
                frames = match_frames(secs, hashes, ts, th, max_distance, min_matches,
                                      offset_tolerance, min_fraction)
                if frames:
                    overlaps.append(Overlap('content', e.source, e.video_id, t.source,
                                            t.video_id, frames))
    return overlaps


def parse_id_list(text: Optional[str]) -> Optional[List[str]]:
    """``--test-ids``: an id-list file or comma-separated ids."""
    if text is None:
        return None
    if osp.isfile(text):
        return read_id_list(text, '--test-ids')
    return [t.strip() for t in text.split(',') if t.strip()]


def summarize(overlaps: Iterable[Overlap]) -> str:
    """One line per overlap."""
    return '\n'.join(o.describe() for o in overlaps)
