"""Extract 1-fps frames from video files (``tools/data/extract_frames.py``).

Frame ``k`` of a video is its native frame ``native_index(k, native_fps / fps)`` — at the default
``fps=1`` exactly ``round(k * native_fps)`` (rounded half up), the rule ``SurgicalFrameLoader``
applies to video files, and it is decoded the same way (decord ``VideoReader.get_batch``), so a
folder extracted without crop / resize holds the frames the loader would decode on the fly.

Output, for ``out_dir``::

    out_dir/<video_id>/000000.jpg, 000001.jpg, ...   (video_id = file stem)
    out_dir/<video_id>/.summary.json                 (written last: the video is complete)
    out_dir/<video_id>/.params.json                  (options of the run that started it)
    out_dir/manifest.json                            (surgvista_mm.manifest/v1, every complete
                                                      video of out_dir, with native fps)

Every file is written atomically, so an interrupted run leaves only whole frames; the next run
skips complete videos and continues partial ones from the first missing frame. A folder started
or finished with other options is never overwritten without ``force``.

Only this tool's own files are ever removed. ``out_dir/<video_id>`` is refused (even with
``force``) when it holds anything this tool does not write (an input video, a user's file: the
error names them), so ``--out`` may be the input tree; a folder of frames without this tool's
``.params.json`` (frames from elsewhere, possibly stale) is refused, and with ``force`` only its
frame files (``NNNNNN.jpg`` / ``.png``), ``.params.json`` and ``.summary.json`` are removed
before the video is extracted again. Video ids must be safe file names
(``surgvista_mm/utils/paths.py``); hidden files and folders (``.*``) are not searched.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from surgvista_mm.datasets.manifest import native_index, num_frames_at_1fps, write_manifest
from surgvista_mm.datasets.media import header_fps_warning
from surgvista_mm.utils.io import atomic_write_bytes, atomic_write_json
from surgvista_mm.utils.paths import check_id, safe_child

VIDEO_EXTS = ('.mp4', '.avi', '.mkv', '.mov', '.m4v', '.mpg', '.mpeg', '.webm', '.wmv', '.flv',
              '.ts', '.mts')
SUMMARY = '.summary.json'
PARAMS = '.params.json'
#: Cholec80 black-margin rule: resize to height 300, grey > 15, median blur 19, bounding box.
CROP_HEIGHT, CROP_THRESHOLD, CROP_BLUR = 300, 15, 19
_CHUNK = 16
#: The files this tool writes into a video folder (frames, its two records, and the temporary
#: files of ``atomic_writer``); nothing else is ever removed.
_FRAME_FILE = re.compile(r'^\d{6,}\.(?:jpg|png)$')
_OWN_TMP = re.compile(r'^\.(?:\d{6,}\.(?:jpg|png)|\.params\.json|\.summary\.json)\.\w+\.tmp$')


class BadVideoError(RuntimeError):
    """A video that cannot be read: missing, unreadable, empty or truncated."""


@dataclass(frozen=True)
class ExtractOptions:
    """What a frame folder is extracted with (recorded in ``.params.json``).

    Attributes:
        fps: output frame rate (frames per second of video; 1 for SurgVISTA).
        short_side: resize so the shorter side has this many pixels (None: native size).
        crop_margin: crop the black margin (one box per video, see ``margin_box``).
        quality: JPEG quality (1-100); ignored for PNG.
        image_ext: ``'jpg'`` or ``'png'`` (lossless).
        restart_interval: JPEG restart marker every this many MCUs (0: none). With 1 (the
            default) the pre-training loader decodes only the restart segments around its
            crop (``datasets/transforms/jpeg_restart.py``: same pixels, 1.3-1.7x faster per
            frame here) for files ~6-12 % larger. Markers change no pixel, so a folder
            extracted with another interval (or before this option) is not refused.
    """

    fps: float = 1.0
    short_side: Optional[int] = None
    crop_margin: bool = False
    quality: int = 95
    image_ext: str = 'jpg'
    restart_interval: int = 1

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f'fps must be positive, got {self.fps}')
        if self.short_side is not None and self.short_side < 1:
            raise ValueError(f'short_side must be positive, got {self.short_side}')
        if not 1 <= self.quality <= 100:
            raise ValueError(f'quality must be in 1..100, got {self.quality}')
        if not 0 <= self.restart_interval <= 65535:
            raise ValueError(f'restart_interval must be in 0..65535 MCUs, got '
                             f'{self.restart_interval}')
        if self.image_ext not in ('jpg', 'png'):
            raise ValueError(f"image_ext must be 'jpg' or 'png', got {self.image_ext!r}")

    @property
    def filename_tmpl(self) -> str:
        return '{:06d}.' + self.image_ext


@dataclass
class ExtractReport:
    """Outcome of ``extract_frames``: video ids per outcome and the manifest written."""

    done: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    bad: Dict[str, str] = field(default_factory=dict)      # video path -> reason
    refused: Dict[str, str] = field(default_factory=dict)  # video path -> reason
    warnings: Dict[str, str] = field(default_factory=dict)  # video path -> warning (extracted)
    manifest: Optional[str] = None


def collect_videos(inputs: Sequence[str]) -> List[str]:
    """Video files named by ``inputs``: files, folders (searched recursively for ``VIDEO_EXTS``)
    or ``@list.txt`` files (one path per line, ``#`` comments, relative to the list's folder).

    Raises:
        FileNotFoundError: an input that does not exist.
        ValueError: two videos with the same id (file stem), or an id that is not a safe file
            name (``UnsafeIdError``).
    """
    paths: List[str] = []
    for item in inputs:
        if item.startswith('@'):
            lst = item[1:]
            if not osp.isfile(lst):
                raise FileNotFoundError(f'video list not found: {lst}')
            with open(lst, encoding='utf-8') as f:
                for line in f:
                    line = line.split('#', 1)[0].strip()
                    if line:
                        paths.append(line if osp.isabs(line)
                                     else osp.join(osp.dirname(osp.abspath(lst)), line))
        elif osp.isdir(item):
            for dirpath, dirnames, filenames in os.walk(item):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
                paths += [osp.join(dirpath, n) for n in sorted(filenames)
                          if osp.splitext(n)[1].lower() in VIDEO_EXTS and not n.startswith('.')]
        else:
            paths.append(item)  # a missing file is reported as a bad video
    seen: Dict[str, str] = {}
    for p in paths:
        vid = check_id(video_id_of(p), where=f'video file {p}')
        if vid in seen and osp.abspath(seen[vid]) != osp.abspath(p):
            raise ValueError(f'two videos with the id {vid!r}: {seen[vid]} and {p} (ids are '
                             'file stems; rename one)')
        seen[vid] = p
    return list(dict.fromkeys(seen.values()))


def video_id_of(path: str) -> str:
    """Video id of a file: its stem (``videos/video01.mp4`` -> ``video01``)."""
    return osp.splitext(osp.basename(path))[0]


def crop_sample_indices(num_frames: int) -> List[int]:
    """The 1-fps frames ``margin_box`` looks at: up to 20, evenly spread over the video (the
    same for extraction and for ``online_phase.py --crop-margin``)."""
    return np.unique(np.linspace(0, num_frames - 1, min(num_frames, 20)).round()
                     .astype(int)).tolist()


def _refine_edges(frames: Sequence[np.ndarray], box: Tuple[int, int, int, int],
                  threshold: int) -> Tuple[int, int, int, int]:
    """Shrink ``box`` at full resolution to the rows / columns where, in some frame, most pixels
    are brighter than ``threshold``: the coarse box (found at height 300) can reach a few
    pixels into the margin (area resize, codec ringing at the edge), which left a black strip
    (e.g. 8 rows above a letterboxed picture)."""
    x0, y0, x1, y1 = box
    rows = np.zeros(y1 - y0, bool)
    cols = np.zeros(x1 - x0, bool)
    for img in frames:
        bright = cv2.cvtColor(np.ascontiguousarray(img[y0:y1, x0:x1]),
                              cv2.COLOR_RGB2GRAY) > threshold
        rows |= bright.mean(axis=1) > 0.5
        cols |= bright.mean(axis=0) > 0.5
    if not rows.any() or not cols.any():
        return box
    ys, xs = np.flatnonzero(rows), np.flatnonzero(cols)
    return (x0 + int(xs[0]), y0 + int(ys[0]), x0 + int(xs[-1]) + 1, y0 + int(ys[-1]) + 1)


def margin_box(frames: Iterable[np.ndarray], height: int = CROP_HEIGHT,
               threshold: int = CROP_THRESHOLD, blur: int = CROP_BLUR) -> Tuple[int, int, int, int]:
    """Bounding box ``(x0, y0, x1, y1)`` (pixels, exclusive end) of the non-black region.

    Each frame (RGB uint8 ``[H, W, 3]``) is resized to ``height`` rows, turned grey, thresholded
    at ``grey > threshold`` and median-blurred (``blur``, odd); the box is the union over frames of
    the boxes of the remaining pixels, scaled back to the frame size, then its edges are moved
    in at full resolution past rows / columns that are mostly ``<= threshold`` in every frame
    (``_refine_edges``). All-black frames: the full frame.
    """
    frames = list(frames)
    box = None
    shape = None
    for img in frames:
        h, w = img.shape[:2]
        shape = (h, w)
        scale = height / h
        small = cv2.resize(img, (max(1, round(w * scale)), height), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        mask = cv2.medianBlur(((grey > threshold) * 255).astype(np.uint8), blur)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        b = (int(xs.min() / scale), int(ys.min() / scale),
             min(w, int(np.ceil((xs.max() + 1) / scale))),
             min(h, int(np.ceil((ys.max() + 1) / scale))))
        box = b if box is None else (min(box[0], b[0]), min(box[1], b[1]), max(box[2], b[2]),
                                     max(box[3], b[3]))
    if shape is None:
        raise ValueError('margin_box needs at least one frame')
    if box is None:
        return (0, 0, shape[1], shape[0])
    return _refine_edges(frames, box, threshold)


def _resize_short(img: np.ndarray, short: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = short / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def _encode(img: np.ndarray, opts: ExtractOptions, where: str) -> bytes:
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, opts.quality,
              cv2.IMWRITE_JPEG_RST_INTERVAL, opts.restart_interval] \
        if opts.image_ext == 'jpg' else []
    ok, buf = cv2.imencode('.' + opts.image_ext, bgr, params)
    if not ok:
        raise RuntimeError(f'cannot encode {where}')
    return buf.tobytes()


def _pixel_params(params: dict) -> dict:
    """The options that decide a folder's pixels (all but ``restart_interval``)."""
    return {k: v for k, v in params.items() if k != 'restart_interval'}


def _read_json(path: str) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _declared_frames(path: str) -> Optional[int]:
    """Frame count the container header declares (OpenCV), None when it gives none. A file cut
    short keeps its header, so fewer readable frames than declared means truncation."""
    cap = cv2.VideoCapture(path)
    try:
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT) if cap.isOpened() else 0
    finally:
        cap.release()
    return int(n) if n and n > 0 else None


