"""Decode every 1-fps frame of a manifest's videos once, in parallel, and report bad media.

Used by ``tools/data/check_media.py MANIFEST...`` and ``tools/build_manifest.py --verify``, so
unreadable or mis-sized media are found before a training run rather than when a sample is drawn.

Per video:

* frame folder: each file ``filename_tmpl.format(k + offset)`` must exist, be non-empty, end with
  a JPEG end-of-image marker (``.jpg``/``.jpeg``: a truncated file otherwise decodes silently
  with grey rows), decode as a colour image, and have the size of the video's most common frame
  size (and at least ``min_size`` pixels on its short side, when given);
* video file: it must open with decord, hold at least the manifest's ``num_frames`` 1-fps frames,
  and each 1-fps frame (native frame ``round(k * fps)``) must decode; a frame rate that does not
  fit the frames' timestamps (variable frame rate, a wrong header) is a warning naming the video
  (``media.header_fps_warning``).

JPEG frames are decoded strictly (``transforms.jpeg.decode_image``): data libjpeg only warns
about ("Corrupt JPEG data") is a problem.
"""
from __future__ import annotations

import os.path as osp
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import cv2
from tqdm import tqdm

from .manifest import VideoEntry, load_manifest, native_index, num_frames_at_1fps
from .media import first_bad_frame, header_fps_warning
from .transforms.jpeg import decode_image

_CHUNK = 64  # frames per task


@dataclass
class MediaProblem:
    """One bad file: ``frame`` is the 1-fps index (None: the whole file)."""

    video_id: str
    path: str
    frame: Optional[int]
    problem: str

    def __str__(self) -> str:
        where = f'frame {self.frame}' if self.frame is not None else 'file'
        return f'{self.video_id} {where}: {self.problem}: {self.path}'


@dataclass
class MediaReport:
    """Result of :func:`check_media`: counts and the problems found (sorted)."""

    videos: int = 0
    frames: int = 0
    problems: List[MediaProblem] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (f'checked {self.videos} videos, {self.frames} 1-fps frames: '
                f'{len(self.problems)} problem(s)')
        return '\n'.join([head] + [f'  {p}' for p in self.problems]
                         + [f'warning: {w}' for w in self.warnings])


def _check_frames(entry: VideoEntry, frames: Sequence[int], min_size: Optional[int]
                  ) -> Tuple[List[MediaProblem], List[Tuple[int, Tuple[int, int]]]]:
    problems, sizes = [], []
    for k in frames:
        path = osp.join(entry.frame_dir, entry.filename_tmpl.format(k + entry.offset))
        if not osp.isfile(path):
            problems.append(MediaProblem(entry.video_id, path, k, 'missing'))
            continue
        with open(path, 'rb') as f:
            data = f.read()
        if not data:
            problems.append(MediaProblem(entry.video_id, path, k, 'empty file (0 bytes)'))
            continue
        if path.lower().endswith(('.jpg', '.jpeg')) and b'\xff\xd9' not in data[-64:]:
            problems.append(MediaProblem(entry.video_id, path, k,
                                         'truncated JPEG (no end-of-image marker)'))
            continue
        try:  # libjpeg's "Corrupt JPEG data" warnings are errors here
            img = decode_image(data)
        except (ValueError, cv2.error) as exc:
            detail = (str(exc).strip().splitlines() or ['not an image'])[-1]
            problems.append(MediaProblem(entry.video_id, path, k, f'cannot decode ({detail})'))
            continue
        h, w = img.shape[:2]
        if min_size is not None and min(h, w) < min_size:
            problems.append(MediaProblem(entry.video_id, path, k,
                                         f'{w}x{h} is smaller than min_size={min_size}'))
        sizes.append((k, (h, w)))
    return problems, sizes


