"""The one-shot GPU check behind ``tools/benchmark/gpu_check.sh``.

One run on a machine with a CUDA device: the environment first, then a fixed list of steps,
each a subprocess with its own time limit, all inside one overall deadline; one
``summary.json`` with every figure. The check fails (exit status 1) when any step fails, times
out or is skipped for lack of time, and at once (exit status 2, one line) when there is no CUDA
device. ``--dry-run`` runs the same machinery with the CPU variants of the steps (the demo-size
configs), so that it is tested on machines without a GPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: seconds kept back from the deadline for writing the summary
RESERVE_S = 5.0
#: a step is not started with less than this many seconds left (it is marked skipped)
MIN_STEP_S = 10.0


def environment() -> Dict[str, Any]:
    """GPU name, memory, compute capability, driver, CUDA / cuDNN / NCCL / torch versions and
    the fused attention back-ends PyTorch reports (flash, memory-efficient, cuDNN)."""
    import torch
    env: Dict[str, Any] = dict(
        torch=torch.__version__, cuda_build=torch.version.cuda, python=sys.version.split()[0],
        cuda_available=torch.cuda.is_available(), hostname=os.uname().nodename,
        cpu_count=os.cpu_count())
    if osp.exists('/dev/nvidia0'):
        env['nvidia_device_file'] = True
    try:
        out = subprocess.run(['nvidia-smi', '--query-gpu=driver_version',
                              '--format=csv,noheader'], capture_output=True, text=True, timeout=20)
        env['driver'] = out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, IndexError):
        env['driver'] = None
    if not torch.cuda.is_available():
        return env
    props = torch.cuda.get_device_properties(0)
    env.update(
        device_count=torch.cuda.device_count(), gpu=props.name,
        memory_gib=round(props.total_memory / 2 ** 30, 1),
        compute_capability=f'{props.major}.{props.minor}',
        cudnn=torch.backends.cudnn.version(),
        nccl=_nccl_version(),
        bf16_supported=torch.cuda.is_bf16_supported(),
        flash_sdp_enabled=torch.backends.cuda.flash_sdp_enabled(),
        mem_efficient_sdp_enabled=torch.backends.cuda.mem_efficient_sdp_enabled(),
        cudnn_sdp_enabled=torch.backends.cuda.cudnn_sdp_enabled())
    try:  # whether the flash kernel accepts the ViT-B attention shape (bf16, 12 heads x 64)
        import torch.backends.cuda as bc
        q = torch.empty(1, 12, 1568, 64, device='cuda', dtype=torch.bfloat16)
        params = bc.SDPAParams(q, q, q, None, 0.0, False, False)
        env['flash_attention_vitb_shape'] = bool(bc.can_use_flash_attention(params, False))
    except (AttributeError, TypeError, RuntimeError) as exc:
        env['flash_attention_vitb_shape'] = f'unknown ({type(exc).__name__}: {exc})'
    return env


def _nccl_version() -> Optional[str]:
    """NCCL's version as 'major.minor.patch' (torch returns a tuple, or an int in old builds)."""
    import torch
    try:
        version = torch.cuda.nccl.version()
    except (AttributeError, RuntimeError):
        return None
    return '.'.join(map(str, version)) if isinstance(version, tuple) else str(version)


