"""Pooled clip features for every 1-fps frame, one file per video (two-stage methods such as
TeCNO or MS-TCN train their temporal model on these).

Frame ``t``'s feature is the fine-tuning head's pooled representation (mean over tokens, then
``fc_norm``: ``SurgVistaClsHead.pool``) of its causal clip, from the same ring buffer of
preprocessed frames as online inference. ``<out_dir>/<video_id>.npz`` holds ``features [T, D]``
(float32) and ``frame_indices [T]``; it is written atomically, and videos whose file exists are
skipped, so an interrupted run resumes.
"""
from __future__ import annotations

import io
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from .frames import open_manifest_entry
from .online import FramePipeline, iter_clip_batches

__all__ = ['clip_features', 'extract_features']


def clip_features(model: torch.nn.Module, batch: Dict) -> torch.Tensor:
    """``[B, D]`` pooled ``fc_norm`` features of a batch of clips (a ``Recognizer3D`` with a
    ``SurgVistaClsHead``)."""
    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    inputs = inputs.view((-1,) + inputs.shape[2:])  # [B, 1, C, T, H, W] -> [B, C, T, H, W]
    return model.cls_head.pool(model.backbone(inputs))


def extract_features(model: torch.nn.Module, entries: Sequence, pipeline: FramePipeline,
                     clip_len: int, frame_interval: int, out_dir: str, batch_size: int = 8,
                     progress: bool = True) -> Dict[str, List[str]]:
    """Write ``<out_dir>/<video_id>.npz`` for every manifest entry (skipping finished ones).

    Every video is opened and checked before any is processed (a missing frame or an
    unreadable video raises naming it), and so is every output path: an id that would put its
    file outside ``out_dir`` raises ``UnsafePathError`` before anything is written.

    Returns:
        ``{'written': [...], 'skipped': [...]}`` video ids.
    """
    from surgvista_mm.utils.io import atomic_writer
    from surgvista_mm.utils.paths import safe_child
    todo, skipped = [], []
    for entry in entries:
        path = safe_child(out_dir, f'{entry.video_id}.npz', f'feature file of video '
                                                          f'{entry.video_id!r}')
        if osp.isfile(path):
            skipped.append(entry.video_id)
        else:
            todo.append((entry, path, open_manifest_entry(entry)))
    written = []
    bar = tqdm(total=sum(s.num_frames for _, _, s in todo), desc='features', unit='frame',
               disable=not progress)
    with torch.no_grad():
        for entry, path, source in todo:
            feats: List[np.ndarray] = []
            for seconds, batch in iter_clip_batches(source, pipeline, clip_len, frame_interval,
                                                    batch_size, progress=False):
                feats.append(clip_features(model, batch).float().cpu().numpy())
                bar.update(len(seconds))
            buf = io.BytesIO()
            np.savez(buf, features=np.concatenate(feats).astype(np.float32),
                     frame_indices=np.arange(source.num_frames, dtype=np.int64))
            with atomic_writer(path, 'wb') as f:
                f.write(buf.getvalue())
            written.append(entry.video_id)
    bar.close()
    return dict(written=written, skipped=skipped)