def _check_video(entry: VideoEntry, min_size: Optional[int],
                 warnings: List[str]) -> List[MediaProblem]:
    import decord
    path, vid = entry.video, entry.video_id
    if not osp.isfile(path):
        return [MediaProblem(vid, path, None, 'missing')]
    try:
        reader = decord.VideoReader(path, num_threads=1)
        fps = entry.fps or float(reader.get_avg_fps())
        length = len(reader)
    except Exception as exc:  # decord raises its own error types
        return [MediaProblem(vid, path, None, f'cannot open ({type(exc).__name__}: '
                                              f'{str(exc).strip().splitlines()[-1]})')]
    problems = []
    warning = header_fps_warning(reader, fps, vid, path)
    if warning:
        warnings.append(warning)
    available = num_frames_at_1fps(length, fps)
    if available < entry.num_frames:
        problems.append(MediaProblem(vid, path, available,
                                     f'the manifest says {entry.num_frames} 1-fps frames, the '
                                     f'file has {available} ({length} frames at {fps:g} fps)'))
    wanted = list(range(min(entry.num_frames, available)))
    for start in range(0, len(wanted), _CHUNK):
        ks = wanted[start:start + _CHUNK]
        native = [native_index(k, fps) for k in ks]
        try:
            batch = reader.get_batch(native).asnumpy()
        except Exception:
            j = first_bad_frame(lambda i: reader.get_batch([native[i]]).asnumpy(),
                                range(len(native)))
            problems.append(MediaProblem(vid, path, ks[j] if j is not None else ks[0],
                                         'cannot decode'))
            continue
        h, w = batch.shape[1:3]
        if min_size is not None and min(h, w) < min_size:
            problems.append(MediaProblem(vid, path, None,
                                         f'{w}x{h} is smaller than min_size={min_size}'))
            break
    return problems


def check_media(entries: Sequence[VideoEntry], workers: int = 8, min_size: Optional[int] = None,
                progress: bool = True) -> MediaReport:
    """Decode every 1-fps frame of ``entries`` once (``workers`` threads; OpenCV and decord
    release the GIL) and collect the problems.

    Args:
        entries: videos (``load_manifest``).
        workers: decoding threads.
        min_size: smallest allowed short side in pixels (None: no check).
        progress: show a tqdm bar (frames).
    """
    report = MediaReport(videos=len(entries), frames=sum(e.num_frames for e in entries))
    tasks = []
    for e in entries:
        if e.frame_dir is not None:
            tasks += [(e, list(range(s, min(s + _CHUNK, e.num_frames))))
                      for s in range(0, e.num_frames, _CHUNK)]
        else:
            tasks.append((e, None))
    sizes: dict = {}

    def run(task):  # noqa: ANN001, ANN202
        entry, frames = task
        if frames is None:
            return entry, _check_video(entry, min_size, report.warnings), [], entry.num_frames
        problems, got = _check_frames(entry, frames, min_size)
        return entry, problems, got, len(frames)

    with ThreadPoolExecutor(max_workers=max(int(workers), 1)) as pool, \
            tqdm(total=report.frames, desc='checking media', unit='frame',
                 disable=not progress) as bar:
        for entry, problems, got, n in pool.map(run, tasks):
            report.problems += problems
            sizes.setdefault(entry.video_id, (entry, []))[1].extend(got)
            bar.update(n)
    for vid, (entry, got) in sizes.items():
        if not got:
            continue
        common = Counter(s for _, s in got).most_common(1)[0][0]
        for k, size in got:
            if size != common:
                path = osp.join(entry.frame_dir, entry.filename_tmpl.format(k + entry.offset))
                report.problems.append(MediaProblem(
                    vid, path, k, f'{size[1]}x{size[0]} differs from the video\'s '
                                  f'{common[1]}x{common[0]}'))
    report.problems.sort(key=lambda p: (p.video_id, -1 if p.frame is None else p.frame, p.path))
    report.warnings.sort()
    return report


def check_manifests(paths: Sequence[str], workers: int = 8, min_size: Optional[int] = None,
                    progress: bool = True, data_root: Optional[str] = None) -> MediaReport:
    """:func:`check_media` over the videos of one or more manifests."""
    entries: List[VideoEntry] = []
    for path in paths:
        entries += load_manifest(path, data_root=data_root)
    return check_media(entries, workers=workers, min_size=min_size, progress=progress)
