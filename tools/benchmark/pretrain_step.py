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
the oneDNN path 'auto' takes for float32 on non-Intel CPUs; ``models.utils.linear``),
``*-compile`` (``torch.compile`` of the model, as mmengine's ``compile=True``), and
``*-base``: the same step run with another checkout's package (``--baseline DIR``, e.g. the
code before the performance work), for a ratio measured alternately in the same run.

With a config without a teacher (``configs/pretrain/surgvista_vitb_no_kd.py``, plain video
MAE) only the full step is timed.

``--peer hf`` adds, for each precision, ``<precision>-hf``: Hugging Face transformers'
``VideoMAEForPreTraining`` on the same work (ViT-B 16x224x224, tubelet 2, decoder 4 x 384 / 6
heads, MLP 4x, norm-pix target, a tube mask of ``int(0.85 * 196) = 166`` of 196 positions per
time slice, the same AdamW settings, random weights, its default attention implementation), in
the same run, alternating with ours. transformers is an optional, benchmark-only dependency that
the package never imports; install it into the environment that runs this script::

    pip install 'transformers>=5'     # or into a separate folder put on PYTHONPATH

(with transformers 5, ``import surgvista_mm`` needs compat item 8, which is in place.)

``--threads 1 2`` repeats everything at each thread count (``OMP_NUM_THREADS`` and
``torch.set_num_threads`` in each child), alternating.