def _own_files(vdir: str, path: str) -> List[str]:
    """This tool's files in the existing folder ``vdir`` (to be removed by ``force``).

    Raises:
        FileExistsError: ``vdir`` holds anything else (an input video such as ``path``, a
            sub-folder, a user's file), naming those entries.
    """
    own, foreign = [], []
    for name in sorted(os.listdir(vdir)):
        full = osp.join(vdir, name)
        if (name in (PARAMS, SUMMARY) or _FRAME_FILE.match(name) or _OWN_TMP.match(name)) \
                and not osp.isdir(full):
            own.append(full)
        else:
            is_input = osp.exists(full) and osp.exists(path) and osp.samefile(full, path)
            foreign.append(name + (' (the input video)' if is_input else ' (a video)'
                                   if osp.splitext(name)[1].lower() in VIDEO_EXTS else ''))
    if foreign:
        more = f' and {len(foreign) - 8} more' if len(foreign) > 8 else ''
        raise FileExistsError(f'{vdir} holds files this tool did not write: '
                              f'{", ".join(foreign[:8])}{more}; nothing was changed. Use an '
                              '--out folder that is not the input tree, or move them away')
    return own


def extract_video(path: str, out_dir: str, opts: ExtractOptions = ExtractOptions(),
                  force: bool = False) -> Tuple[str, dict]:
    """Extract the frames of one video into ``out_dir/<video_id>/``.

    Returns:
        ``(status, summary)``: status ``'done'`` or ``'skipped'`` (already complete with the same
        options); the summary holds ``video_id``, ``video`` (source path), ``native_fps``,
        ``native_frames``, ``num_frames``, ``crop_box``, the options and ``warning`` (None, or
        why the 1-fps frames may not match the video time: ``media.header_fps_warning``).

    Raises:
        BadVideoError: the video is missing, unreadable, empty or truncated.
        FileExistsError: the folder was extracted (or started) with other options, or holds
            frames without this tool's ``.params.json``, and ``force`` is not set; or it holds
            files this tool does not write (with or without ``force``).
    """
    import decord  # only this module's workers need it
    vid = check_id(video_id_of(path), where=f'video file {path}')
    vdir = safe_child(out_dir, vid, f'frame folder of video {vid!r}')
    params = asdict(opts)
    own = _own_files(vdir, path) if osp.isdir(vdir) else []
    summary = _read_json(osp.join(vdir, SUMMARY))
    started = _read_json(osp.join(vdir, PARAMS))
    if own and summary is None and started is None and not force:
        raise FileExistsError(f'{vdir} holds {len(own)} frame file(s) but not this tool\'s '
                              f'{PARAMS}: they may be stale or made with other options; pass '
                              '--force to remove them (frame files only) and extract again')
    if not force:
        for what, rec in (('extracted', summary), ('started', started)):
            # restart markers change no pixel: a folder written with another interval (or
            # before the option existed) is complete / resumable as it is
            old = None if rec is None else _pixel_params(rec.get('params', rec))
            if old is not None and old != _pixel_params(params):
                raise FileExistsError(f'{vdir} was {what} with other options '
                                      f'({old}, now {_pixel_params(params)}); pass --force '
                                      'to extract it again')
        if summary is not None:
            return 'skipped', summary
    else:
        for f in own:  # this tool's files only: never the folder, never anything else
            os.remove(f)
    if not osp.isfile(path):
        raise BadVideoError(f'{path}: file not found')
    try:
        reader = decord.VideoReader(path, num_threads=1)
        length = len(reader)
        native_fps = float(reader.get_avg_fps())
    except (decord.DECORDError, RuntimeError) as e:
        raise BadVideoError(f'{path}: unreadable ({e})') from e
    if length <= 0:
        raise BadVideoError(f'{path}: no frames')
    if not native_fps > 0:
        raise BadVideoError(f'{path}: no frame rate')
    declared = _declared_frames(path)
    if declared is not None and length < declared - max(native_fps, 2):
        raise BadVideoError(f'{path}: truncated, the container declares {declared} frames but '
                            f'only {length} can be read')
    warning = header_fps_warning(reader, native_fps, vid, path)
    step = native_fps / opts.fps
    num = num_frames_at_1fps(length, step)
    os.makedirs(vdir, exist_ok=True)
    atomic_write_json(osp.join(vdir, PARAMS), params)

    def decode(ks: Sequence[int]) -> np.ndarray:
        natives = [native_index(k, step) for k in ks]
        try:
            return reader.get_batch(natives).asnumpy()
        except (decord.DECORDError, RuntimeError) as e:
            raise BadVideoError(f'{path}: truncated or corrupt, cannot decode native frames '
                                f'{natives[0]}..{natives[-1]} of {length} ({e})') from e

    box = None
    if opts.crop_margin:
        box = margin_box(list(decode(crop_sample_indices(num))))
    todo = [k for k in range(num)
            if not osp.isfile(osp.join(vdir, opts.filename_tmpl.format(k)))]
    shape = None
    for start in range(0, len(todo), _CHUNK):
        ks = todo[start:start + _CHUNK]
        for k, img in zip(ks, decode(ks)):
            if box is not None:
                img = img[box[1]:box[3], box[0]:box[2]]
            if opts.short_side:
                img = _resize_short(img, opts.short_side)
            shape = img.shape[:2]
            name = osp.join(vdir, opts.filename_tmpl.format(k))
            atomic_write_bytes(name, _encode(np.ascontiguousarray(img), opts, name))
    if shape is None:  # every frame was already there (an interrupted run's last step)
        first = cv2.imread(osp.join(vdir, opts.filename_tmpl.format(0)))
        shape = None if first is None else first.shape[:2]
    summary = dict(video_id=vid, video=osp.abspath(path), native_fps=native_fps,
                   native_frames=length, num_frames=num, crop_box=box,
                   frame_shape=None if shape is None else list(shape), params=params,
                   warning=warning)
    atomic_write_json(osp.join(vdir, SUMMARY), summary)
    return 'done', summary


