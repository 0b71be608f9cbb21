"""The 1-fps frames of a video file or a folder of 1-fps frames, by the datasets' rule.

1-fps frame ``k`` of a video at ``fps`` is native frame ``round(k * fps)`` (half up; the rule of
``SurgicalFrameLoader`` and the manifests); a folder holds one image per 1-fps frame, in natural
file-name order. :func:`open_frames` checks the input before any long work: a missing or
unreadable file, a video that cannot be decoded to its end (truncated), an empty folder or an
unreadable image all raise naming the file.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

import numpy as np

from surgvista_mm.datasets.manifest import native_index, num_frames_at_1fps
from surgvista_mm.datasets.media import header_fps_warning
from surgvista_mm.evaluation.functional.stats import natural_key

__all__ = ['FrameSource', 'open_frames', 'open_manifest_entry', 'IMAGE_EXTENSIONS']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


class FrameSource:
    """Sequential access to the 1-fps frames ``0 .. num_frames - 1`` of one video.

    Attributes:
        path: the video file or frame folder.
        video_id: file stem (or folder name).
        num_frames: number of 1-fps frames (seconds of video).
        fps: native frame rate of a video file (None for a folder).
        crop_box: ``(x0, y0, x1, y1)`` cut from every frame of a video file (None: whole
            frames); set by :func:`surgvista_mm.inference.crop.apply_crop`.
    """

    def __init__(self, path: str, video_id: str, num_frames: int, fps: Optional[float],
                 reader: object = None, files: Optional[List[str]] = None) -> None:
        self.path = path
        self.video_id = video_id
        self.num_frames = num_frames
        self.fps = fps
        self.crop_box: Optional[Tuple[int, int, int, int]] = None
        self._reader = reader
        self._files = files

    def native_indices(self, ks: np.ndarray) -> List[int]:
        """Native frame indices of 1-fps frames ``ks`` (clamped to the decoded length, like
        ``SurgicalFrameLoader``)."""
        length = len(self._reader)
        return [min(native_index(int(k), self.fps), length - 1) for k in ks]

    def read(self, ks: np.ndarray) -> List[np.ndarray]:
        """RGB uint8 frames ``[H, W, 3]`` of the 1-fps indices ``ks``."""
        if self._files is not None:
            return [_read_image(self._files[int(k)]) for k in ks]
        import decord
        try:
            batch = self._reader.get_batch(self.native_indices(ks)).asnumpy()
        except decord.DECORDError as e:
            raise RuntimeError(f'cannot decode 1-fps frames {int(ks[0])}..{int(ks[-1])} of '
                               f'{self.path}: {e}') from e
        if self.crop_box is not None:
            x0, y0, x1, y1 = self.crop_box
            batch = [f[y0:y1, x0:x1] for f in batch]
        return [np.ascontiguousarray(f, dtype=np.uint8) for f in batch]

    def iter_frames(self, chunk: int = 16) -> Iterator[Tuple[int, np.ndarray]]:
        """``(k, frame)`` for every 1-fps frame in order, decoded in chunks of ``chunk``."""
        for start in range(0, self.num_frames, chunk):
            ks = np.arange(start, min(start + chunk, self.num_frames))
            for k, frame in zip(ks.tolist(), self.read(ks)):
                yield k, frame


def _read_image(path: str) -> np.ndarray:
    from surgvista_mm.datasets.transforms.jpeg import decode_image
    with open(path, 'rb') as f:
        data = f.read()
    try:  # corrupt JPEG data is an error, not a grey block
        return decode_image(data)
    except ValueError as e:
        raise ValueError(f'cannot decode image {path}: {e}') from e


def open_frames(path: str, fps: Optional[float] = None) -> FrameSource:
    """Open a video file (any frame rate; ``fps`` overrides the file's) or a frame folder.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError / RuntimeError: an empty folder, an unreadable image, a video decord cannot
            open, a video without frames, or one whose last 1-fps frame cannot be decoded
            (truncated), naming the file.
    """
    if osp.isdir(path):
        files = sorted((osp.join(path, n) for n in os.listdir(path)
                        if n.lower().endswith(IMAGE_EXTENSIONS)), key=natural_key)
        if not files:
            raise ValueError(f'{path}: no frame images ({", ".join(IMAGE_EXTENSIONS)})')
        for probe in (files[0], files[-1]):
            _read_image(probe)
        return FrameSource(path, osp.basename(osp.normpath(path)), len(files), None,
                           files=files)
    if not osp.isfile(path):
        raise FileNotFoundError(f'video not found: {path}')
    import decord
    try:
        reader = decord.VideoReader(path, num_threads=1)
    except (decord.DECORDError, RuntimeError) as e:
        raise RuntimeError(f'cannot open video {path} (unreadable or not a video): {e}') from e
    native_fps = float(fps or reader.get_avg_fps())
    if not native_fps > 0:
        raise RuntimeError(f'{path}: no frame rate in the file; give one')
    n = num_frames_at_1fps(len(reader), native_fps)
    if n == 0:
        raise RuntimeError(f'{path}: the video holds no frames')
    source = FrameSource(path, osp.splitext(osp.basename(path))[0], n, native_fps,
                         reader=reader)
    warning = header_fps_warning(reader, native_fps, source.video_id, path)
    if warning:  # a variable frame rate: second k is not native frame round(k * fps)
        import logging

        from mmengine.logging import print_log
        print_log(warning + ' (or pass the real rate with --fps)', logger='current',
                  level=logging.WARNING)
    try:  # a truncated file fails here, before any inference
        source.read(np.array([0, n - 1]))
    except RuntimeError as e:
        raise RuntimeError(f'{path}: the video cannot be decoded to its end (truncated?): '
                           f'{e}') from e
    return source


def open_manifest_entry(entry: 'VideoEntry') -> FrameSource:  # noqa: F821
    """A :class:`FrameSource` for one manifest video (its frames exactly as the datasets read
    them: ``frame_dir/filename_tmpl.format(k + offset)``, or the video file at its fps)."""
    if entry.frame_dir is not None:
        files = [osp.join(entry.frame_dir, entry.filename_tmpl.format(k + entry.offset))
                 for k in range(entry.num_frames)]
        for probe in (files[0], files[-1]):
            if not osp.isfile(probe):
                raise FileNotFoundError(f'frame of video {entry.video_id!r} not found: {probe}')
        return FrameSource(entry.frame_dir, entry.video_id, entry.num_frames, None, files=files)
    source = open_frames(entry.video, entry.fps)
    source.video_id = entry.video_id
    source.num_frames = min(source.num_frames, entry.num_frames)
    return source
