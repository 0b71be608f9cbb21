"""Online (causal) phase recognition on a video, as the fine-tuning protocol defines it.

Every second ``t`` is classified from the clip of ``clip_len`` 1-fps frames ending at ``t`` with
stride ``frame_interval`` (clamped at the start: :func:`causal_clip_indices`), the clip the
datasets build for training and testing. Each 1-fps frame is decoded and preprocessed **once**
(the config's test pipeline after its loader, applied to the single frame) and kept in a ring
buffer of the last ``(clip_len - 1) * frame_interval + 1`` seconds (61 for 16 x 4), from which
every clip is assembled. The first clip is also run through the whole pipeline at once and must
come out identical (the pipeline must transform every frame alike, which resizes, crops and
packing do), so the per-second predictions equal those of ``tools/test.py`` on the same video.
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from surgvista_mm.datasets.base_clip_dataset import causal_clip_indices
from .frames import FrameSource

__all__ = ['FramePipeline', 'ClipRing', 'OnlineResult', 'iter_clip_batches',
           'online_phase_recognition', 'write_online_outputs']


class FramePipeline:
    """The config's test pipeline without its frame loader, applied to frames or clips.

    Args:
        pipeline: transform configs; the first must be ``SurgicalFrameLoader`` (dropped: frames
            come from :class:`~.frames.FrameSource`).
        source: where the pipeline came from, for messages.
    """

    def __init__(self, pipeline: Sequence[Dict], source: str = '<config>') -> None:
        from mmengine.dataset import Compose

        from surgvista_mm.registry import TRANSFORMS
        if not pipeline or not str(pipeline[0].get('type', '')).endswith('SurgicalFrameLoader'):
            raise ValueError(f'{source}: the test pipeline must start with SurgicalFrameLoader '
                             f'(got {pipeline[0].get("type") if pipeline else None!r})')
        self.transforms = Compose([TRANSFORMS.build(dict(t)) for t in pipeline[1:]])

    def __call__(self, frames: List[np.ndarray], video_id: str, frame_index: int) -> Dict:
        """``dict(inputs=uint8 [1, 3, T, H, W], data_samples=ActionDataSample)``."""
        results = dict(imgs=list(frames), video_id=video_id, frame_index=int(frame_index),
                       original_shape=frames[0].shape[:2], img_shape=frames[0].shape[:2])
        out = self.transforms(results)
        if out is None:
            raise RuntimeError(f'the test pipeline returned None for frame {frame_index} of '
                               f'{video_id}')
        return out


class ClipRing:
    """Ring buffer of the last ``size`` preprocessed 1-fps frames (each ``[..., 3, 1, H, W]``)."""

    def __init__(self, clip_len: int, frame_interval: int) -> None:
        self.clip_len, self.frame_interval = clip_len, frame_interval
        self.size = (clip_len - 1) * frame_interval + 1
        self._slots: List[Optional[torch.Tensor]] = [None] * self.size
        self.latest = -1

    def push(self, k: int, frame: torch.Tensor) -> None:
        if k != self.latest + 1:
            raise ValueError(f'frames must be pushed in order: got {k} after {self.latest}')
        self._slots[k % self.size] = frame
        self.latest = k

    def clip(self, t: int) -> torch.Tensor:
        """The causal clip ending at ``t`` (``t`` must be the latest frame), stacked in time."""
        inds = causal_clip_indices(t, self.clip_len, self.frame_interval)
        if t != self.latest or inds.min() < t - self.size + 1:
            raise IndexError(f'clip of second {t} is not in the ring (latest {self.latest})')
        return torch.cat([self._slots[int(i) % self.size] for i in inds], dim=-3)


def iter_clip_batches(source: FrameSource, pipeline: FramePipeline, clip_len: int,
                      frame_interval: int, batch_size: int, progress: bool = True,
                      desc: str = 'seconds'):
    """Yield ``(seconds, dict(inputs=[...], data_samples=[...]))`` batches of causal clips.

    Every frame is decoded and preprocessed once; the first clip is checked against the whole
    pipeline applied at once (see the module docstring).
    """
    from mmaction.structures import ActionDataSample

    ring = ClipRing(clip_len, frame_interval)
    seconds: List[int] = []
    inputs: List[torch.Tensor] = []
    samples: List = []
    bar = tqdm(total=source.num_frames, desc=desc, unit='s', disable=not progress)
    raw_first: Dict[int, np.ndarray] = {}
    try:
        for k, frame in source.iter_frames():
            packed = pipeline([frame], source.video_id, k)
            ring.push(k, packed['inputs'])
            clip = ring.clip(k)
            if k == 0:
                raw_first[0] = frame
                inds = causal_clip_indices(0, clip_len, frame_interval)
                whole = pipeline([frame for _ in inds], source.video_id, 0)['inputs']
                if whole.shape != clip.shape or not torch.equal(whole, clip):
                    raise ValueError('the test pipeline does not transform every frame alike '
                                     f'(whole clip {tuple(whole.shape)} != frame by frame '
                                     f'{tuple(clip.shape)}); online inference needs a '
                                     'deterministic, frame-wise test pipeline')
            sample = ActionDataSample()
            sample.set_metainfo(dict(video_id=source.video_id, frame_index=k))
            seconds.append(k)
            inputs.append(clip)
            samples.append(sample)
            if len(seconds) == batch_size:
                yield seconds, dict(inputs=inputs, data_samples=samples)
                bar.update(len(seconds))
                seconds, inputs, samples = [], [], []
        if seconds:
            yield seconds, dict(inputs=inputs, data_samples=samples)
            bar.update(len(seconds))
    finally:
        bar.close()


@dataclass
class OnlineResult:
    """Per-second predictions of one video.

    Attributes:
        video: the input path; video_id: its stem.
        probs: class probabilities per second ``[T, C]`` (float32).
        class_names: ``C`` names.
        compute_seconds: wall time of decoding + preprocessing + inference (s).
    """

    video: str
    video_id: str
    probs: np.ndarray
    class_names: List[str]
    compute_seconds: float
    meta: Dict = field(default_factory=dict)

    @property
    def phase_ids(self) -> np.ndarray:
        """Arg-max phase per second ``[T]``."""
        return self.probs.argmax(axis=1)

    @property
    def real_time_factor(self) -> float:
        """Seconds of video processed per second of compute."""
        return self.probs.shape[0] / max(self.compute_seconds, 1e-9)


def online_phase_recognition(model: torch.nn.Module, source: FrameSource,
                             pipeline: FramePipeline, clip_len: int, frame_interval: int,
                             class_names: Sequence[str], batch_size: int = 8,
                             progress: bool = True) -> OnlineResult:
    """Classify every second of ``source`` causally with ``model`` (a recognizer in eval mode).

    Returns:
        :class:`OnlineResult` with ``probs [T, C]`` = the model's ``pred_score`` per second.
    """
    start = time.perf_counter()
    probs: List[np.ndarray] = []
    with torch.no_grad():
        for _, batch in iter_clip_batches(source, pipeline, clip_len, frame_interval,
                                          batch_size, progress, desc=source.video_id):
            for sample in model.test_step(batch):
                probs.append(sample.pred_score.detach().float().cpu().numpy())
    scores = np.stack(probs).astype(np.float32)
    if scores.shape[1] != len(class_names):
        raise ValueError(f'the model predicts {scores.shape[1]} classes, {len(class_names)} '
                         'class names given')
    return OnlineResult(source.path, source.video_id, scores, list(class_names),
                        time.perf_counter() - start,
                        dict(clip_len=clip_len, frame_interval=frame_interval,
                             native_fps=source.fps, batch_size=batch_size))


def _csv_text(result: OnlineResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    k = result.probs.shape[1]
    writer.writerow(['second', 'phase_id', 'phase_name'] + [f'p_{c}' for c in range(k)])
    for t, (pid, row) in enumerate(zip(result.phase_ids, result.probs)):
        writer.writerow([t, int(pid), result.class_names[int(pid)]]
                        + [f'{float(p):.6g}' for p in row])
    return buf.getvalue()


def write_online_outputs(result: OnlineResult, out_dir: str, extra: Optional[Dict] = None,
                         plot: bool = True) -> Dict[str, str]:
    """Write ``<stem>_phases.csv``, ``<stem>_phases.json`` and ``<stem>_timeline.png``
    (atomically; the JSON last; a path outside ``out_dir`` is refused before any is written).
    Returns the written paths by kind."""
    from surgvista_mm.utils.io import atomic_writer
    from surgvista_mm.utils.paths import safe_child
    stem = result.video_id
    paths = {kind: safe_child(out_dir, f'{stem}_{name}', f'{kind} output of video {stem!r}')
             for kind, name in (('csv', 'phases.csv'), ('json', 'phases.json'),
                                ('timeline', 'timeline.png'))}
    if not plot:
        del paths['timeline']
    with atomic_writer(paths['csv'], 'w') as f:
        f.write(_csv_text(result))
    if plot:
        from surgvista_mm.visualization import save_figure
        from surgvista_mm.visualization.results_plots import plot_phase_timeline
        conf = result.probs[np.arange(len(result.probs)), result.phase_ids]
        fig = plot_phase_timeline(result.phase_ids, conf, result.class_names,
                                  title=f'{stem}: online phase recognition '
                                        f'({len(conf)} s, causal clips)')
        save_figure(fig, paths['timeline'], dpi=100)
    doc = dict(video=result.video, video_id=stem, classes=result.class_names,
               num_seconds=int(result.probs.shape[0]),
               compute_seconds=result.compute_seconds,
               real_time_factor=result.real_time_factor, **result.meta, **(extra or {}),
               phase_ids=result.phase_ids.tolist(),
               phase_names=[result.class_names[int(p)] for p in result.phase_ids],
               probs=np.round(result.probs.astype(np.float64), 6).tolist())
    with atomic_writer(paths['json'], 'w') as f:
        json.dump(doc, f, indent=None)
        f.write('\n')
    return paths