def _worker(args: Tuple[str, str, ExtractOptions, bool]) -> Tuple[str, str, Optional[dict],
                                                                   Optional[str]]:
    path, out_dir, opts, force = args
    try:
        status, summary = extract_video(path, out_dir, opts, force)
        return path, status, summary, None
    except BadVideoError as e:
        return path, 'bad', None, str(e)
    except FileExistsError as e:
        return path, 'refused', None, str(e)
    except Exception as e:  # noqa: BLE001  (any other failure: this video is bad, go on)
        return path, 'bad', None, f'{path}: {type(e).__name__}: {e}'


def write_frames_manifest(out_dir: str, source: Optional[str] = None) -> str:
    """(Re)write ``out_dir/manifest.json`` from every complete video folder of ``out_dir``."""
    videos = []
    for name in sorted(os.listdir(out_dir)):
        if name.startswith('.'):
            continue
        summary = _read_json(osp.join(out_dir, name, SUMMARY))
        if summary is None:
            continue
        tmpl = '{:06d}.' + summary['params']['image_ext']
        video = dict(video_id=summary['video_id'], frame_dir=name,
                     num_frames=summary['num_frames'], fps=summary['native_fps'],
                     filename_tmpl=tmpl)
        if summary.get('crop_box') is not None:  # online_phase.py --manifest applies it
            video['crop_box'] = list(summary['crop_box'])
        videos.append(video)
    path = osp.join(out_dir, 'manifest.json')
    write_manifest(path, videos, source=source)
    return path