class Deadline:
    """One overall time budget; each step gets ``min(its limit, what is left - RESERVE_S)``.

    Args:
        total_s: the budget in seconds from construction.
        clock: a monotonic clock (seconds), replaceable in tests.
    """

    def __init__(self, total_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if total_s <= 0:
            raise ValueError(f'the deadline must be positive, got {total_s} s')
        self.total_s = float(total_s)
        self._clock = clock
        self._start = clock()

    def remaining(self) -> float:
        """Seconds left of the budget (negative once it has passed)."""
        return self.total_s - (self._clock() - self._start)

    def limit_for(self, step_limit_s: float) -> Optional[float]:
        """The time limit of a step whose own limit is ``step_limit_s``, or None when too
        little time is left to start it (less than :data:`MIN_STEP_S`)."""
        left = self.remaining() - RESERVE_S
        if left < MIN_STEP_S:
            return None
        return min(float(step_limit_s), left)


@dataclass
class Step:
    """A check: a command (run in the repository root) with its own time limit.

    ``figures``: a JSON file the command writes (read into the summary), or None.
    """
    name: str
    command: List[str]
    limit_s: float
    figures: Optional[str] = None
    env: Dict[str, str] = field(default_factory=dict)


@dataclass
class StepResult:
    """What a step did: ``status`` is 'ok', 'failed', 'timeout' or 'skipped'."""
    name: str
    status: str
    returncode: Optional[int]
    wall_s: float
    limit_s: Optional[float]
    command: List[str]
    log: Optional[str]
    figures: Optional[Any] = None
    reason: str = ''


def run_step(step: Step, limit_s: Optional[float], log_dir: str) -> StepResult:
    """Run ``step`` with the time limit ``limit_s`` (None: skip it), its output in
    ``log_dir/<name>.log``. On timeout the step's whole process group is killed."""
    if limit_s is None:
        return StepResult(step.name, 'skipped', None, 0.0, None, step.command, None,
                          reason='not started: the overall deadline is (nearly) reached')
    log = osp.join(log_dir, f'{step.name}.log')
    start = time.monotonic()
    with open(log, 'w') as out:
        proc = subprocess.Popen(step.command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **step.env), start_new_session=True)
        try:
            rc = proc.wait(timeout=limit_s)
            status = 'ok' if rc == 0 else 'failed'
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
            status = 'timeout'
    wall = time.monotonic() - start
    figures = None
    if step.figures and osp.isfile(step.figures):
        try:
            with open(step.figures) as f:
                figures = json.load(f)
        except ValueError as exc:
            status, figures = 'failed', None
            reason = f'{step.figures} is not JSON: {exc}'
            return StepResult(step.name, status, rc, wall, limit_s, step.command, log, None,
                              reason)
    elif step.figures and status == 'ok':
        status = 'failed'
        return StepResult(step.name, status, rc, wall, limit_s, step.command, log, None,
                          f'the step wrote no {step.figures}')
    reason = {'ok': '', 'failed': f'exit status {rc}',
              'timeout': f'killed after its {limit_s:.0f} s limit'}[status]
    return StepResult(step.name, status, rc, wall, limit_s, step.command, log, figures, reason)


def tail(path: Optional[str], lines: int = 12) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    if not path or not osp.isfile(path):
        return ''
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def run_steps(steps: Sequence[Step], deadline: Deadline, log_dir: str,
              echo: Callable[[str], None] = print) -> List[StepResult]:
    """Run every step in order within ``deadline`` (a failing step does not stop the others)."""
    results = []
    for step in steps:
        limit = deadline.limit_for(step.limit_s)
        echo(f'== {step.name} (limit {limit:.0f} s): {" ".join(step.command)}' if limit else
             f'== {step.name}: skipped, {max(deadline.remaining(), 0):.0f} s left')
        result = run_step(step, limit, log_dir)
        results.append(result)
        echo(tail(result.log).rstrip())
        echo(f'-- {step.name}: {result.status} in {result.wall_s:.1f} s'
             + (f' ({result.reason})' if result.reason else ''))
    return results


def write_summary(path: str, env: Dict[str, Any], results: Sequence[StepResult],
                  deadline_s: float, reason: str = '') -> Dict[str, Any]:
    """Write (atomically) and return the summary: ``ok`` (True only when every step is 'ok'
    and there was at least one), ``reason``, the environment, and each step's result."""
    from surgvista_mm.utils.io import atomic_write_json
    failed = [r.name for r in results if r.status != 'ok']
    ok = bool(results) and not failed and not reason
    if not reason and failed:
        reason = 'steps not ok: ' + ', '.join(f'{r.name} ({r.status})' for r in results
                                               if r.status != 'ok')
    summary = dict(ok=ok, reason=reason, written=datetime.datetime.now().isoformat(
        timespec='seconds'), deadline_s=deadline_s, environment=env,
        steps={r.name: asdict(r) for r in results})
    atomic_write_json(path, summary)
    return summary