Each (variant, threads, repetition) runs in its own subprocess, variants alternating, so peak
memory is per variant and slow phases of the shared machine spread over all variants. Reported:
median over repetitions of the median step (and every repetition's value), wall-clock and the
process's CPU time, and memory: on CPU the process's peak RSS and its rise over the RSS after
the imports (``model MiB``: weights, gradients, optimizer state, activations, allocator slack;
the import footprints of the two libraries differ), on CUDA ``max_memory_allocated``.

    python tools/benchmark/pretrain_step.py [--steps 3] [--reps 1] [--batch 2] \
        [--variants fp32 bf16 fp32-base bf16-base] [--baseline /tmp/base] [--device cpu]
    python tools/benchmark/pretrain_step.py --config configs/pretrain/surgvista_vitb_no_kd.py \
        --variants fp32 bf16 --peer hf --threads 1 2 --reps 3 --steps 3
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
MASK_RATIO = 0.85  # the config's TubeMasking ratio: 166 of 196 positions per slice
ANCHOR_OURS_BEFORE = {'fp32': '15.3 (9.9)', 'bf16': '5.2-5.7 (2.9-3.3)'}


def parse_variant(name: str) -> Dict:
    """``'bf16-sdpa'`` -> dict(dtype='bfloat16', attn='sdpa', compile=False, base=False)."""
    parts = name.split('-', 1)
    if parts[0] not in PRECISIONS:
        raise ValueError(f'unknown precision in variant {name!r}')
    rest = parts[1] if len(parts) > 1 else ''
    out = dict(dtype=PRECISIONS[parts[0]], attn=None, compile=False, base=False,
               precision=parts[0], blas=False, hf=False)
    if rest == 'hf':
        out['hf'] = True
    elif rest == 'base':
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


def _rss_mb() -> float:
    """This process's resident set now, MiB (Linux ``/proc/self/statm``)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def _memory(device, rss_before_mb: float) -> Dict:
    """Peak memory of this process: CUDA ``max_memory_allocated``, or on CPU the peak RSS and its
    rise over ``rss_before_mb`` (the RSS after the imports, before the model was built)."""
    import torch
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 20
        return dict(peak_mb=peak, model_mb=peak, memory='GPU max allocated')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(peak_mb=peak, model_mb=peak - rss_before_mb, memory='process peak RSS')


def _make_optimizer(cfg, params):  # noqa: ANN001, ANN202
    """The config's optimizer (one group) over ``params``, and its description."""
    import torch
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_type = opt_cfg.pop('type')
    optim = getattr(torch.optim, opt_type)(params, **opt_cfg)
    return optim, f'{opt_type}({", ".join(f"{k}={v}" for k, v in opt_cfg.items())})'


def _autocast_factory(device, dtype: Optional[str]):  # noqa: ANN001, ANN202
    import torch

    def autocast():
        if dtype:
            return torch.autocast(device.type, dtype=getattr(torch, dtype))
        return torch.autocast(device.type, enabled=False)
    return autocast


def _timed_steps(forward_loss, optim, autocast, steps: int, device) -> Dict:  # noqa: ANN001
    """Warm-up step, then the median of ``steps`` full optimizer steps of ``forward_loss``."""
    def step() -> None:
        with autocast():
            loss = forward_loss()
        loss.backward()  # then step and zero_grad, as mmengine's OptimWrapper.update_params
        optim.step()
        optim.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    step()  # warm-up (allocations, kernel selection, compilation)
    warmup_s = time.perf_counter() - t0
    return dict(warmup_s=warmup_s, step=step, **_timed(step, steps, device))


def run_variant(name: str, steps: int, batch: int, device_name: str, root: str,
                config: str = CONFIG, profile_top: int = 0) -> Dict:
    """Time ``steps`` optimizer steps of one variant in this process (package from ``root``,
    ``config`` relative to it); ``profile_top`` > 0: also profile one step
    (:func:`profile_step`)."""
    var = parse_variant(name)
    if var['hf']:
        return run_hf_variant(name, steps, batch, device_name, root, config, profile_top)
    sys.path.insert(0, root)
    import torch
    from mmengine.registry import init_default_scope

    import surgvista_mm  # noqa: F401
    from surgvista_mm.registry import MODELS
    from surgvista_mm.utils import load_config

    device = torch.device(device_name)
    cfg = load_config(osp.join(root, config))
    init_default_scope('surgvista_mm')
    model_cfg = cfg.model
    with_teacher = model_cfg.get('teacher') is not None
    if with_teacher:
        model_cfg.teacher.checkpoint = None  # random weights: the timing does not depend on them
        # the teacher runs under its own autocast switch: on for the reduced-precision variants
        model_cfg.teacher.autocast = var['dtype'] is not None
        if var['dtype']:
            model_cfg.teacher.autocast_dtype = var['dtype']
    parts = [k for k in ('backbone', 'pixel_decoder', 'distill_decoder', 'teacher')
             if model_cfg.get(k) is not None]
    if var['attn']:
        for key in parts:
            if key != 'teacher':
                model_cfg[key]['fused_attn'] = var['attn']
    if var['blas']:  # every Linear through F.linear (PyTorch's BLAS path), not oneDNN
        for key in parts:
            model_cfg[key]['linear_impl'] = 'torch'
    rss_before = _rss_mb()
    model = MODELS.build(model_cfg).to(device)
    optim, opt_desc = _make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    t, size = cfg.num_frames, cfg.img_size
    inputs = torch.randint(0, 256, (batch, 3, t, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    from mmaction.structures import ActionDataSample

    from surgvista_mm.models.utils.masking import tube_mask_torch
    grid = (t // cfg.tubelet_size, size // cfg.patch_size, size // cfg.patch_size)
    masks = tube_mask_torch(batch, grid, MASK_RATIO)
    samples = []
    for i in range(batch):
        s = ActionDataSample()
        s.set_field(masks[i], 'mask')
        s.set_metainfo(dict(video_id='bench', frame_index=i))
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=list(inputs), data_samples=samples), True)
    run_model = torch.compile(model) if var['compile'] else model
    autocast = _autocast_factory(device, var['dtype'])

    def forward_loss():  # noqa: ANN202
        losses = run_model(**data, mode='loss')
        return sum(v for k, v in losses.items() if 'loss' in k)

    full = _timed_steps(forward_loss, optim, autocast, steps, device)
    row = dict(variant=name, impl='surgvista_mm', device=str(device), batch=batch,
               threads=torch.get_num_threads(), step_s=full['wall'], step_cpu_s=full['cpu'],
               warmup_s=full['warmup_s'], optimizer=opt_desc,
               teacher_s=None, teacher_cpu_s=None, student_s=None, student_cpu_s=None,
               teacher_kernels='-')
    if with_teacher:
        teacher = model.teacher
        with torch.no_grad():  # the teacher applies its own autocast setting
            teacher(data['inputs'])
            teach = _timed(lambda: teacher(data['inputs']), steps, device)
            features = teacher(data['inputs'])

        class _Cached(torch.nn.Module):  # the teacher's features, computed once
            def forward(self, clip):  # noqa: ANN001
                return features

        object.__setattr__(model, '_teacher', _Cached())  # benchmark only: student-only step
        full['step']()
        student = _timed(full['step'], steps, device)
        row.update(teacher_s=teach['wall'], teacher_cpu_s=teach['cpu'],
                   student_s=student['wall'], student_cpu_s=student['cpu'])
    row.update(_memory(device, rss_before))  # before the profiled calls below
    row['profile'] = profile_step(full['step'], profile_top) if profile_top else None
    row['kernels'] = attention_kernels(lambda: run_model(**data, mode='loss'), autocast)
    if with_teacher:
        object.__setattr__(model, '_teacher', teacher)
        row['teacher_kernels'] = attention_kernels(lambda: teacher(data['inputs']), autocast)
    return row


def hf_videomae_model(cfg, model_cfg):  # noqa: ANN001, ANN201
    """transformers' ``VideoMAEForPreTraining`` with the sizes of our pre-training config
    (random weights; benchmark only: the package never imports transformers)."""
    try:
        from transformers import VideoMAEConfig, VideoMAEForPreTraining
    except ImportError as err:
        raise SystemExit(f'--peer hf needs transformers (pip install "transformers>=5"): {err}')
    enc, dec = model_cfg.backbone, model_cfg.pixel_decoder
    hf_cfg = VideoMAEConfig(
        image_size=cfg.img_size, patch_size=cfg.patch_size, num_channels=3,
        num_frames=cfg.num_frames, tubelet_size=cfg.tubelet_size, hidden_size=enc.embed_dims,
        num_hidden_layers=enc.depth, num_attention_heads=enc.num_heads,
        intermediate_size=int(enc.embed_dims * enc.mlp_ratio), hidden_act='gelu',
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, qkv_bias=True,
        use_mean_pooling=True, decoder_num_attention_heads=dec.num_heads,
        decoder_hidden_size=dec.embed_dims, decoder_num_hidden_layers=dec.depth,
        decoder_intermediate_size=int(dec.embed_dims * dec.get('mlp_ratio', 4.0)),
        norm_pix_loss=True)
    return VideoMAEForPreTraining(hf_cfg)


def _tube_masks(batch: int, grid, ratio: float, seed: int = 0):  # noqa: ANN001, ANN202
    """Bool ``[batch, T'*H'*W']`` tube masks, ``int(ratio * H'W')`` positions per slice (as
    ``surgvista_mm.models.utils.masking``, written out so the peer's process does not import
    the package)."""
    import torch
    t, h, w = grid
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(batch, h * w, dtype=torch.bool)
    for i in range(batch):
        masks[i, torch.randperm(h * w, generator=gen)[:int(ratio * h * w)]] = True
    return masks.repeat(1, t)


def run_hf_variant(name: str, steps: int, batch: int, device_name: str, root: str,
                   config: str = CONFIG, profile_top: int = 0) -> Dict:
    """Time transformers' ``VideoMAEForPreTraining`` on the same work as :func:`run_variant`
    (called in a child that has not imported ``surgvista_mm``)."""
    import torch
    from mmengine.config import Config

    var = parse_variant(name)
    device = torch.device(device_name)
    cfg = Config.fromfile(osp.join(root, config))
    import transformers
    rss_before = _rss_mb()
    model = hf_videomae_model(cfg, cfg.model).to(device).train()
    optim, opt_desc = _make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    t, size = cfg.num_frames, cfg.img_size
    clips = torch.randint(0, 256, (batch, 3, t, size, size), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    mean = torch.tensor(cfg.model.data_preprocessor.mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(cfg.model.data_preprocessor.std).view(1, 3, 1, 1, 1)
    # transformers takes [B, T, C, H, W], normalised (ImageNet mean / std, as ours)
    pixels = ((clips.float() - mean) / std).permute(0, 2, 1, 3, 4).contiguous().to(device)
    grid = (t // cfg.tubelet_size, size // cfg.patch_size, size // cfg.patch_size)
    masks = _tube_masks(batch, grid, MASK_RATIO).to(device)
    autocast = _autocast_factory(device, var['dtype'])

    def forward_loss():  # noqa: ANN202
        return model(pixel_values=pixels, bool_masked_pos=masks).loss

    full = _timed_steps(forward_loss, optim, autocast, steps, device)
    row = dict(variant=name, impl=f'transformers {transformers.__version__} '
               f'({model.config._attn_implementation})', device=str(device), batch=batch,
               threads=torch.get_num_threads(), step_s=full['wall'], step_cpu_s=full['cpu'],
               warmup_s=full['warmup_s'], optimizer=opt_desc, teacher_s=None,
               teacher_cpu_s=None, student_s=None, student_cpu_s=None, teacher_kernels='-')
    row.update(_memory(device, rss_before))
    row['profile'] = profile_step(full['step'], profile_top) if profile_top else None
    row['kernels'] = attention_kernels(forward_loss, autocast)
    return row


def profile_step(step, top: int) -> List[List]:  # noqa: ANN001
    """``[op, self CPU ms, calls]`` of the ``top`` ops by self CPU time in one profiled call
    of ``step`` (a full optimizer step), plus a ``'total'`` row."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = [[e.key, round(e.self_cpu_time_total / 1e3, 1), e.count] for e in events[:top]]
    rows.append(['total', round(sum(e.self_cpu_time_total for e in events) / 1e3, 1), 0])
    return rows


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


def _fmt(value: Optional[float], width: int, digits: int = 2) -> str:
    return f'{value:>{width}.{digits}f}' if value is not None else f'{"-":>{width}}'


def _run_child(name: str, threads: Optional[int], args, root: str) -> Dict:  # noqa: ANN001
    """One (variant, thread count) run in a fresh interpreter; its figures."""
    cmd = [sys.executable, osp.abspath(__file__), '--_child', name.replace('-base', ''),
           '--steps', str(args.steps), '--batch', str(args.batch), '--device', args.device,
           '--_root', osp.abspath(root), '--config', args.config, '--profile',
           str(args.profile)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [osp.abspath(root)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep)
                               if p]))
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
        cmd += ['--_threads', str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f'variant {name} failed (exit {proc.returncode})')
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row['variant'] = name
    return row


def _summarise(rs: List[Dict]) -> Dict:
    row = dict(rs[0])
    for key in ('step_s', 'step_cpu_s', 'teacher_s', 'teacher_cpu_s', 'student_s',
                'student_cpu_s', 'peak_mb', 'model_mb'):
        if rs[0].get(key) is not None:
            row[key] = statistics.median(r[key] for r in rs)
    row['step_s_all'] = [round(r['step_s'], 3) for r in rs]
    row['peak_mb_all'] = [round(r['peak_mb']) for r in rs]
    return row


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=int, default=3, help='timed steps per run (median)')
    parser.add_argument('--reps', type=int, default=1, help='alternating runs per variant')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda if present)')
    parser.add_argument('--variants', nargs='+', default=['fp32', 'bf16', 'bf16-sdpa'])
    parser.add_argument('--peer', choices=['hf'], default=None,
                        help="'hf': also time transformers' VideoMAEForPreTraining on the same "
                             'work (<precision>-hf per precision; needs transformers)')
    parser.add_argument('--threads', type=int, nargs='+', default=None,
                        help='thread counts to run each variant at (default: the inherited)')
    parser.add_argument('--baseline', default=None,
                        help='checkout whose package the *-base variants run')
    parser.add_argument('--config', default=CONFIG, help='pre-training config (relative)')
    parser.add_argument('--json', help='write the figures to this file')
    parser.add_argument('--profile', type=int, default=0, metavar='N',
                        help='profile one more step per run (torch.profiler) and print the N '
                             'ops with the most self CPU time')
    parser.add_argument('--_child', help=argparse.SUPPRESS)
    parser.add_argument('--_threads', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--_root', default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args._child:
        if args._threads:
            import torch
            torch.set_num_threads(args._threads)
        print(json.dumps(run_variant(args._child, args.steps, args.batch, args.device,
                                     args._root, args.config, args.profile)))
        return
    variants = list(args.variants)
    for name in args.variants:
        if parse_variant(name)['base'] and not args.baseline:
            parser.error(f'variant {name} needs --baseline DIR')
    if args.peer == 'hf':
        for prec in dict.fromkeys(parse_variant(n)['precision'] for n in args.variants):
            if f'{prec}-hf' not in variants:
                variants.append(f'{prec}-hf')
    thread_list = args.threads or [None]
    runs: Dict[tuple, List[Dict]] = {(th, n): [] for th in thread_list for n in variants}
    for rep in range(args.reps):
        for th in thread_list:
            for name in variants:
                root = args.baseline if parse_variant(name)['base'] else ROOT
                print(f'[{rep + 1}/{args.reps}] running {name} ({th or "default"} threads) ...',
                      file=sys.stderr, flush=True)
                row = _run_child(name, th, args, root)
                runs[(th, name)].append(row)
                print(f'    {name}: {row["step_s"]:.2f} s/step (cpu {row["step_cpu_s"]:.2f}), '
                      f'peak {row["peak_mb"]:.0f} MiB', file=sys.stderr, flush=True)
    rows = [_summarise(rs) for rs in runs.values()]
    first = rows[0]
    teacher = any(r.get('teacher_s') is not None for r in rows)
    what = 'ViT-B 16x224^2 + ViT-L/16 teacher' if teacher else 'ViT-B 16x224^2, no teacher'
    print(f'\nSurgVISTA pre-training step ({args.config}), {what}, batch {args.batch}, '
          f'{first["device"]}, {first["optimizer"]}; median of {args.steps} steps x {args.reps} '
          f'alternating runs; memory = {first["memory"]} (model MiB: its rise over the RSS '
          'after the imports)')
    print(f'{"thr":>3} {"variant":<10}{"s/step":>8}{"cpu s":>8}{"teacher":>9}{"student":>9}'
          f'{"peak MiB":>10}{"model MiB":>10}  runs (s/step)  implementation | attention '
          'kernels (student+decoders | teacher)')
    for r in rows:
        print(f'{r["threads"]:>3} {r["variant"]:<10}{r["step_s"]:>8.2f}{r["step_cpu_s"]:>8.2f}'
              f'{_fmt(r.get("teacher_s"), 9)}{_fmt(r.get("student_s"), 9)}'
              f'{r["peak_mb"]:>10.0f}{r["model_mb"]:>10.0f}  {r["step_s_all"]}  {r["impl"]} | '
              f'{r["kernels"]} | {r["teacher_kernels"]}')
    by_key = {(r['threads'], r['variant']): r for r in rows}
    print('\nratios (other time / this time; > 1 = this is faster), from the same run:')
    for r in rows:
        prec = r['variant'].split('-')[0]
        if r['variant'].endswith(('-base', '-hf')):
            continue
        base = by_key.get((r['threads'], f'{prec}-base'))
        if base is not None:
            line = (f'step {base["step_s"] / r["step_s"]:.2f}x '
                    f'(cpu {base["step_cpu_s"] / r["step_cpu_s"]:.2f}x)')
            if r.get('student_s') and base.get('student_s'):
                line += (f', student-only {base["student_s"] / r["student_s"]:.2f}x, teacher '
                         f'{base["teacher_s"] / r["teacher_s"]:.2f}x')
            print(f'  {r["threads"]} thr {r["variant"]:<12} vs {prec}-base: {line}')
        peer = by_key.get((r['threads'], f'{prec}-hf'))
        if peer is not None:
            per_rep = [round(a / b, 2) for a, b in zip(peer['step_s_all'], r['step_s_all'])]
            print(f'  {r["threads"]} thr {r["variant"]:<12} vs {prec}-hf ({peer["impl"]}): '
                  f'step {peer["step_s"] / r["step_s"]:.2f}x (per run {per_rep}; cpu '
                  f'{peer["step_cpu_s"] / r["step_cpu_s"]:.2f}x), peak memory '
                  f'{r["peak_mb"] / peer["peak_mb"]:.2f}x theirs (model '
                  f'{r["model_mb"] / peer["model_mb"]:.2f}x)')
    if teacher:
        print('anchors (issue 9, this machine, s/step (teacher s)): published fp32 '
              f'{ANCHOR["fp32"]}, bf16 {ANCHOR["bf16"]}; ours before: fp32 '
              f'{ANCHOR_OURS_BEFORE["fp32"]}, bf16 {ANCHOR_OURS_BEFORE["bf16"]}. Estimate vs '
              'published = (ratio vs base) x (base vs published: 1.16x fp32, 0.93-0.97x bf16).')
    for r in rows:
        if r.get('profile'):
            print(f'\nprofile of one step, {r["threads"]} threads, {r["variant"]} (self CPU ms, '
                  'calls; last repetition):')
            for op, ms, calls in r['profile']:
                print(f'  {ms:>9.1f} {calls:>6}  {op}')
    if args.json:
        sys.path.insert(0, ROOT)
        from surgvista_mm.utils import atomic_write_json
        atomic_write_json(args.json, rows)


if __name__ == '__main__':
    main()
