#!/usr/bin/env python
"""Time and peak memory of one full-size fine-tuning step: ours against mmaction2's ViT.

``ours``: the recognizer of ``configs/finetune/surgvista_vitb_cholec80_phase.py`` (mmaction2's
``Recognizer3D`` + ``SurgVistaViT`` on all 1568 tokens + ``SurgVistaClsHead``, random weights).
``mmaction2``: the same ``Recognizer3D`` with mmaction2's ``VisionTransformer`` (VideoMAE ViT-B,
mean pooling + fc_norm, drop-path 0.1) and ``TimeSformerHead`` (dropout 0.5, Linear): the same
head function. Both: batch ``--batch`` (1) of 16x224x224 clips, 7 classes, hard labels (no
mixup), forward + backward + AdamW (the config's optimizer arguments, for both models).

Variants ``{ours,mmaction2}-{fp32,bf16}`` and ``ours-{fp32,bf16}-cp`` (activation
checkpointing of every block). Each runs in its own subprocess (peak memory per variant),
alternating over ``--reps``; reported: median step time (wall and CPU), and peak memory (CPU:
the process's peak RSS, minus nothing; CUDA: max allocated).

    python tools/benchmark/finetune_step.py [--steps 3] [--reps 1] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'finetune', 'surgvista_vitb_cholec80_phase.py')
VARIANTS = ['ours-fp32', 'mmaction2-fp32', 'ours-bf16', 'mmaction2-bf16', 'ours-fp32-cp',
            'ours-bf16-cp']
ANCHOR = ('issue 9, this machine, fp32: ours-before 6.3-6.6 s / 3.9 GB, mmaction2 9.85 s / '
          '5.5 GB (1.5x, 0.71x); ours-before with checkpointing 8.1 s / 3.1 GB. '
          'Goal: >= 1.8x, <= 0.6x memory at fp32')


def build(name: str):
    """The model of variant ``name`` (random weights) and the config."""
    import surgvista_mm  # noqa: F401  (registers, and applies compat before mmaction imports)
    from mmengine.registry import init_default_scope

    from surgvista_mm.registry import MODELS
    from surgvista_mm.utils import load_config
    cfg = load_config(CONFIG)
    init_default_scope('surgvista_mm')
    mcfg = cfg.model
    mcfg.backbone.init_cfg = None
    mcfg.data_preprocessor.blending = None
    if name.startswith('ours'):
        mcfg.backbone.with_cp = name.endswith('-cp')
        return MODELS.build(mcfg), cfg
    from mmaction.registry import MODELS as MMACTION_MODELS
    init_default_scope('mmaction')
    model = MMACTION_MODELS.build(dict(
        type='Recognizer3D',
        backbone=dict(type='VisionTransformer', img_size=224, patch_size=16, embed_dims=768,
                      depth=12, num_heads=12, mlp_ratio=4, qkv_bias=True, num_frames=16,
                      tubelet_size=2, drop_path_rate=0.1, use_mean_pooling=True),
        cls_head=dict(type='TimeSformerHead', num_classes=mcfg.cls_head.num_classes,
                      in_channels=768, dropout_ratio=0.5, average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               mean=list(mcfg.data_preprocessor.mean),
                               std=list(mcfg.data_preprocessor.std), format_shape='NCTHW')))
    # mmaction2 1.2.0's BaseHead.loss_by_feat computes top-k accuracy through numpy, which
    # has no bfloat16: under bf16 autocast its scores must leave the head as float32.
    head_forward = model.cls_head.forward
    model.cls_head.forward = lambda x, **kw: head_forward(x, **kw).float()
    return model, cfg


def run_variant(name: str, steps: int, batch: int, device_name: str) -> Dict:
    """Time ``steps`` optimizer steps of variant ``name`` in this process."""
    import torch
    from mmaction.structures import ActionDataSample
    model, cfg = build(name)
    device = torch.device(device_name)
    model = model.to(device).train()
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_type = opt_cfg.pop('type')
    optim = getattr(torch.optim, opt_type)(
        [p for p in model.parameters() if p.requires_grad], **opt_cfg)
    dtype = torch.bfloat16 if '-bf16' in name else None
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (1, 3, 16, 224, 224), dtype=torch.uint8, generator=gen)
              for _ in range(batch)]
    samples = []
    for i in range(batch):
        s = ActionDataSample()
        s.set_gt_label(i % 7)
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        loss.backward()  # then step and zero_grad, as mmengine's OptimWrapper.update_params:
        optim.step()     # no gradients are alive during the next forward
        optim.zero_grad(set_to_none=True)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    step()
    wall, cpu = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    if device.type == 'cuda':
        peak_mb, kind = torch.cuda.max_memory_allocated(device) / 2 ** 20, 'GPU max allocated'
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kind = 'process peak RSS'
    return dict(variant=name, step_s=statistics.median(wall), cpu_s=statistics.median(cpu),
                peak_mb=peak_mb, memory=kind, device=str(device),
                threads=torch.get_num_threads(),
                params=sum(p.numel() for p in model.parameters()),
                optimizer=f'{opt_type}({", ".join(f"{k}={v}" for k, v in opt_cfg.items())})')


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--reps', type=int, default=1)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--device', default=None)
    parser.add_argument('--variants', nargs='+', default=VARIANTS, choices=VARIANTS)
    parser.add_argument('--json')
    parser.add_argument('--_child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args._child:
        print(json.dumps(run_variant(args._child, args.steps, args.batch, args.device)))
        return
    runs: Dict[str, List[Dict]] = {n: [] for n in args.variants}
    for rep in range(args.reps):
        for name in args.variants:
            print(f'[{rep + 1}/{args.reps}] running {name} ...', file=sys.stderr, flush=True)
            cmd = [sys.executable, osp.abspath(__file__), '--_child', name, '--steps',
                   str(args.steps), '--batch', str(args.batch), '--device', args.device]
            env = dict(os.environ, PYTHONPATH=ROOT)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f'variant {name} failed (exit {proc.returncode})')
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f'    {runs[name][-1]["step_s"]:.2f} s/step', file=sys.stderr, flush=True)
    rows = {}
    for name, rs in runs.items():
        row = dict(rs[0])
        for key in ('step_s', 'cpu_s', 'peak_mb'):
            row[key] = statistics.median(r[key] for r in rs)
        rows[name] = row
    first = next(iter(rows.values()))
    print(f'\nfine-tuning step, ViT-B 16x224^2 on 1568 tokens, batch {args.batch}, '
          f'{first["device"]} ({first["threads"]} threads), {first["optimizer"]}; median of '
          f'{args.steps} steps x {args.reps} runs; memory = {first["memory"]}')
    print('ratios against mmaction2 at the same precision: speed = its time / this time (wall, '
          'and CPU time: the steadier one on a shared machine), memory = this / its')
    print(f'{"variant":<16}{"s/step":>8}{"cpu s":>8}{"peak MiB":>10}{"speed":>8}'
          f'{"speed cpu":>11}{"memory":>8}')
    for name, r in rows.items():
        prec = 'bf16' if 'bf16' in name else 'fp32'
        mm = rows.get(f'mmaction2-{prec}')
        speed = f'{mm["step_s"] / r["step_s"]:.2f}x' if mm else '-'
        speed_cpu = f'{mm["cpu_s"] / r["cpu_s"]:.2f}x' if mm else '-'
        mem = f'{r["peak_mb"] / mm["peak_mb"]:.2f}x' if mm else '-'
        print(f'{name:<16}{r["step_s"]:>8.2f}{r["cpu_s"]:>8.2f}{r["peak_mb"]:>10.0f}'
              f'{speed:>8}{speed_cpu:>11}{mem:>8}')
    print(f'anchor: {ANCHOR}')
    if args.json:
        from surgvista_mm.utils import atomic_write_json
        atomic_write_json(args.json, list(rows.values()))


if __name__ == '__main__':
    main()
