"""A training config's Runner for a few iterations on synthetic clips: clips/s, data time,
peak device memory and the attention kernels used.

Only the data are synthetic (random uint8 clips with the config's tube masks or class labels);
the model, optimizer wrapper (dtype, loss scaling), schedulers and Runner are the config's. The
teacher keeps random weights (no checkpoint): the FLOPs are those of the real one.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from torch.utils.data import Dataset

from surgvista_mm.registry import DATASETS, HOOKS, TRANSFORMS
from surgvista_mm.utils.io import atomic_write_json

#: aten ops of PyTorch's fused attention back-ends (the profiler records them on any device)
ATTENTION_OPS = ('_scaled_dot_product_flash_attention', '_scaled_dot_product_efficient_attention',
                 '_scaled_dot_product_cudnn_attention', '_scaled_dot_product_attention_math',
                 '_scaled_dot_product_flash_attention_for_cpu', '_efficient_attention_forward',
                 '_flash_attention_forward')


@DATASETS.register_module()
class SyntheticClipDataset(Dataset):
    """Random uint8 clips in the packed form of ``PackSurgVistaInputs`` (``[3, T, H, W]``,
    pre-training) or, with ``num_classes``, of ``PackSurgVistaClipInputs`` (``[1, 3, T, H, W]``
    with a label, fine-tuning).

    Args:
        num_samples: length of the dataset.
        clip_len: frames ``T``.
        size: frame side ``H = W`` in pixels.
        masking: a ``TubeMasking`` config (pre-training samples get its ``mask``), or None.
        num_classes: fine-tuning samples get a ``gt_label`` in ``[0, num_classes)``, or None.
        num_distinct: distinct random clips generated once and served in turn.
        seed: generator seed.
    """

    def __init__(self, num_samples: int, clip_len: int = 16, size: int = 224,
                 masking: Optional[dict] = None, num_classes: Optional[int] = None,
                 num_distinct: int = 4, seed: int = 0) -> None:
        if num_samples < 1 or num_distinct < 1:
            raise ValueError(f'num_samples and num_distinct must be >= 1, got {num_samples}, '
                             f'{num_distinct}')
        rng = np.random.default_rng(seed)
        self.num_samples = int(num_samples)
        self.clips = [rng.integers(0, 256, (3, clip_len, size, size), dtype=np.uint8)
                      for _ in range(num_distinct)]
        self.masking = TRANSFORMS.build(masking) if masking else None
        self.num_classes = num_classes
        self.seed = seed
        self.metainfo: Dict[str, Any] = {}

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, idx: int) -> dict:
        from mmaction.structures import ActionDataSample
        sample = ActionDataSample()
        sample.set_metainfo(dict(video_id=f'synthetic{idx % len(self.clips)}', frame_index=idx))
        if self.masking is not None:
            out = self.masking(dict(rng=np.random.default_rng((self.seed, idx))))
            sample.set_field(torch.as_tensor(out['mask']), 'mask', dtype=torch.Tensor)
        if self.num_classes:
            sample.set_gt_label(idx % self.num_classes)
        clip = torch.from_numpy(self.clips[idx % len(self.clips)].copy())
        return dict(inputs=clip[None] if self.num_classes else clip, data_samples=sample)


def attention_ops(prof: Any) -> Dict[str, int]:
    """``{aten op: calls}`` of the attention back-ends in a finished ``torch.profiler`` run."""
    out: Dict[str, int] = {}
    for event in prof.key_averages():
        name = event.key.split('::')[-1]
        if name in ATTENTION_OPS:
            out[name] = out.get(name, 0) + int(event.count)
    return out


@HOOKS.register_module()
class SurgVistaBenchmarkHook(Hook):
    """Times training iterations after ``warmup`` ones and writes the figures to ``out_file``.

    Per iteration (device synchronised at its end, benchmark only): wall time, and data time
    (from the end of the previous iteration to the start of this one: waiting for the
    DataLoader). Iteration ``warmup`` (not timed) runs under ``torch.profiler`` to record which
    attention kernels ran. Written after training (rank 0): ``clips_per_s`` (all ranks),
    ``iter_s`` / ``data_s`` medians, ``max_memory_allocated_gib`` (CUDA), ``attention_ops``,
    ``loss_scale`` (the optimizer wrapper's, or None), ``dtype``, ``world_size``, ``batch``.

    Args:
        out_file: JSON file for the figures.
        warmup: iterations left out of the timing.
    """

    priority = 'VERY_LOW'

    def __init__(self, out_file: str, warmup: int = 3) -> None:
        self.out_file = out_file
        self.warmup = int(warmup)
        self.iter_s: List[float] = []
        self.data_s: List[float] = []
        self._start = self._end = None
        self._prof = None
        self.attention: Dict[str, int] = {}

    def _sync(self, runner: Any) -> None:
        device = next(runner.model.parameters()).device
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    def before_train(self, runner: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self._sync(runner)
        now = time.perf_counter()
        if runner.iter == self.warmup:
            from torch.profiler import ProfilerActivity, profile
            self._prof = profile(activities=[ProfilerActivity.CPU])
            self._prof.__enter__()
        elif runner.iter > self.warmup and self._end is not None:
            self.data_s.append(now - self._end)
        self._start = now

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        self._sync(runner)
        now = time.perf_counter()
        if self._prof is not None:
            self._prof.__exit__(None, None, None)
            self.attention = attention_ops(self._prof)
            self._prof = None
        elif runner.iter > self.warmup:
            self.iter_s.append(now - self._start)
        self._end = now

    def figures(self, runner: Any) -> Dict[str, Any]:
        """The measured figures (see the class doc)."""
        batch = runner.train_dataloader.batch_size
        wrapper = runner.optim_wrapper
        scaler = getattr(wrapper, 'loss_scaler', None)
        iter_s = statistics.median(self.iter_s) if self.iter_s else None
        device = next(runner.model.parameters()).device
        return dict(
            iters_timed=len(self.iter_s), batch=batch, world_size=runner.world_size,
            iter_s=iter_s, data_s=statistics.median(self.data_s) if self.data_s else None,
            clips_per_s=batch * runner.world_size / iter_s if iter_s else None,
            max_memory_allocated_gib=(torch.cuda.max_memory_allocated(device) / 2 ** 30
                                      if device.type == 'cuda' else None),
            attention_ops=self.attention, device=str(device),
            optim_wrapper=type(wrapper).__name__,
            dtype=str(getattr(wrapper, 'cast_dtype', None)).replace('torch.', ''),
            loss_scale=(None if scaler is None or not scaler.is_enabled()
                        else float(scaler.get_scale())))

    def after_train(self, runner: Any) -> None:
        if runner.rank == 0:
            atomic_write_json(self.out_file, self.figures(runner))


def benchmark_config(config: str, out_file: str, work_dir: str, iters: int = 20,
                     batch: Optional[int] = None, launcher: str = 'none', warmup: int = 3,
                     num_workers: int = 4, cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """Train ``config`` for ``iters`` iterations on :class:`SyntheticClipDataset` clips.

    Args:
        config: a pre-training or fine-tuning config file.
        out_file: where :class:`SurgVistaBenchmarkHook` writes its JSON figures.
        work_dir: the Runner's work dir (logs; no checkpoint is written).
        iters: iterations per rank (one epoch of ``iters x batch`` samples).
        batch: clips per iteration and rank (None: the config's ``train_dataloader``'s).
        launcher: 'none' or 'pytorch' (torchrun; NCCL on CUDA).
        warmup: iterations left out of the timing.
        num_workers: DataLoader workers.
        cfg_options: further config overrides (e.g. a smaller model for a CPU dry run).

    Returns:
        the figures (rank 0), also written to ``out_file``.
    """
    from surgvista_mm.utils.cli import build_runner
    from surgvista_mm.utils.config_check import load_config
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir
    cfg.resume, cfg.load_from = False, None
    loader = cfg.train_dataloader
    batch = int(batch or loader.batch_size)
    masking = [dict(t) for t in loader.dataset.get('pipeline', []) if t['type'] == 'TubeMasking']
    model = cfg.model
    head = model.get('cls_head') or {}
    backbone = model.backbone
    world = int(os.environ.get('WORLD_SIZE', 1))
    cfg.train_dataloader = dict(
        batch_size=batch, num_workers=num_workers, persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(), drop_last=True,
        collate_fn=dict(type='pseudo_collate'),
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='SyntheticClipDataset', num_samples=iters * batch * world,
                     clip_len=backbone.get('num_frames', 16), size=backbone.get('img_size', 224),
                     masking=masking[0] if masking else None,
                     num_classes=head.get('num_classes')))
    if model.get('teacher'):
        model.teacher.checkpoint = None  # random weights, same FLOPs
    if model.get('backbone', {}).get('init_cfg'):
        model.backbone.init_cfg = None  # no pre-trained weights to read
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator', 'test_cfg', 'test_dataloader',
                'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=5)
    cfg.custom_hooks = [dict(type='SurgVistaBenchmarkHook', out_file=out_file, warmup=warmup)]
    cfg.param_scheduler = None  # schedules change the LR only; their epoch lengths do not fit
    runner, _ = build_runner(cfg, config, launcher)
    runner.train()
    if runner.rank == 0:
        with open(out_file) as f:
            return json.load(f)
    return {}
