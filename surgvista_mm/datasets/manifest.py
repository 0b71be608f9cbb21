"""Video manifests: which videos a data source holds, where their frames are, how many.

A manifest describes the videos of one source (one dataset, one web corpus...). It is a JSON
file (``*.json``) holding an object, or a JSON Lines file (``*.jsonl``) holding one video object
per line (no top-level defaults then)::

    {
      "format": "surgvista_mm.manifest/v1",      # optional
      "source": "cholec80",                       # optional, informative
      "data_root": "..",                          # optional, relative to this file's folder
      "filename_tmpl": "{:06d}.jpg",              # default for frame folders
      "offset": 0,                                # file of frame k: tmpl.format(k + offset)
      "videos": [
        {"video_id": "video01", "frame_dir": "frames/video01", "num_frames": 1733},
        {"video_id": "web0001", "video": "videos/web0001.mp4", "num_frames": 312, "fps": 25.0}
      ]
    }

Each video has a unique ``video_id``: a string that is safe as a file name (not empty, at most
200 characters, no ``/``, ``\\``, NUL or control characters, no leading ``.``, no ``..``; the
rule of ``surgvista_mm/utils/paths.py``, checked when manifests and id lists are read and
written), and exactly one of

- ``frame_dir``: a folder of 1-fps frames; 1-fps frame ``k`` (0-based) is the file
  ``filename_tmpl.format(k + offset)`` (``filename_tmpl``/``offset`` may be set per video, e.g.
  ``"img_{:05d}.jpg"`` with ``offset`` 1 for 1-based names); an optional ``fps`` there is the
  native frame rate of the video the frames came from (used by label readers of per-native-frame
  annotations, e.g. CATARACTS; not by the frame loader); an optional ``crop_box``
  ``[x0, y0, x1, y1]`` (pixels, exclusive end) is the box ``extract_frames.py --crop-margin``
  cut from each source frame (``online_phase.py --manifest`` cuts the same from the video);
- ``video``: a video file; 1-fps frame ``k`` is native frame ``round(k * fps)`` (rounded half up),
  i.e. the frame shown at ``k`` seconds; ``fps`` is the native frame rate (read from the file when
  absent).

``num_frames`` is the number of 1-fps frames (required). Paths are relative to the source's data
root: the ``data_root`` given in the dataset config, else the manifest's ``data_root`` (relative
to the manifest's folder), else the manifest's folder. ``tools/build_manifest.py`` writes
manifests from a folder tree.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

from mmengine.logging import print_log

from surgvista_mm.utils.io import atomic_write_bytes  # noqa: F401  (re-exported)
from surgvista_mm.utils.paths import check_id

MANIFEST_FORMAT = 'surgvista_mm.manifest/v1'
DEFAULT_FILENAME_TMPL = '{:06d}.jpg'
_VIDEO_KEYS = {'video_id', 'frame_dir', 'video', 'num_frames', 'fps', 'filename_tmpl', 'offset',
               'crop_box'}
_TOP_KEYS = {'format', 'source', 'data_root', 'filename_tmpl', 'offset', 'videos'}


@dataclass
class VideoEntry:
    """One video of a manifest, with absolute paths.

    Attributes:
        video_id: unique id within its source.
        num_frames: number of 1-fps frames.
        frame_dir: absolute frame folder, or None for a video file.
        video: absolute video file path, or None for a frame folder.
        fps: native frame rate of ``video`` (None: read from the file when opened); for a frame
            folder, that of the video it was extracted from (informative, may be None).
        filename_tmpl: frame file name template (frame folders).
        offset: file index of 1-fps frame 0 (frame folders).
        source: name of the source (manifest path when unnamed).
        crop_box: frame folders: ``(x0, y0, x1, y1)`` cut from the source video's frames at
            extraction (None: not cropped); informative for the loader.
    """

    video_id: str
    num_frames: int
    frame_dir: Optional[str] = None
    video: Optional[str] = None
    fps: Optional[float] = None
    filename_tmpl: str = DEFAULT_FILENAME_TMPL
    offset: int = 0
    source: str = ''
    crop_box: Optional[tuple] = None

    def to_results(self) -> dict:
        """Keys describing where the frames are, as used by ``SurgicalFrameLoader``."""
        return dict(video_id=self.video_id, total_frames=self.num_frames,
                    frame_dir=self.frame_dir, filename=self.video, native_fps=self.fps,
                    filename_tmpl=self.filename_tmpl, offset=self.offset, source=self.source)


def native_index(k: int, fps: float) -> int:
    """Native frame index of 1-fps frame ``k`` of a video at ``fps``: round half up of k*fps."""
    return int(math.floor(k * fps + 0.5))


def num_frames_at_1fps(native_frames: int, fps: float) -> int:
    """Number of 1-fps frames ``k`` whose native frame ``round(k * fps)`` exists.

    Args:
        native_frames: frame count of the video file.
        fps: its native frame rate (> 0).
    """
    if native_frames <= 0:
        return 0
    if not fps > 0:
        raise ValueError(f'fps must be positive, got {fps}')
    k = int((native_frames - 0.5) / fps) + 1
    while k > 0 and native_index(k - 1, fps) > native_frames - 1:
        k -= 1
    while native_index(k, fps) <= native_frames - 1:
        k += 1
    return k


def join_data_root(data_root: Optional[str], path):
    """``path`` under ``data_root`` when both are given and ``path`` is a relative string;
    otherwise ``path`` as is (None, absolute paths and lists of ids pass through)."""
    if path is None or data_root is None or not isinstance(path, str) or osp.isabs(path):
        return path
    return osp.join(data_root, path)


def read_id_list(ids: Union[None, str, Sequence[str]],
                 what: str = 'id list') -> Optional[List[str]]:
    """Normalise an id list given inline or as a text file (one id per line, ``#`` comments).

    Args:
        ids: None, a list of ids (ints are turned into strings) or a path to a text file.
        what: description used in error messages.

    Returns:
        list of string ids, or None when ``ids`` is None.

    Raises:
        UnsafeIdError: an id that is not a safe file name (``surgvista_mm/utils/paths.py``),
            naming the file and line.
    """
    if ids is None:
        return None
    if isinstance(ids, (str, os.PathLike)):
        path = os.fspath(ids)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what}: id list file not found: {path}')
        with open(path, encoding='utf-8-sig') as f:
            lines = [(n, line.split('#', 1)[0].strip()) for n, line in enumerate(f, start=1)]
        return [check_id(line, where=f'{what} {path}:{n}') for n, line in lines if line]
    if isinstance(ids, (list, tuple)):
        return [check_id(str(i), where=what) for i in ids]
    raise TypeError(f'{what}: expected None, a list of ids or a file path, got {type(ids)}')


def load_manifest(path: str, data_root: Optional[str] = None,
                  source: Optional[str] = None) -> List[VideoEntry]:
    """Read a manifest and resolve its paths.

    Args:
        path: ``.json`` or ``.jsonl`` manifest.
        data_root: folder the video paths are relative to (overrides the manifest's).
        source: name recorded in each entry (default: the manifest's ``source``, else its path).

    Returns:
        the videos, in file order.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'manifest not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            if path.endswith('.jsonl'):
                top: dict = dict(videos=[json.loads(line) for line in f if line.strip()])
            else:
                top = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'manifest {path} is not valid JSON: {e}') from e
    if not isinstance(top, dict) or not isinstance(top.get('videos'), list):
        raise ValueError(f'manifest {path}: expected an object with a "videos" list')
    unknown = set(top) - _TOP_KEYS
    if unknown:
        raise ValueError(f'manifest {path}: unknown top-level keys {sorted(unknown)}')
    base = osp.dirname(osp.abspath(path))
    if data_root is None:
        data_root = osp.join(base, top.get('data_root', '.'))
    data_root = osp.abspath(data_root)
    source = source or top.get('source') or path
    entries: List[VideoEntry] = []
    seen: Dict[str, int] = {}
    for i, v in enumerate(top['videos']):
        entries.append(_parse_video(v, i, top, data_root, source, path))
        vid = entries[-1].video_id
        if vid in seen:
            raise ValueError(f'manifest {path}: duplicate video_id {vid!r} (entries {seen[vid]} '
                             f'and {i})')
        seen[vid] = i
    return entries


def _parse_video(v: dict, i: int, top: dict, data_root: str, source: str,
                 path: str) -> VideoEntry:
    where = f'manifest {path}, video entry {i}'
    if not isinstance(v, dict):
        raise ValueError(f'{where}: expected an object, got {type(v).__name__}')
    unknown = set(v) - _VIDEO_KEYS
    if unknown:
        raise ValueError(f'{where}: unknown keys {sorted(unknown)}')
    for key in ('video_id', 'num_frames'):
        if key not in v:
            raise ValueError(f'{where}: missing key {key!r}')
    vid = check_id(str(v['video_id']), where=where)
    where = f'manifest {path}, video {vid!r}'
    if ('frame_dir' in v) == ('video' in v):
        raise ValueError(f'{where}: give exactly one of "frame_dir" and "video"')
    num = v['num_frames']
    if not isinstance(num, int) or num < 0:
        raise ValueError(f'{where}: num_frames must be a non-negative int, got {num!r}')
    fps = v.get('fps')
    if fps is not None and not (isinstance(fps, (int, float)) and fps > 0):
        raise ValueError(f'{where}: fps must be a positive number, got {fps!r}')
    tmpl = v.get('filename_tmpl', top.get('filename_tmpl', DEFAULT_FILENAME_TMPL))
    offset = v.get('offset', top.get('offset', 0))
    try:
        tmpl.format(offset)
    except (IndexError, ValueError, KeyError, AttributeError) as e:
        raise ValueError(f'{where}: bad filename_tmpl {tmpl!r}: {e}') from e
    box = v.get('crop_box')
    if box is not None and not (isinstance(box, (list, tuple)) and len(box) == 4 and all(
            isinstance(b, int) and b >= 0 for b in box) and box[0] < box[2] and box[1] < box[3]):
        raise ValueError(f'{where}: crop_box must be [x0, y0, x1, y1] (x0 < x1, y0 < y1), got '
                         f'{box!r}')
    if 'frame_dir' in v:
        return VideoEntry(vid, num, frame_dir=osp.join(data_root, v['frame_dir']),
                          fps=None if fps is None else float(fps),
                          filename_tmpl=tmpl, offset=int(offset), source=source,
                          crop_box=None if box is None else tuple(box))
    return VideoEntry(vid, num, video=osp.join(data_root, v['video']),
                      fps=None if fps is None else float(fps), source=source)


def select_entries(entries: List[VideoEntry], include: Optional[List[str]],
                   exclude: Optional[List[str]], min_frames: int,
                   manifest: str) -> List[VideoEntry]:
    """Apply include / exclude id lists and a minimum length to the videos of one manifest.

    Args:
        entries: the manifest's videos.
        include: keep only these ids (each must exist), or None for all.
        exclude: drop these ids (ids absent from the manifest are only logged), or None.
        min_frames: drop videos with fewer 1-fps frames (empty videos are always dropped).
        manifest: path used in error messages.

    Raises:
        ValueError: an id both included and excluded, or an included id not in the manifest.
    """
    ids = {e.video_id for e in entries}
    if include is not None:
        both = sorted(set(include) & set(exclude or ()))
        if both:
            raise ValueError(f'manifest {manifest}: video ids both included and excluded: '
                             f'{both}')
        missing = sorted(set(include) - ids)
        if missing:
            raise ValueError(f'manifest {manifest}: included video ids not in the manifest: '
                             f'{missing}')
        keep = set(include)
        entries = [e for e in entries if e.video_id in keep]
    if exclude is not None:
        absent = sorted(set(exclude) - ids)
        if absent:
            print_log(f'manifest {manifest}: {len(absent)} excluded ids are not in it '
                      f'(e.g. {absent[:3]})', logger='current')
        drop = set(exclude)
        entries = [e for e in entries if e.video_id not in drop]
    if not (isinstance(min_frames, int) and min_frames >= 0):
        raise ValueError(f'manifest {manifest}: min_frames must be a non-negative int, got '
                         f'{min_frames!r}')
    return [e for e in entries if e.num_frames >= max(min_frames, 1)]


def write_manifest(path: str, videos: List[dict], source: Optional[str] = None,
                   data_root: Optional[str] = None, filename_tmpl: Optional[str] = None,
                   offset: Optional[int] = None) -> None:
    """Write a manifest atomically (temporary file in the same folder, then rename).

    Args:
        path: output ``.json`` (object form) or ``.jsonl`` (one video per line; the top-level
            defaults are then written into every frame-folder video, and ``data_root`` is joined
            into every relative path; ``source`` is not stored).
        videos: video dicts with the keys described in the module docstring.
        source, data_root, filename_tmpl, offset: optional top-level fields.

    Raises:
        UnsafeIdError: a ``video_id`` that is not a safe file name (nothing is written).
    """
    for i, v in enumerate(videos):
        check_id(str(v.get('video_id', '')), where=f'manifest {path}, video entry {i}')
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    if path.endswith('.jsonl'):
        lines = []
        for v in videos:
            v = dict(v)
            # JSON Lines has no top level: fold data_root into each relative path, which the
            # reader resolves against the manifest's folder
            if data_root not in (None, '', '.'):
                for key in ('frame_dir', 'video'):
                    if key in v and not osp.isabs(v[key]):
                        v[key] = osp.join(data_root, v[key])
            if 'frame_dir' in v:
                if filename_tmpl is not None:
                    v.setdefault('filename_tmpl', filename_tmpl)
                if offset is not None:
                    v.setdefault('offset', offset)
            lines.append(json.dumps(v))
        text = '\n'.join(lines) + '\n'
    else:
        top: dict = dict(format=MANIFEST_FORMAT)
        for key, value in (('source', source), ('data_root', data_root),
                           ('filename_tmpl', filename_tmpl), ('offset', offset)):
            if value is not None:
                top[key] = value
        top['videos'] = videos
        text = json.dumps(top, indent=1) + '\n'
    atomic_write_bytes(path, text.encode('utf-8'))


