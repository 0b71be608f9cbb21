"""tools/benchmark/gpu_check.sh on a machine without CUDA: it fails at once with one line, and
its machinery (deadline, step runner, summary, runner steps in the CPU dry mode) works."""
from __future__ import annotations

import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from surgvista_mm.benchmarking import gpu_check
from surgvista_mm.benchmarking.gpu_check import Deadline, Step, run_step, run_steps, write_summary

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a CUDA device')
def test_no_cuda_device_fails_with_one_line(tmp_path):
    env = dict(PY=sys.executable, PATH='/usr/bin:/bin')
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'benchmark', 'gpu_check.sh'),
                           '--out-dir', str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count('\n') == 0
    assert proc.stderr.startswith('gpu_check: FAILED: no CUDA device (torch ')
    assert proc.stdout.startswith('environment: {')  # the environment comes first
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['ok'] is False and summary['reason'].startswith('no CUDA device')
    assert summary['environment']['cuda_available'] is False and summary['steps'] == {}


def test_deadline_gives_each_step_what_is_left():
    now = [0.0]
    deadline = Deadline(100, clock=lambda: now[0])
    assert deadline.limit_for(30) == 30
    now[0] = 70.0  # 30 s left, 5 kept for the summary
    assert deadline.limit_for(60) == pytest.approx(25)
    now[0] = 86.0  # 14 - 5 = 9 s: too little to start a step
    assert deadline.limit_for(60) is None
    with pytest.raises(ValueError):
        Deadline(0)


def _py(code):
    return [sys.executable, '-c', code]


def test_step_runner_statuses(tmp_path):
    fig = tmp_path / 'f.json'
    ok = run_step(Step('ok', _py(f"import json; json.dump({{'x': 1}}, open({str(fig)!r}, 'w'))"),
                       30, str(fig)), 30, str(tmp_path))
    assert (ok.status, ok.figures, ok.returncode) == ('ok', {'x': 1}, 0)
    bad = run_step(Step('bad', _py('import sys; print("boom"); sys.exit(3)'), 30), 30,
                   str(tmp_path))
    assert (bad.status, bad.returncode, bad.reason) == ('failed', 3, 'exit status 3')
    assert 'boom' in gpu_check.tail(bad.log)
    nofig = run_step(Step('nofig', _py('pass'), 30, str(tmp_path / 'none.json')), 30,
                     str(tmp_path))
    assert nofig.status == 'failed' and 'wrote no' in nofig.reason
    slow = run_step(Step('slow', _py('import time; time.sleep(60)'), 1), 1.0, str(tmp_path))
    assert slow.status == 'timeout' and slow.wall_s < 30
    skipped = run_step(Step('late', _py('pass'), 30), None, str(tmp_path))
    assert skipped.status == 'skipped' and skipped.log is None


def test_steps_after_the_deadline_are_skipped_and_the_summary_fails(tmp_path):
    now = [0.0]
    deadline = Deadline(40, clock=lambda: now[0])

    def echo(line):  # the first step "takes" 30 s of the budget
        if line.startswith('-- first'):
            now[0] = 30.0

    steps = [Step('first', _py('pass'), 20), Step('second', _py('pass'), 20)]
    results = run_steps(steps, deadline, str(tmp_path), echo=echo)
    assert [r.status for r in results] == ['ok', 'skipped']
    summary = write_summary(str(tmp_path / 'summary.json'), {'gpu': 'x'}, results, 40)
    assert summary['ok'] is False and 'second (skipped)' in summary['reason']
    on_disk = json.loads((tmp_path / 'summary.json').read_text())
    assert on_disk['steps']['first']['status'] == 'ok' and on_disk['environment'] == {'gpu': 'x'}
    assert write_summary(str(tmp_path / 's2.json'), {}, results[:1], 40)['ok'] is True
    assert write_summary(str(tmp_path / 's3.json'), {}, [], 40)['ok'] is False


def test_plan_covers_the_issue_steps(tmp_path):
    names = [s.name for s in gpu_check.plan(str(tmp_path))]
    assert names[0] == 'tests_cuda'
    for name in ('pretrain_bf16', 'pretrain_fp16', 'finetune_bf16', 'finetune_fp16',
                 'pretrain_bf16_nccl_1rank', 'pretrain_vitl_fsdp_1rank', 'loader_nvjpeg'):
        assert name in names
    steps = {s.name: s for s in gpu_check.plan(str(tmp_path))}
    assert 'configs/pretrain/surgvista_vitb.py' in steps['pretrain_bf16'].command
    assert 'configs/pretrain/surgvista_vitb_fp16.py' in steps['pretrain_fp16'].command
    assert 'torch.distributed.run' in steps['pretrain_bf16_nccl_1rank'].command
    assert 'optim_wrapper.dtype=float16' in steps['finetune_fp16'].command
    # the default per-step limits fit in the default 9-minute deadline
    assert sum(s.limit_s for s in steps.values()) <= 9 * 60 - gpu_check.RESERVE_S


def test_dry_run_step_through_the_runner(tmp_path):
    """The CPU dry mode runs a runner step (the demo pre-training config, synthetic clips)
    and records its figures in the summary."""
    rc = gpu_check.main(['--dry-run', '--out-dir', str(tmp_path), '--only', 'pretrain_bf16',
                         '--deadline-min', '3'])
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert rc == 0, summary
    fig = summary['steps']['pretrain_bf16']['figures']
    assert fig['iters_timed'] == 2 and fig['batch'] == 2 and fig['clips_per_s'] > 0
    assert fig['data_s'] is not None and fig['device'] == 'cpu'
    assert sum(fig['attention_ops'].values()) > 0  # the encoder and decoders' attention calls
