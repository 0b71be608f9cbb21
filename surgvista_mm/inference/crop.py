"""The black-margin crop of ``tools/data/extract_frames.py --crop-margin``, applied to a video
read on the fly (``tools/inference/online_phase.py``), so that online inference sees the pixels
the model was trained and tested on.

The box comes from the manifest the frames were extracted into (``crop_box`` of the video's
entry, written by the extraction and kept by ``tools/data/prepare.py --frames``), or is found the
same way as at extraction (``margin_box`` over the same sampled 1-fps frames).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from surgvista_mm.data_prep.frames import crop_sample_indices, margin_box
from surgvista_mm.datasets.manifest import load_manifest
from .frames import FrameSource

__all__ = ['apply_crop', 'crop_box_from_manifest', 'detect_crop_box']

Box = Tuple[int, int, int, int]


def crop_box_from_manifest(manifest: str, video_id: str) -> Optional[Box]:
    """The ``crop_box`` of ``video_id`` in ``manifest`` (None: its frames were not cropped).

    Raises:
        KeyError: the video is not in the manifest.
    """
    entries = {e.video_id: e for e in load_manifest(manifest)}
    if video_id not in entries:
        raise KeyError(f'video {video_id!r} is not in {manifest} (its ids: '
                       f'{sorted(entries)[:8]}{" ..." if len(entries) > 8 else ""})')
    return entries[video_id].crop_box


def detect_crop_box(source: FrameSource) -> Box:
    """``margin_box`` over the 1-fps frames extraction samples (``crop_sample_indices``)."""
    ks = np.asarray(crop_sample_indices(source.num_frames))
    return margin_box(source.read(ks))


def apply_crop(source: FrameSource, manifest: Optional[str] = None,
               crop_margin: bool = False) -> Optional[Box]:
    """Set ``source.crop_box`` from ``manifest`` or by detection (``crop_margin``).

    Returns:
        the box applied, or None.

    Raises:
        ValueError: both options, a box on a frame folder (its frames are already what the
            model sees), or a box outside the video's frames.
    """
    if manifest and crop_margin:
        raise ValueError('give --manifest (the box recorded at extraction) or --crop-margin '
                         '(detect it), not both')
    if not manifest and not crop_margin:
        return None
    if source.fps is None:
        raise ValueError(f'{source.path} is a frame folder: cropping applies to a video file '
                         '(extracted frames are already cropped)')
    box = (crop_box_from_manifest(manifest, source.video_id) if manifest
           else detect_crop_box(source))
    if box is not None:
        h, w = source.read(np.array([0]))[0].shape[:2]
        if box[2] > w or box[3] > h:
            raise ValueError(f'crop box {list(box)} (from {manifest}) does not fit the '
                             f'{w}x{h} frames of {source.path}')
    source.crop_box = box
    return box
