"""Machinery shared by the release converters: a ``Plan`` of files to write, checked first and
written through a temporary folder, and readers that name ``file:line`` in their errors."""
from __future__ import annotations

import json
import logging
import os
import os.path as osp
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from surgvista_mm.datasets.manifest import MANIFEST_FORMAT, load_manifest, num_frames_at_1fps
from surgvista_mm.datasets.media import header_fps_warning
from surgvista_mm.utils.io import default_dir_mode
from surgvista_mm.utils.paths import UnsafePathError, id_problem, safe_child

_INT = re.compile(r'-?\d+')


class ReleaseError(ValueError):
    """A release that does not match the expected layout (the message names file and line)."""


def fail(path: str, lineno: Optional[int], msg: str) -> ReleaseError:
    return ReleaseError(f'{path}:{lineno}: {msg}' if lineno else f'{path}: {msg}')


@dataclass
class Plan:
    """What a converter writes under ``--out``: files (relative path -> bytes), manifests
    (relative path -> video dicts), notes for the user."""

    files: Dict[str, bytes] = field(default_factory=dict)
    manifests: Dict[str, Tuple[str, List[dict]]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)

    def copy(self, src: str, rel: str) -> None:
        with open(src, 'rb') as f:
            self.files[rel] = f.read()

    def text(self, rel: str, text: str) -> None:
        self.files[rel] = text.encode('utf-8')

    def ids(self, rel: str, ids: Iterable[str], comment: str) -> None:
        self.text(rel, f'# {comment}\n' + ''.join(f'{i}\n' for i in ids))

    def manifest(self, rel: str, source: str, videos: List[dict]) -> None:
        self.manifests[rel] = (source, videos)

    def summary(self) -> str:
        lines = [f'  {rel} ({len(v)} videos)' for rel, (_, v) in sorted(self.manifests.items())]
        lines += [f'  {rel}' for rel in sorted(self.files)]
        return '\n'.join(lines)


def check_plan_ids(plan: Plan) -> None:
    """Raise ``ReleaseError`` for a video id of the plan's manifests that is not a safe file
    name (``surgvista_mm/utils/paths.py``), naming the manifest and the id."""
    for rel, (_, videos) in plan.manifests.items():
        for v in videos:
            problem = id_problem(v.get('video_id'))
            if problem is not None:
                raise ReleaseError(f'{rel}: video id {v.get("video_id")!r} cannot be used as a '
                                   f'file name: {problem} (rename that video or folder)')