def extract_frames(inputs: Sequence[str], out_dir: str, opts: ExtractOptions = ExtractOptions(),
                   workers: int = 1, force: bool = False, source: Optional[str] = None,
                   progress: bool = True) -> ExtractReport:
    """Extract every video of ``inputs`` (see ``collect_videos``) into ``out_dir``.

    Bad videos and refused folders are collected in the report (the others still run); the
    manifest lists every complete video folder of ``out_dir`` (none is written while there is
    no complete video: ``report.manifest`` is None).

    Raises:
        ValueError: ``inputs`` name no video file (nothing is written).
    """
    videos = collect_videos(inputs)
    if not videos:
        raise ValueError(f'no video file in {list(inputs)} (extensions: {", ".join(VIDEO_EXTS)})')
    os.makedirs(out_dir, exist_ok=True)
    report = ExtractReport()
    jobs = [(p, out_dir, opts, force) for p in videos]
    bar = tqdm(total=len(jobs), desc='videos', unit='video', disable=not progress)

    def record(res: Tuple[str, str, Optional[dict], Optional[str]]) -> None:
        path, status, summary, err = res
        if status == 'bad':
            report.bad[path] = err
        elif status == 'refused':
            report.refused[path] = err
        else:
            (report.done if status == 'done' else report.skipped).append(summary['video_id'])
            if summary.get('warning'):  # e.g. a frame rate that does not fit the timestamps
                report.warnings[path] = summary['warning']
        bar.update(1)

    if workers <= 1:
        for job in jobs:
            record(_worker(job))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for fut in as_completed([pool.submit(_worker, job) for job in jobs]):
                record(fut.result())
    bar.close()
    if any(osp.isfile(osp.join(out_dir, n, SUMMARY)) for n in os.listdir(out_dir)):
        report.manifest = write_frames_manifest(out_dir, source)
    return report
