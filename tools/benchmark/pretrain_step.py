#!/usr/bin/env python
"""Time of one full-size SurgVISTA pre-training step, per precision and attention kernel.

Builds the model of ``configs/pretrain/surgvista_vitb.py`` (ViT-B student, 16x224x224 clips,
ViT-L/16 teacher, random weights) and the optimizer of its ``optim_wrapper`` (AdamW, with the
config's ``fused`` setting), and times full optimizer steps (forward, backward, AdamW) at
batch 2 for each variant. Per variant it also times the teacher's forward alone and the
*student-only* step (the same step with the teacher's features computed beforehand), and
names the attention kernels a profiled forward ran (``aten::*attention*`` ops, or ``bmm``
+ ``softmax`` for the explicit path).

Variants: ``fp32`` / ``bf16`` (autocast; the teacher under its own autocast switch) with the
model's default attention ('auto': chosen per device / dtype), ``*-sdpa`` forcing
``F.scaled_dot_product_attention`` (the previous default), ``*-math`` forcing the explicit
path, ``*-blas`` computing every Linear with ``F.linear`` (PyTorch's BLAS, MKL, instead of
the default oneDNN path for float32 on CPU; ``models.utils.linear``), ``*-compile`` (``torch.compile`` of the model, as mmengine's ``compile=True``), and
``*-base``: the same step run with another checkout's package (``--baseline DIR``, e.g. the
code before the performance work), for a ratio measured alternately in the same run.

Each (variant, repetition) runs in its own subprocess, variants alternating, so peak memory is
per variant and slow phases of the shared machine spread over all variants. Reported: median
over repetitions of the median step, wall-clock and this process's CPU time.

    python tools/benchmark/pretrain_step.py [--steps 3] [--reps 1] [--batch 2] \
        [--variants fp32 bf16 fp32-base bf16-base] [--baseline /tmp/base] [--device cpu]
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
CONFIG = osp.join('configs', 'pretrain', 'surgvista_vitb.py')
PRECISIONS = {'fp32': None, 'bf16': 'bfloat16', 'fp16': 'float16'}
ATTN = {'': None, 'sdpa': 'sdpa', 'math': 'math', 'sdpa-math': 'sdpa-math'}
# The published-implementation figures on this 2-core machine (s/step, batch 2).
ANCHOR = {'fp32': '17.7 (teacher 12.9)', 'bf16': '4.9-5.5 (teacher 3.4-3.9)'}
ANCHOR_OURS_BEFORE = {'fp32': '15.3 (9.9)', 'bf16': '5.2-5.7 (2.9-3.3)'}


def parse_variant(name: str) -> Dict:
    """``'bf16-sdpa'`` -> dict(dtype='bfloat16', attn='sdpa', compile=False, base=False)."""
    parts = name.split('-', 1)
    if parts[0] not in PRECISIONS:
        raise ValueError(f'unknown precision in variant {name!r}')
    rest = parts[1] if len(parts) > 1 else ''
    out = dict(dtype=PRECISIONS[parts[0]], attn=None, compile=False, base=False,
               precision=parts[0], blas=False)
    if rest == 'base':
        out['base'] = True
    elif rest == 'compile':
        out['compile'] = True
    elif rest == 'blas':
        out['blas'] = True
    elif rest in ATTN:
        out['attn'] = ATTN[rest]
    else:
        raise ValueError(f'unknown variant {name!r}')
    return out


def _sync(device) -> None:
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _timed(fn, steps: int, device) -> Dict[str, float]:
    """Median wall and CPU seconds of ``steps`` calls of ``fn``."""
    wall, cpu = [], []
    for _ in range(steps):
        _sync(device)
        t, c = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return dict(wall=statistics.median(wall), cpu=statistics.median(cpu))


def run_variant(name: str, steps: int, batch: int, device_name: str, root: str,
                config: str = CONFIG) -> Dict:
    """Time ``steps`` optimizer steps of one variant in this process (package from ``root``,
    ``config`` relative to it)."""
    sys.path.insert(0, root)
    import torch
    from mmengine.registry import init_default_scope

    import surgvista_mm  # noqa: F401
    from surgvista_mm.registry import MODELS
    from surgvista_mm.utils import load_config

    var = parse_variant(name)
    device = torch.device(device_name)
    cfg = load_config(osp.join(root, config))
    init_default_scope('surgvista_mm')
    model_cfg = cfg.model
    model_cfg.teacher.checkpoint = None  # random weights: the timing does not depend on them
    # the teacher runs under its own autocast switch: on for the reduced-precision variants
    model_cfg.teacher.autocast = var['dtype'] is not None
    if var['dtype']:
        model_cfg.teacher.autocast_dtype = var['dtype']
    if var['attn']:
        for key in ('backbone', 'pixel_decoder', 'distill_decoder'):
            model_cfg[key]['fused_attn'] = var['attn']
    if var['blas']:  # every Linear through F.linear (PyTorch's BLAS path), not oneDNN
        for key in ('backbone', 'pixel_decoder', 'distill_decoder', 'teacher'):
            model_cfg[key]['linear_impl'] = 'torch'
    model = MODELS.build(model_cfg).to(device)
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_type = opt_cfg.pop('type')
    params = [p for p in model.parameters() if p.requires_grad]
    optim = getattr(torch.optim, opt_type)(params, **opt_cfg)
    t, size = cfg.num_frames, cfg.img_size
    inputs = torch.randint(0, 256, (batch, 3, t, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
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
    run_model = torch.compile(model) if var['compile'] else model

    def autocast():
        if var['dtype']:
            return torch.autocast(device.type, dtype=getattr(torch, var['dtype']))
        return torch.autocast(device.type, enabled=False)

    def step() -> None:
        with autocast():
            losses = run_model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        loss.backward()  # then step and zero_grad, as mmengine's OptimWrapper.update_params
        optim.step()
        optim.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    step()  # warm-up (allocations, kernel selection, compilation)
    warmup_s = time.perf_counter() - t0
    full = _timed(step, steps, device)

    teacher = model.teacher
    with torch.no_grad():  # the teacher applies its own autocast setting
        teacher(data['inputs'])
        teach = _timed(lambda: teacher(data['inputs']), steps, device)
        features = teacher(data['inputs'])

    class _Cached(torch.nn.Module):  # the teacher's features, computed once
        def forward(self, clip):  # noqa: ANN001
            return features

    object.__setattr__(model, '_teacher', _Cached())  # benchmark only: student-only step
    step()
    student = _timed(step, steps, device)
    kernels = attention_kernels(lambda: run_model(**data, mode='loss'), autocast)
    object.__setattr__(model, '_teacher', teacher)
    teacher_kernels = attention_kernels(lambda: teacher(data['inputs']), autocast)
    if device.type == 'cuda':
        peak_mb = torch.cuda.max_memory_allocated(device) / 2 ** 20
        mem_kind = 'GPU max allocated'
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mem_kind = 'process peak RSS'
    return dict(variant=name, device=str(device), batch=batch, threads=torch.get_num_threads(),
                step_s=full['wall'], step_cpu_s=full['cpu'], teacher_s=teach['wall'],
                teacher_cpu_s=teach['cpu'], student_s=student['wall'],
                student_cpu_s=student['cpu'], warmup_s=warmup_s, kernels=kernels,
                teacher_kernels=teacher_kernels, peak_mb=peak_mb, memory=mem_kind,
                optimizer=f'{opt_type}({", ".join(f"{k}={v}" for k, v in opt_cfg.items())})')


def attention_kernels(fn, autocast) -> str:  # noqa: ANN001
    """Attention-related ops of one profiled no-grad call of ``fn``, ``name xcount``."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        acts.append(ProfilerActivity.CUDA)
    with torch.no_grad(), autocast(), profile(activities=acts) as prof:
        fn()
    names = {}
    for e in prof.key_averages():
        if 'attention' in e.key or e.key in ('aten::bmm', 'aten::_softmax'):
            names[e.key] = e.count
        elif e.key == 'aten::logsumexp':  # only the blocked oneDNN attention uses it
            names['onednn blocked attention (logsumexp)'] = e.count
    return ', '.join(f'{k.replace("aten::", "")} x{c}' for k, c in sorted(names.items())) or '-'


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=3, help='timed steps per run (median)')
    parser.add_argument('--reps', type=int, default=1, help='alternating runs per variant')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda if present)')
    parser.add_argument('--variants', nargs='+', default=['fp32', 'bf16', 'bf16-sdpa'])
    parser.add_argument('--baseline', default=None,
                        help='checkout whose package the *-base variants run')
    parser.add_argument('--config', default=CONFIG, help='pre-training config (relative)')
    parser.add_argument('--json', help='write the figures to this file')
    parser.add_argument('--_child', help=argparse.SUPPRESS)
    parser.add_argument('--_root', default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args._child:
        print(json.dumps(run_variant(args._child, args.steps, args.batch, args.device,
                                     args._root, args.config)))
        return
    for name in args.variants:
        if parse_variant(name)['base'] and not args.baseline:
            parser.error(f'variant {name} needs --baseline DIR')
    runs: Dict[str, List[Dict]] = {n: [] for n in args.variants}
    for rep in range(args.reps):
        for name in args.variants:
            root = args.baseline if parse_variant(name)['base'] else ROOT
            cmd = [sys.executable, osp.abspath(__file__), '--_child', name.replace('-base', ''),
                   '--steps', str(args.steps), '--batch', str(args.batch), '--device',
                   args.device, '--_root', osp.abspath(root), '--config', args.config]
            print(f'[{rep + 1}/{args.reps}] running {name} ...', file=sys.stderr, flush=True)
            env = dict(os.environ, PYTHONPATH=osp.abspath(root))
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f'variant {name} failed (exit {proc.returncode})')
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row['variant'] = name
            runs[name].append(row)
            print(f'    {name}: {row["step_s"]:.2f} s/step (cpu {row["step_cpu_s"]:.2f})',
                  file=sys.stderr, flush=True)
    rows = []
    for name, rs in runs.items():
        row = dict(rs[0])
        for key in ('step_s', 'step_cpu_s', 'teacher_s', 'teacher_cpu_s', 'student_s',
                    'student_cpu_s', 'peak_mb'):
            row[key] = statistics.median(r[key] for r in rs)
        row['step_s_all'] = [r['step_s'] for r in rs]
        rows.append(row)
    first = rows[0]
    print(f'\nSurgVISTA pre-training step, ViT-B 16x224^2 + ViT-L/16 teacher, batch {args.batch},'
          f' {first["device"]} ({first["threads"]} threads), {first["optimizer"]}; median of '
          f'{args.steps} steps x {args.reps} alternating runs; memory = {first["memory"]}')
    print(f'{"variant":<14}{"s/step":>8}{"cpu s":>8}{"teacher":>9}{"student":>9}'
          f'{"peak MiB":>10}  attention kernels (student+decoders | teacher)')
    for r in rows:
        print(f'{r["variant"]:<14}{r["step_s"]:>8.2f}{r["step_cpu_s"]:>8.2f}'
              f'{r["teacher_s"]:>9.2f}{r["student_s"]:>9.2f}{r["peak_mb"]:>10.0f}  '
              f'{r["kernels"]} | {r["teacher_kernels"]}')
    by_name = {r['variant']: r for r in rows}
    print('\nratios (baseline time / this time; > 1 = faster), from the same run:')
    for r in rows:
        prec = r['variant'].split('-')[0]
        base = by_name.get(f'{prec}-base')
        if base is not None and r is not base:
            print(f'  {r["variant"]:<12} vs {prec}-base: step {base["step_s"] / r["step_s"]:.2f}x '
                  f'(cpu {base["step_cpu_s"] / r["step_cpu_s"]:.2f}x), student-only '
                  f'{base["student_s"] / r["student_s"]:.2f}x, teacher '
                  f'{base["teacher_s"] / r["teacher_s"]:.2f}x')
    print('anchors (issue 9, this machine, s/step (teacher s)): published fp32 '
          f'{ANCHOR["fp32"]}, bf16 {ANCHOR["bf16"]}; ours before: fp32 '
          f'{ANCHOR_OURS_BEFORE["fp32"]}, bf16 {ANCHOR_OURS_BEFORE["bf16"]}. Estimate vs '
          'published = (ratio vs base) x (base vs published: 1.16x fp32, 0.93-0.97x bf16).')
    if args.json:
        from surgvista_mm.utils import atomic_write_json
        atomic_write_json(args.json, rows)


if __name__ == '__main__':
    main()