def write_plan(plan: Plan, out: str, force: bool = False) -> None:
    """Write ``plan`` under ``out``: everything goes to a temporary folder beside ``out`` first,
    then each file is renamed into place (so a failure leaves ``out`` untouched).

    The folders get the user's umask (as ``mkdir`` would), not the temporary folder's private
    ``0o700``.

    Raises:
        FileExistsError: a file of the plan exists in ``out`` and ``force`` is not set.
        ReleaseError: a file of the plan would land outside ``out`` (e.g. through a video id
            or ``--name``); nothing is written.
    """
    rels = list(plan.files) + list(plan.manifests)
    for rel in rels:
        try:
            safe_child(out, rel)
        except UnsafePathError as e:
            raise ReleaseError(str(e)) from e
    existing = [r for r in rels if osp.exists(osp.join(out, r))]
    if existing and not force:
        more = ' ...' if len(existing) > 5 else ''
        raise FileExistsError(f'{out} already holds {existing[:5]}{more}; pass --force to '
                              'overwrite')
    parent = osp.dirname(osp.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.' + osp.basename(osp.abspath(out)) + '.prepare-', dir=parent)
    os.chmod(tmp, default_dir_mode())
    try:
        for rel, data in plan.files.items():
            path = osp.join(tmp, rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write(data)
        for rel, (source, videos) in plan.manifests.items():
            path = osp.join(tmp, rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                json.dump(dict(format=MANIFEST_FORMAT, source=source, videos=videos), f,
                          indent=1)
                f.write('\n')
            load_manifest(path)  # what the datasets will read
        if not osp.exists(out):
            os.rename(tmp, out)
            return
        for rel in rels:
            dst = osp.join(out, rel)
            os.makedirs(osp.dirname(dst), exist_ok=True)
            os.replace(osp.join(tmp, rel), dst)
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp)


# ------------------------------------------------------------------------------ readers
def read_lines(path: str) -> List[str]:
    if not osp.isfile(path):
        raise ReleaseError(f'missing file: {path}')
    with open(path, encoding='utf-8-sig') as f:
        return f.read().splitlines()


def to_int(text: str, path: str, lineno: int, what: str) -> int:
    text = text.strip()
    if not _INT.fullmatch(text):
        raise fail(path, lineno, f'bad {what} {text!r} (expected an integer)')
    return int(text)


def check_header(lines: List[str], path: str, expected: Sequence[str], sep: Optional[str]) -> None:
    got = [c.strip().lower() for c in (lines[0].split(sep) if lines else [])]
    if got != [e.lower() for e in expected]:
        raise fail(path, 1, f'expected the header {(sep or " ").join(expected)!r}, got '
                            f'{lines[0] if lines else ""!r}')


def read_label_rows(path: str, sep: Optional[str], classes: Sequence[str],
                    header: Optional[Sequence[str]] = None, first: int = 0,
                    int_base: Optional[int] = None, aliases: Optional[Dict[str, str]] = None,
                    step: int = 1, skip_header_line: bool = False) -> Tuple[List[int], int]:
    """Rows ``<frame><sep><label>`` with contiguous frame numbers ``first, first+step, ...``.

    ``label`` is a class name (or alias) or, when ``int_base`` is not None, an integer
    ``int_base .. int_base + len(classes) - 1``. Returns ``(class ids, last line number)``.
    """
    lines = read_lines(path)
    start = 0
    if header is not None:
        check_header(lines, path, header, sep)
        start = 1
    elif skip_header_line:
        start = 1
    index = {c: i for i, c in enumerate(classes)}
    for a, target in (aliases or {}).items():
        index.setdefault(a, index[target])
    ids: List[int] = []
    last = start
    for lineno, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        parts = (line.split(sep, 1) if sep else line.split(None, 1))
        if len(parts) != 2:
            raise fail(path, lineno, f'expected "<frame>{sep or " "}<label>", got {line!r}')
        frame = to_int(parts[0], path, lineno, 'frame number')
        want = first + step * len(ids)
        if frame != want:
            raise fail(path, lineno, f'frame {frame} where {want} was expected (one row per '
                                     f'frame, in order)')
        label = parts[1].strip()
        if label in index:
            ids.append(index[label])
        elif int_base is not None and _INT.fullmatch(label) and \
                0 <= int(label) - int_base < len(classes):
            ids.append(int(label) - int_base)
        else:
            known = (f'{int_base}..{int_base + len(classes) - 1}' if int_base is not None
                     else list(classes))
            raise fail(path, lineno, f'unknown label {label!r} (expected {known})')
        last = lineno
    if not ids:
        raise fail(path, None, 'no annotation rows')
    return ids, last


# ------------------------------------------------------------------------------ videos
def probe_video(path: str) -> Tuple[int, float]:
    """``(native frame count, native fps)`` of a video file, read with decord; a frame rate
    that does not fit the frames' timestamps is logged as a WARNING naming the video."""
    if not osp.isfile(path):
        raise ReleaseError(f'missing file: {path}')
    import decord
    try:
        reader = decord.VideoReader(path, num_threads=1)
        n, fps = len(reader), float(reader.get_avg_fps())
    except (decord.DECORDError, RuntimeError) as e:
        raise ReleaseError(f'{path}: unreadable video ({e})') from e
    if n <= 0 or not fps > 0:
        raise ReleaseError(f'{path}: empty video or no frame rate')
    warning = header_fps_warning(reader, fps, osp.splitext(osp.basename(path))[0], path)
    if warning:
        print_log(warning, logger='current', level=logging.WARNING)
    return n, fps


@dataclass
class Video:
    """One video of a release as the manifest will list it."""

    video_id: str
    entry: dict            # manifest video dict
    num_frames: int        # 1-fps frames
    fps: Optional[float]   # native fps (None: unknown, 1-fps frame folders)
    native_frames: Optional[int]
    path: str              # file or folder (for messages)


class VideoResolver:
    """Turns release video files into manifest entries, or uses the frames extracted by
    ``tools/data/extract_frames.py`` (``frames_dir``) in their place when given."""

    def __init__(self, frames_dir: Optional[str] = None) -> None:
        self.frames_dir = frames_dir
        self.frames: Dict[str, dict] = {}
        if frames_dir is not None:
            path = osp.join(frames_dir, 'manifest.json')
            for e in load_manifest(path):
                summary = osp.join(e.frame_dir, '.summary.json')
                native = None
                if osp.isfile(summary):
                    with open(summary, encoding='utf-8') as f:
                        native = json.load(f).get('native_frames')
                self.frames[e.video_id] = dict(entry=e, native=native)

    def video(self, vid: str, path: str) -> Video:
        if self.frames_dir is not None:
            if vid not in self.frames:
                raise ReleaseError(f'video {vid!r} ({path}) is not in the extracted frames '
                                   f'{self.frames_dir}/manifest.json')
            e = self.frames[vid]['entry']
            entry = dict(video_id=vid, frame_dir=e.frame_dir, num_frames=e.num_frames,
                         filename_tmpl=e.filename_tmpl)
            if e.fps:
                entry['fps'] = e.fps
            if e.crop_box is not None:
                entry['crop_box'] = list(e.crop_box)
            return Video(vid, entry, e.num_frames, e.fps, self.frames[vid]['native'],
                         e.frame_dir)
        n, fps = probe_video(path)
        num = num_frames_at_1fps(n, fps)
        return Video(vid, dict(video_id=vid, video=osp.abspath(path), num_frames=num, fps=fps),
                     num, fps, n, path)


def frame_folder(vid: str, folder: str, tmpl: str, fps: Optional[float] = None) -> Video:
    """A release that ships 1-fps frames: ``folder/tmpl.format(k)``, k = 0.. contiguous."""
    if not osp.isdir(folder):
        raise ReleaseError(f'missing folder: {folder}')
    names = set(os.listdir(folder))
    n = 0
    while tmpl.format(n) in names:
        n += 1
    ext = osp.splitext(tmpl.format(0))[1]
    extra = sorted(x for x in names if x.endswith(ext) and x not in
                   {tmpl.format(k) for k in range(n)})
    if n == 0:
        raise ReleaseError(f'{folder}: no frame {tmpl.format(0)}')
    if extra:
        raise ReleaseError(f'{folder}: frames {extra[:3]} do not continue 0..{n - 1} '
                           f'(names {tmpl})')
    entry = dict(video_id=vid, frame_dir=osp.abspath(folder), num_frames=n, filename_tmpl=tmpl)
    if fps:
        entry['fps'] = fps
    return Video(vid, entry, n, fps, None, folder)


def check_length(video: Video, ann_path: str, last_line: int, rows: int,
                 rows_per_second: Optional[float], tolerance: int) -> None:
    """The annotation must cover the video: compare 1-fps lengths within ``tolerance`` frames.

    Args:
        rows: annotation rows; ``rows_per_second``: None for per-native-frame rows (the video's
            fps), 1 for 1-fps rows.
    """
    if rows_per_second is None:
        if video.fps is None:
            return
        covered = num_frames_at_1fps(rows, video.fps)
        what = f'{rows} native frames'
    else:
        covered = rows
        what = f'{rows} frames at 1 fps'
    if abs(covered - video.num_frames) > tolerance:
        native = (f', {video.native_frames} frames at {video.fps:.3f} fps'
                  if video.native_frames else '')
        raise fail(ann_path, last_line,
                   f'annotation length ({what} = {covered} s) disagrees with video '
                   f'{video.video_id!r} ({video.path}: {video.num_frames} s{native}; tolerance '
                   f'{tolerance} s)')


def find_files(root: str, pattern: str, what: str) -> Dict[str, str]:
    """``{stem: path}`` of the files under ``root`` whose name matches the regex ``pattern``
    (full match), searched recursively; an error when none or two with the same stem."""
    rx = re.compile(pattern, re.IGNORECASE)
    out: Dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(filenames):
            if rx.fullmatch(n):
                stem = osp.splitext(n)[0]
                if stem in out:
                    raise ReleaseError(f'two {what} named {stem}: {out[stem]} and '
                                       f'{osp.join(dirpath, n)}')
                out[stem] = osp.join(dirpath, n)
    if not out:
        raise ReleaseError(f'{root}: no {what} (file names matching {pattern})')
    return out


def split_ids(present: Sequence[str], lists: Dict[str, Sequence[str]]) -> Dict[str, List[str]]:
    """Restrict split lists to the ids present in the release."""
    have = set(present)
    return {k: [i for i in v if i in have] for k, v in lists.items()}


def write_splits(plan: Plan, splits: Dict[str, List[str]], note: str) -> None:
    for name, ids in splits.items():
        plan.ids(f'splits/{name}.txt', ids, f'{name} videos: {note}')


Converter = Callable[..., Plan]
