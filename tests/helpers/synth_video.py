"""Small synthetic videos for the data-preparation tests (written with cv2.VideoWriter)."""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import cv2
import numpy as np

BITS = 12  # frame index bits drawn as black / white blocks


def index_frame(i: int, size: Tuple[int, int] = (48, 64)) -> np.ndarray:
    """RGB frame whose top row of ``BITS`` blocks spells ``i`` in binary (LSB left), over a
    grey ramp; ``decode_index`` reads it back, even after lossy compression."""
    h, w = size
    img = np.tile(np.linspace(40, 200, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
    bw = w // BITS
    for b in range(BITS):
        img[: h // 3, b * bw:(b + 1) * bw] = 255 if (i >> b) & 1 else 0
    return img


def decode_index(img: np.ndarray) -> int:
    """Inverse of ``index_frame`` (same frame size)."""
    h, w = img.shape[:2]
    bw = w // BITS
    grey = img[: h // 3].mean(axis=(0, 2))
    return sum(1 << b for b in range(BITS)
               if grey[b * bw + 1:(b + 1) * bw - 1].mean() > 127)


def smooth_frames(seed: int, size: Tuple[int, int] = (96, 128)) -> Callable[[int], np.ndarray]:
    """A slowly panning smooth random texture: ``frame(i)`` (RGB), distinct per seed."""
    rng = np.random.default_rng(seed)
    h, w = size
    big = rng.integers(0, 256, (h // 8 + 8, w // 8 + 64, 3)).astype(np.uint8)
    big = cv2.resize(big, (big.shape[1] * 8, big.shape[0] * 8), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), 6)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX)

    def frame(i: int) -> np.ndarray:
        x = int(i * 0.4) % (big.shape[1] - w)  # 10 px per second at 25 fps
        return np.ascontiguousarray(big[:h, x:x + w])

    return frame


def write_video(path: str, num_frames: int, fps: float = 25.0,
                frame: Optional[Callable[[int], np.ndarray]] = None,
                size: Optional[Tuple[int, int]] = None, fourcc: str = 'mp4v',
                start: int = 0) -> str:
    """Write frames ``frame(start), ..., frame(start + num_frames - 1)`` (RGB) to ``path``,
    resized to ``size`` (h, w) when given."""
    frame = frame or index_frame
    first = frame(start)
    h, w = size or first.shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f'cannot open a {fourcc} writer for {path}'
    for i in range(start, start + num_frames):
        img = frame(i)
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()
    return path