def plan(out_dir: str, python: str = sys.executable, dry_run: bool = False) -> List[Step]:
    """The steps of the check. On a GPU: the CUDA-parametrized tests; the pre-training and
    fine-tuning configs through the Runner (20 iterations at the config's batch, synthetic
    clips, random teacher) in bf16 and fp16; a 1-rank NCCL (torchrun) run; the ViT-L FSDP
    config on one rank; the nvJPEG loader; the attention kernels. ``dry_run``: the demo configs on
    the CPU, batch 2, a few iterations (the same commands otherwise)."""
    bench = [python, 'tools/benchmark/runner_step.py']
    pre, pre16 = 'configs/pretrain/surgvista_vitb.py', 'configs/pretrain/surgvista_vitb_fp16.py'
    vitl, fsdp, vitl_sizes = 'configs/pretrain/surgvista_vitl_fsdp.py', [], ['--iters', '8',
                                                                            '--batch', '16']
    fine = 'configs/finetune/surgvista_vitb_cholec80_phase.py'
    iters, fp16_fine = ['--iters', '20'], ['optim_wrapper.dtype=float16']
    if dry_run:  # CPU: the demo-size models in float32 (fp16 needs a GPU)
        pre = pre16 = 'configs/pretrain/surgvista_demo.py'
        fine = 'configs/finetune/surgvista_demo_phase.py'
        iters, fp16_fine = ['--iters', '6', '--batch', '2', '--workers', '0'], []
        vitl, vitl_sizes = pre, iters
        fsdp = ['runner_type=SurgVistaFlexibleRunner', 'strategy.type=SurgVistaFSDPStrategy']

    def fig(name: str) -> str:
        return osp.join(out_dir, f'{name}.json')

    def runner_step(name: str, config: str, options: Sequence[str] = (),
                    launcher: Sequence[str] = (), limit: float = 90,
                    sizes: Optional[List[str]] = None) -> Step:
        cmd = list(launcher) + (bench[1:] if launcher else bench) + [config] + (sizes or iters) + [
            '--json', fig(name), '--work-dir', osp.join(out_dir, name)]
        if launcher:
            cmd += ['--launcher', 'pytorch']
        if options:
            cmd += ['--cfg-options', *options]
        return Step(name, cmd, limit, fig(name))

    torchrun = [python, '-m', 'torch.distributed.run', '--nproc_per_node', '1',
                '--master_port', str(29600 + os.getpid() % 300)]
    steps = []
    if not dry_run:
        steps.append(Step('tests_cuda', [python, '-m', 'pytest', 'tests', '-q', '-x', '-k',
                                         'cuda', '-p', 'no:cacheprovider'], 100))
    steps += [
        runner_step('pretrain_bf16', pre, limit=80),
        runner_step('pretrain_fp16', pre16, limit=65),
        runner_step('finetune_bf16', fine, limit=60),
        runner_step('finetune_fp16', fine, fp16_fine, limit=45),
        runner_step('pretrain_bf16_nccl_1rank', pre, launcher=torchrun, limit=60),
        # ViT-L student, FlexibleRunner + SurgVistaFSDPStrategy (dry run: the demo model)
        runner_step('pretrain_vitl_fsdp_1rank', vitl, fsdp, launcher=torchrun, limit=60,
                    sizes=vitl_sizes),
    ]
    if not dry_run:
        steps.append(Step('loader_nvjpeg', [python, 'tools/benchmark/dataloader.py', '--clips',
                                            '10', '--rounds', '2', '--no-video', '--gpu-decode'],
                          40, env=dict(OMP_NUM_THREADS='1')))
        steps.append(Step('attention', [python, 'tools/benchmark/attention.py', '--device',
                                        'cuda', '--reps', '5'], 25))
    return steps


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the check; returns the exit status (0 ok, 1 a step not ok, 2 no CUDA device)."""
    p = argparse.ArgumentParser(description='One-shot GPU check (tools/benchmark/gpu_check.sh)')
    p.add_argument('--out-dir', default=os.environ.get('OUT') or 'work_dirs/gpu_check',
                   help='logs, figures and summary.json (default: $OUT, else '
                   'work_dirs/gpu_check)')
    p.add_argument('--deadline-min', type=float, default=9.0,
                   help='overall deadline in minutes (default 9)')
    p.add_argument('--dry-run', action='store_true',
                   help='the CPU variants of the steps (demo configs): tests the machinery')
    p.add_argument('--only', nargs='+', help='run only these steps (names as in the summary)')
    args = p.parse_args(argv)
    deadline = Deadline(args.deadline_min * 60)
    out_dir = osp.abspath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)
    summary_path = osp.join(out_dir, 'summary.json')
    env = environment()
    print('environment: ' + json.dumps(env, sort_keys=True), flush=True)
    if not env['cuda_available'] and not args.dry_run:
        reason = (f'no CUDA device (torch {env["torch"]}, CUDA build {env["cuda_build"]}, '
                  f'driver {env.get("driver")}, /dev/nvidia0 '
                  f'{"present" if env.get("nvidia_device_file") else "absent"})')
        write_summary(summary_path, env, [], deadline.total_s, reason)
        print(f'gpu_check: FAILED: {reason}', file=sys.stderr)
        return 2
    steps = plan(out_dir, dry_run=args.dry_run)
    if args.only:
        unknown = sorted(set(args.only) - {s.name for s in steps})
        if unknown:
            p.error(f'--only: unknown step(s) {unknown}; steps: {[s.name for s in steps]}')
        steps = [s for s in steps if s.name in args.only]
    results = run_steps(steps, deadline, out_dir, echo=lambda s: print(s, flush=True))
    summary = write_summary(summary_path, env, results, deadline.total_s)
    print(f'summary: {summary_path}')
    if not summary['ok']:
        print(f'gpu_check: FAILED: {summary["reason"]}', file=sys.stderr)
        return 1
    print('gpu_check: all steps ok')
    return 0
