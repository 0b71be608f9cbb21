"""Errors for frames and videos that cannot be loaded, each naming the file, the video and the
1-fps frame index; the loaders raise them (:func:`media_context` wraps decoder errors)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Sequence


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
