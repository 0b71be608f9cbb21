#!/usr/bin/env python
"""Throughput and peak memory of one full-size SurgVISTA pre-training step.

Builds the model of ``configs/pretrain/surgvista_vitb.py`` (ViT-B student, 16x224x224 clips,
ViT-L/16 teacher, random weights) and times full optimizer steps (forward, backward, AdamW) at
batch 2 for each variant: fp32 / bf16 autocast, fused / unfused attention. Each variant runs in
its own subprocess because peak memory only grows within a process. Also times the teacher's
forward alone to give its share of the step. Prints a table; ``--json`` writes the figures.

    python tools/benchmark/pretrain_step.py [--steps 2] [--batch 2] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
CONFIG = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_vitb.py')
VARIANTS = {  # name: (autocast dtype or None, fused attention)
    'fp32': (None, True),
    'bf16': ('bfloat16', True),
    'fp32-unfused': (None, False),
    'bf16-unfused': ('bfloat16', False),
}


def _sync(device) -> None:
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def run_variant(name: str, steps: int, batch: int, device_name: str, config: str) -> Dict:
    """Time ``steps`` optimizer steps of one variant in this process."""
    import torch
    from mmengine.registry import init_default_scope

    import surgvista_mm  # noqa: F401
    from surgvista_mm.registry import MODELS
    from surgvista_mm.utils import load_config

    dtype_name, fused = VARIANTS[name]
    device = torch.device(device_name)
    cfg = load_config(config)
    init_default_scope('surgvista_mm')
    model_cfg = cfg.model
    model_cfg.teacher.checkpoint = None  # random weights: the timing does not depend on them
    # the teacher runs under its own autocast switch: on for the bf16 variants only
    model_cfg.teacher.autocast = dtype_name is not None
    if dtype_name:
        model_cfg.teacher.autocast_dtype = dtype_name
    for key in ('backbone', 'pixel_decoder', 'distill_decoder'):
        model_cfg[key]['fused_attn'] = fused
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    t, size = cfg.num_frames, cfg.img_size
    inputs = torch.randint(0, 256, (batch, 3, t, size, size), dtype=torch.uint8)
    from mmaction.structures import ActionDataSample

    from surgvista_mm.models.utils.masking import tube_mask_torch
    grid = (t // cfg.tubelet_size, size // cfg.patch_size, size // cfg.patch_size)
    masks = tube_mask_torch(batch, grid, 0.85)
    samples = []
    for i in range(batch):
        s = ActionDataSample()
        s.set_field(masks[i], 'mask')
        s.set_metainfo(dict(video_id='bench', frame_index=i))
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=list(inputs), data_samples=samples), True)
    autocast = (torch.autocast(device.type, dtype=getattr(torch, dtype_name)) if dtype_name
                else torch.autocast(device.type, enabled=False))

    def step() -> None:
        with autocast:
            losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    step()  # warm-up (allocations, kernel selection)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    step_s = (time.perf_counter() - start) / steps

    teacher_s = float('nan')
    teacher = getattr(model, 'teacher', None)
    if teacher is not None:
        with torch.no_grad():  # the teacher applies its own autocast setting
            teacher(data['inputs'])
            _sync(device)
            start = time.perf_counter()
            for _ in range(steps):
                teacher(data['inputs'])
            _sync(device)
        teacher_s = (time.perf_counter() - start) / steps
    if device.type == 'cuda':
        peak_mb = torch.cuda.max_memory_allocated(device) / 2 ** 20
        mem_kind = 'GPU max allocated'
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mem_kind = 'process peak RSS'
    return dict(variant=name, device=str(device), batch=batch, step_s=step_s,
                clips_per_s=batch / step_s, teacher_s=teacher_s,
                teacher_share=teacher_s / step_s, peak_mb=peak_mb, memory=mem_kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=2, help='timed steps per variant')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda if present)')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--json', help='write the figures to this file')
    parser.add_argument('--_child', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args._child:
        print(json.dumps(run_variant(args._child, args.steps, args.batch, args.device,
                                     args.config)))
        return
    rows: List[Dict] = []
    for name in args.variants:
        cmd = [sys.executable, osp.abspath(__file__), '--_child', name, '--steps',
               str(args.steps), '--batch', str(args.batch), '--device', args.device,
               '--config', args.config]
        print(f'running {name} ...', file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f'variant {name} failed (exit {proc.returncode})')
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f'\nSurgVISTA pre-training step, ViT-B 16x224^2 + ViT-L/16 teacher, batch {args.batch},'
          f' {rows[0]["device"]}, {rows[0]["memory"]}')
    print('unfused = explicit softmax(QK^T)V in the student and decoders; the teacher always '
          'uses fused attention')
    print(f'{"variant":<14}{"s/step":>9}{"clips/s":>9}{"teacher s":>11}{"teacher %":>11}'
          f'{"peak MiB":>10}')
    for r in rows:
        print(f'{r["variant"]:<14}{r["step_s"]:>9.2f}{r["clips_per_s"]:>9.3f}'
              f'{r["teacher_s"]:>11.2f}{100 * r["teacher_share"]:>10.0f}%{r["peak_mb"]:>10.0f}')
    if args.json:
        from surgvista_mm.utils import atomic_write_json
        atomic_write_json(args.json, rows)


if __name__ == '__main__':
    main()
