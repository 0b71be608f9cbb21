"""Errors for frames and videos that cannot be loaded, each naming the file, the video and the
1-fps frame index; the loaders raise them (:func:`media_context` wraps decoder errors)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence


class MediaError(Exception):
    """A frame or video file cannot be loaded.

    Attributes:
        path: the file (frame image or video).
        video_id: the manifest id of the video.
        frame: the 1-fps frame index concerned, or None when the whole file is unreadable.
    """

    def __init__(self, message: str, path: str, video_id: str,
                 frame: Optional[int] = None) -> None:
        super().__init__(message)
        self.path, self.video_id, self.frame = str(path), str(video_id), frame

    def __reduce__(self):  # keep the attributes across DataLoader worker processes
        return (type(self), (str(self), self.path, self.video_id, self.frame))


class MissingMediaError(MediaError, FileNotFoundError):
    """The frame or video file does not exist."""


class UndecodableMediaError(MediaError, ValueError):
    """The file exists but does not decode to the expected colour image(s)."""


class MediaIndexError(MediaError, IndexError):
    """A 1-fps frame lies past the end of the decoded video."""


def _where(video_id: str, frame: Optional[int]) -> str:
    return (f'frame {frame} of video {video_id!r}' if frame is not None
            else f'video {video_id!r}')


@contextmanager
def media_context(path: str, video_id: str, frame: Optional[int] = None) -> Iterator[None]:
    """Turn any error raised while decoding ``path`` into an :class:`UndecodableMediaError`
    naming the file, the video and the 1-fps ``frame`` (a :class:`MediaError` passes through).

    Example::

        with media_context(path, 'video01', 17):
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    """
    try:
        yield
    except MediaError:
        raise
    except Exception as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else ''
        raise UndecodableMediaError(
            f'{_where(video_id, frame)} cannot be decoded: {path} ({type(exc).__name__}'
            f'{": " + detail if detail else ""})', path, video_id, frame) from exc


def check_frame_bytes(data: bytes, path: str, video_id: str, frame: int) -> None:
    """Raise :class:`UndecodableMediaError` for an empty (0-byte) frame file."""
    if not data:
        raise UndecodableMediaError(f'{_where(video_id, frame)} is an empty file (0 bytes): '
                                    f'{path}', path, video_id, frame)


def first_bad_frame(decode_one: Callable[[int], object], frames: Sequence[int]) -> Optional[int]:
    """The first of ``frames`` whose ``decode_one(frame)`` raises (after a batch decode failed,
    to name the culprit), or None when each decodes on its own."""
    for frame in frames:
        try:
            decode_one(frame)
        except Exception:  # decoders raise their own types
            return frame
    return None


#: How far (seconds) the frame shown as 1-fps frame ``k`` may be from ``k`` s before the header
#: frame rate is reported as wrong for the video.
FPS_DRIFT_TOLERANCE = 1.0


def header_fps_warning(reader: Any, fps: float, video_id: str, path: str,
                       samples: int = 64, tolerance: float = FPS_DRIFT_TOLERANCE
                       ) -> Optional[str]:
    """A warning when a video's header frame rate does not fit its frames' timestamps.

    1-fps frame ``k`` is native frame ``round(k * fps)`` (``fps``: the header's average rate),
    which is the frame shown at ``k`` s only when the video has a constant frame rate equal to
    it. For up to ``samples`` 1-fps frames spread over the video (the last one included), the
    timestamp of that native frame is compared with ``k``; a difference above ``tolerance``
    seconds (a variable frame rate, a header rate that disagrees with the frame count and
    duration) is returned as a warning naming the video. Only the demuxer's index is read
    (no decoding).

    Args:
        reader: a ``decord.VideoReader`` (``len``, ``get_frame_timestamp``).
        fps: the native rate used for the 1-fps mapping.
        video_id, path: named in the warning.

    Returns:
        the warning, or None when every sampled frame is within ``tolerance``.
    """
    import numpy as np

    from .manifest import native_index, num_frames_at_1fps
    count = len(reader)
    num = num_frames_at_1fps(count, fps)
    if num < 2:
        return None
    ks = np.unique(np.linspace(0, num - 1, min(num, samples)).round().astype(int)).tolist()
    natives = [min(native_index(k, fps), count - 1) for k in ks]
    stamps = np.asarray(reader.get_frame_timestamp(natives + [0, count - 1]), np.float64)[:, 0]
    start = stamps[-2]
    drift = np.abs(stamps[:-2] - start - np.asarray(ks, np.float64))
    worst = int(np.argmax(drift))
    if drift[worst] <= tolerance:
        return None
    span = stamps[-1] - start
    rate = f' ({(count - 1) / span:.3g} fps on average)' if span > 0 else ''
    return (f'video {video_id!r} ({path}): its frame rate {fps:g} fps (header / manifest) does '
            f'not fit its frames\' timestamps: 1-fps frame {ks[worst]} (native frame '
            f'{natives[worst]}) is '
            f'shown at {stamps[worst] - start:.2f} s, {drift[worst]:.1f} s off; its {count} '
            f'frames span {span:.2f} s{rate}. 1-fps frames (and labels) would not match the '
            f'video time: re-encode it at a constant frame rate (e.g. ffmpeg -i IN -vf fps=25 '
            f'OUT)')
