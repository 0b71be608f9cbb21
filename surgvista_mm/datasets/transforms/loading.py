"""Load the frames of a clip from a 1-fps frame folder or a video file."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio

from surgvista_mm.registry import TRANSFORMS
from .jpeg import decode_image
from ..manifest import native_index
from ..media import (MediaIndexError, MissingMediaError, UndecodableMediaError,
                     check_frame_bytes, first_bad_frame, media_context)


@TRANSFORMS.register_module()
class SurgicalFrameLoader(BaseTransform):
    """Decode the 1-fps frames ``frame_inds`` of one video into a list of RGB images.

    A frame folder holds one file per 1-fps frame: frame ``k`` is
    ``frame_dir/filename_tmpl.format(k + offset)``. A video file is decoded with decord: 1-fps
    frame ``k`` is native frame ``round(k * native_fps)`` (rounded half up; ``native_fps`` read from
    the file when None). A repeated index (clamped clip start) is decoded once. Native indices past
    the decoded length by less than one second are clamped to the last frame (frame counts of
    different decoders can differ by one); further ones are an error.

    Required keys: ``frame_inds`` (int array ``[T]``), ``video_id``, and either ``frame_dir``
    (+ optional ``filename_tmpl`` (default ``'{:06d}.jpg'``), ``offset`` (default 0)) or
    ``filename`` (+ optional ``native_fps``).

    Added keys: ``imgs`` (list of ``T`` uint8 arrays ``[H, W, 3]``, RGB), ``original_shape`` and
    ``img_shape`` (``(H, W)``).

    Every load error is a :class:`surgvista_mm.datasets.media.MediaError` naming the file, the
    video and the 1-fps frame index (missing file, 0-byte or corrupt JPEG, decord error, frame
    past the video's end, frames of different sizes).

    Args:
        backend_args: mmengine file backend arguments for frame files (None: local disk).
        num_threads: decord decoding threads per video (0: decord's default).
    """

    def __init__(self, backend_args: Optional[dict] = None, num_threads: int = 1) -> None:
        self.backend_args = None if backend_args is None else dict(backend_args)
        self.num_threads = int(num_threads)

    def transform(self, results: Dict) -> Dict:
        """Load ``results['frame_inds']`` into ``results['imgs']``."""
        for key in ('frame_inds', 'video_id'):
            if key not in results:
                raise KeyError(f'{type(self).__name__}: results lack the required key {key!r}')
        inds = np.asarray(results['frame_inds'], dtype=np.int64).reshape(-1)
        if inds.size == 0 or inds.min() < 0:
            raise ValueError(f'video {results["video_id"]!r}: frame_inds must be non-empty and '
                             f'non-negative, got {inds.tolist()}')
        unique, inverse = np.unique(inds, return_inverse=True)
        if results.get('frame_dir'):
            frames = self._load_files(results, unique)
        elif results.get('filename'):
            frames = self._load_video(results, unique)
        else:
            raise KeyError(f'{type(self).__name__}: video {results["video_id"]!r} has neither '
                           '"frame_dir" nor "filename"')
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            by_shape = {s: [int(k) for k, f in zip(unique, frames) if f.shape == s]
                        for s in sorted(shapes)}
            where = results.get('frame_dir') or results.get('filename')
            raise UndecodableMediaError(f'video {results["video_id"]!r}: frames of different '
                                        f'shapes (1-fps frames by shape: {by_shape}): {where}',
                                        where, results['video_id'],
                                        list(by_shape.values())[-1][0])
        imgs = [frames[i] for i in inverse.reshape(-1)]
        results['imgs'] = imgs
        results['original_shape'] = imgs[0].shape[:2]
        results['img_shape'] = imgs[0].shape[:2]
        return results

    def _load_files(self, results: Dict, inds: np.ndarray) -> List[np.ndarray]:
        tmpl = results.get('filename_tmpl') or '{:06d}.jpg'
        offset = int(results.get('offset') or 0)
        vid = results['video_id']
        frames = []
        for k in inds.tolist():
            path = fileio.join_path(results['frame_dir'], tmpl.format(k + offset))
            try:
                data = fileio.get(path, backend_args=self.backend_args)
            except FileNotFoundError as e:
                raise MissingMediaError(f'frame {k} of video {vid!r} not found: {path}', path,
                                        vid, k) from e
            check_frame_bytes(data, path, vid, k)
            with media_context(path, vid, k):  # corrupt JPEG data is an error, not grey
                frames.append(decode_image(data))
        return frames

    def _load_video(self, results: Dict, inds: np.ndarray) -> List[np.ndarray]:
        import decord  # imported here: only video sources need it
        path, vid = results['filename'], results['video_id']
        if not fileio.exists(path, backend_args=self.backend_args):
            raise MissingMediaError(f'video file of video {vid!r} not found: {path}', path, vid)
        try:
            with fileio.get_local_path(path, backend_args=self.backend_args) as local:
                reader = decord.VideoReader(local, num_threads=self.num_threads)
                fps = results.get('native_fps') or reader.get_avg_fps()
                length = len(reader)
                native = [native_index(k, fps) for k in inds.tolist()]
                last = native[-1]
                if last >= length + fps - 1:
                    raise MediaIndexError(f'1-fps frame {int(inds[-1])} of video {vid!r} is '
                                          f'native frame {last} at {fps} fps, past its {length} '
                                          f'frames: {path}', path, vid, int(inds[-1]))
                native = [min(n, length - 1) for n in native]
                try:
                    batch = reader.get_batch(native).asnumpy()
                except (decord.DECORDError, RuntimeError):  # name the frame that fails
                    bad = first_bad_frame(lambda j: reader.get_batch([native[j]]).asnumpy(),
                                          range(len(native)))
                    with media_context(path, vid, None if bad is None else int(inds[bad])):
                        raise
        except (decord.DECORDError, RuntimeError, OSError) as e:  # opening / reading fails
            with media_context(path, vid):
                raise e
        return [np.ascontiguousarray(f, dtype=np.uint8) for f in batch]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(backend_args={self.backend_args}, '
                f'num_threads={self.num_threads})')
