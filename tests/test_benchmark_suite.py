"""Benchmark suites (tools/run_suite.py): statistics against scipy, validation before any
training, the paper-figure suites, the two-stage expansion, and a tiny suite killed mid-run and
resumed (finished runs not repeated, report equal to an uninterrupted run's, --report-only equal
to the first report, a failed run reported with its log without stopping the others)."""
from __future__ import annotations

import csv
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from scipy.stats import bootstrap, wilcoxon

from surgvista_mm.benchmark.cli import main as run_suite_main
from surgvista_mm.benchmark.report import _paired_p, seed_mean_ci
from surgvista_mm.benchmark.runner import validate_suite
from surgvista_mm.benchmark.scoring import RunScores
from surgvista_mm.benchmark.suite import (SuiteError, expand_loader_options, load_config_cached,
                                          load_suite)
from tests.helpers.devices import CPU_ONLY_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SUITES = osp.join(ROOT, 'configs', 'suites')
FINETUNE = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')


def _mean_scores(per_video: np.ndarray) -> RunScores:
    """A run whose metric 'm' is the mean of per-video values (a linear statistic)."""
    videos = [f'video{i}' for i in range(len(per_video))]
    return RunScores('phase', 'test', videos, lambda idx: {'m': float(per_video[idx].mean())},
                     {'m': per_video})


# --------------------------------------------------------------------------- statistics
def test_bootstrap_ci_and_paired_p_match_scipy():
    x1 = np.array([71.2, 80.5, 64.3, 90.1, 77.7, 59.9, 85.0, 69.4, 74.8, 81.6])
    x2 = np.array([70.2, 82.5, 66.1, 88.3, 79.9, 61.1, 83.2, 70.0, 73.0, 80.8])
    # two seeds: the same video resamples score both seeds, then the seeds are averaged; for a
    # mean this is the bootstrap of the per-video seed mean, which scipy draws identically
    value, low, high = seed_mean_ci([_mean_scores(x1), _mean_scores(x2)], ['m'], 1000, 0)['m']
    ref = bootstrap(((x1 + x2) / 2,), np.mean, n_resamples=1000, method='percentile',
                    rng=np.random.default_rng(0), vectorized=True, axis=-1)
    assert value == pytest.approx(np.mean((x1 + x2) / 2), abs=1e-12)
    assert (low, high) == pytest.approx((ref.confidence_interval.low,
                                         ref.confidence_interval.high), abs=1e-9)
    assert low < value < high

    # paired one-sided Wilcoxon that the reference beats the model, over videos
    model = _mean_scores(np.array([60.0, 70.0, 80.0, 90.0, 50.0]))
    better = _mean_scores(np.array([61.5, 72.0, 80.5, 93.0, 51.0]))  # all 5 differences > 0
    p, note = _paired_p([model], [better], 'm')
    assert p == pytest.approx(1 / 32, abs=1e-12) and note == ''  # exact: only 1 of 2^5 signs
    worse = _mean_scores(np.array([59.0, 71.0, 78.0, 91.5, 49.0, ]))
    p, _ = _paired_p([model], [worse], 'm')
    d = np.array([59.0, 71.0, 78.0, 91.5, 49.0]) - np.array([60.0, 70.0, 80.0, 90.0, 50.0])
    assert p == pytest.approx(wilcoxon(d, alternative='greater', zero_method='wilcox').pvalue)
    assert 0.5 < p <= 1.0
    p, note = _paired_p([model], [model], 'm')
    assert np.isnan(p) and 'zero' in note


# --------------------------------------------------------------------------- suites
def _write_suite(path, models: str, datasets: str, extra: str = '') -> str:
    path.write_text(f'seeds = [0]\nreference = "pretrained"\nn_resamples = 200\n{extra}\n'
                    f'datasets = {datasets}\nmodels = {models}\n')
    return str(path)


def test_missing_config_or_checkpoint_fails_before_training(tmp_path, capsys):
    ckpt = tmp_path / 'backbone.pth'
    ckpt.write_bytes(b'x')
    good = f'dict(demo=dict(config={FINETUNE!r}))'
    suite = _write_suite(tmp_path / 'missing_ckpt.py',
                         f'dict(pretrained=dict(checkpoint={str(ckpt)!r}), '
                         f'other=dict(checkpoint={str(tmp_path / "nope.pth")!r}))', good)
    work = tmp_path / 'work'
    assert run_suite_main([suite, '--work-dir', str(work)]) == 2
    err = capsys.readouterr().err
    assert "model 'other': backbone checkpoint not found" in err and 'nope.pth' in err
    assert 'nothing was run' in err and not (work / 'runs').exists()

    suite = _write_suite(tmp_path / 'missing_cfg.py', 'dict(pretrained=dict(checkpoint=None))',
                         'dict(demo=dict(config="configs/finetune/no_such_config.py"))')
    assert run_suite_main([suite, '--work-dir', str(work)]) == 2
    err = capsys.readouterr().err
    assert "model 'pretrained' on dataset 'demo'" in err and 'no_such_config.py' in err
    assert not (work / 'runs').exists()

    # a mistyped override is refused with the entry named, before anything runs
    suite = _write_suite(tmp_path / 'bad_option.py',
                         'dict(pretrained=dict(checkpoint=None, '
                         'cfg_options={"train_cfg.max_epochs": "ten"}))', good)
    assert run_suite_main([suite, '--work-dir', str(work)]) == 2
    err = capsys.readouterr().err
    assert "model 'pretrained' on dataset 'demo'" in err and 'max_epochs' in err
    assert not (work / 'runs').exists()


def test_suite_checks_configs_as_the_tools_load_them(tmp_path, capsys):
    """The suite loads each step's config with its options through load_config, as the tools
    do: an option the tool would refuse is refused before any run, and a template's
    ${data_root} is set from the dataset entry's data_root (or its cfg_options)."""
    from surgvista_mm.utils.config_check import load_config
    work = tmp_path / 'work'
    scratch = 'dict(pretrained=dict(checkpoint=None))'
    # a top-level variable of the file: the tool refuses it, so must the suite (dry run too)
    suite = _write_suite(tmp_path / 'unused.py', scratch,
                         f'dict(demo=dict(config={FINETUNE!r}, cfg_options={{"max_epochs": 2}}))')
    assert run_suite_main([suite, '--work-dir', str(work), '--dry-run']) == 2
    err = capsys.readouterr().err
    assert "model 'pretrained' on dataset 'demo'" in err
    assert '--cfg-options max_epochs' in err and 'train_cfg.max_epochs' in err
    assert not work.exists()

    template = 'configs/finetune/surgvista_demo_custom_phase.py'
    root = osp.join(ROOT, 'tests', 'data', 'custom_dataset', 'phase')
    for entry in (f'data_root={root!r}', f'cfg_options={{"data_root": {root!r}}}'):
        suite = _write_suite(tmp_path / 'custom.py', scratch,
                             f'dict(mine=dict(config={template!r}, {entry}))')
        assert run_suite_main([suite, '--work-dir', str(work), '--dry-run']) == 0, entry
        assert capsys.readouterr().err == ''
        spec = load_suite(suite).runs(str(work))[0]
        assert spec.steps[0].options['data_root'] == root
        for step in spec.steps:  # each emitted command loads in the tool
            cfg = load_config(step.config, step.options)
            assert cfg.classes == f'{root}/classes.txt'
            assert cfg.test_dataloader.dataset.data_root == root
    # a config without ${data_root}: the loaders' data_root only (no unused top-level option)
    suite = _write_suite(tmp_path / 'plain.py', scratch,
                         f'dict(demo=dict(config={FINETUNE!r}, data_root="/data/demo"))')
    spec = load_suite(suite).runs(str(work))[0]
    assert 'data_root' not in spec.steps[0].options
    assert spec.steps[0].options['train_dataloader.dataset.data_root'] == '/data/demo'
    assert validate_suite(load_suite(suite), [spec], check_checkpoints=False) == []
    assert not work.exists()


@pytest.mark.parametrize('name,runs', [('fig2_natural', 9 * 8 * 3), ('fig3_tasks', 9 * 5 * 3),
                                       ('fig5_scaling', 5 * 13), ('demo', 2 * 2)])
def test_figure_suites_build(name, runs, tmp_path):
    suite = load_suite(osp.join(SUITES, f'{name}.py'))
    specs = suite.runs(str(tmp_path))
    assert len(specs) == runs
    # every config loads with every override; checkpoints are the user's to download/pre-train
    assert validate_suite(suite, specs, check_checkpoints=False) == []
    assert suite.reference in [m.name for m in suite.models]


def test_every_suite_file_is_built_by_a_test():
    """A new suite in configs/suites/ must join test_figure_suites_build or
    test_fig4_suite_builds (files starting with '_' are bases they inherit)."""
    built = {'fig2_natural', 'fig3_tasks', 'fig5_scaling', 'demo', 'fig4_surgical'}
    assert {osp.splitext(n)[0] for n in os.listdir(SUITES)
            if n.endswith('.py') and not n.startswith('_')} == built


def test_fig2_baseline_options_equal_the_baseline_configs(tmp_path):
    """A natural-domain entry's cfg_options on the Cholec80 paper config give the model and data
    of its configs/finetune/baseline_*.py (so the other datasets get the same backbone)."""
    suite = load_suite(osp.join(SUITES, 'fig2_natural.py'))
    cholec80 = next(d for d in suite.datasets if d.name == 'cholec80')
    for model in suite.models:
        if model.name == 'surgvista_vitb':
            continue
        baseline = load_config_cached(model.configs['cholec80'])
        spec = next(s for s in suite.runs(str(tmp_path)) if s.model.name == model.name
                    and s.dataset.name == 'pmlr50')
        train = spec.steps[0]
        derived = load_config_cached(cholec80.config, expand_loader_options(
            cholec80.config, {**model.cfg_options,
                              'model.backbone.init_cfg.checkpoint': model.checkpoint}))
        assert derived.model.backbone.to_dict() == baseline.model.backbone.to_dict(), model.name
        for loader in ('train_dataloader', 'test_dataloader'):
            assert derived[loader].dataset.clip_len == baseline[loader].dataset.clip_len
        pmlr = load_config_cached(train.config, train.options)  # with a validation loader
        assert pmlr.val_dataloader.dataset.clip_len == pmlr.test_dataloader.dataset.clip_len


def test_fig4_two_stage_dry_run(tmp_path, capsys):
    """The agreed two-stage commands (frame model, feature bank, TCN with the bank, test)."""
    work = str(tmp_path / 'fig4')
    rc = run_suite_main([osp.join(SUITES, 'fig4_surgical.py'), '--work-dir', work, '--dry-run'])
    out, err = capsys.readouterr()
    run = osp.join(work, 'runs', 'endovit_vitb', 'cataracts', 'seed1')
    bank = osp.join(run, 'bank')
    frame_cfg = 'configs/twostage/endovit_vitb_cataracts_frame.py'
    tcn_cfg = 'configs/twostage/endovit_vitb_cataracts_tcn.py'
    block = out.split(f'# endovit_vitb/cataracts/seed1 (clean protocol)\n')[1].split('\n\n')[0]
    lines = block.splitlines()
    assert lines[1].endswith(f'tools/train.py {frame_cfg} --work-dir {run}/frame --seed 1')
    assert f'tools/twostage/extract_bank.py {frame_cfg} "$(ls -t {run}/frame/best_*.pth' \
        in lines[2] and lines[2].endswith(f'--out {bank}')
    opts = (f'--cfg-options train_dataloader.dataset.bank_dir={bank} '
            f'val_dataloader.dataset.bank_dir={bank} test_dataloader.dataset.bank_dir={bank}')
    assert lines[3].endswith(f'tools/train.py {tcn_cfg} --work-dir {run}/tcn --seed 1 {opts}')
    assert f'tools/test.py {tcn_cfg} "$(ls -t {run}/tcn/best_*.pth' in lines[4]
    assert lines[4].endswith(f'--out-dir {run}/results --force {opts}')
    assert lines[5].endswith('--finish endovit_vitb/cataracts/seed1')
    # SurgVISTA, the paper's bar: end to end (train, test) from the entry's checkpoint
    sv = out.split('# surgvista_vitb/cholec80/seed0 (clean protocol)\n')[1].splitlines()
    assert 'tools/train.py configs/finetune/surgvista_vitb_cholec80_phase.py' in sv[1]
    assert 'model.backbone.init_cfg.checkpoint=checkpoints/surgvista_vitb_pretrain.pth' in sv[1]
    assert 'tools/test.py configs/finetune/surgvista_vitb_cholec80_phase.py' in sv[2]
    assert 'extract_bank' not in sv[1] + sv[2] + sv[3]
    # beyond the paper: its TCN's stage 1 is the same clip fine-tuning config
    st = out.split('# surgvista_vitb_tcn/cholec80/seed0 (clean protocol)\n')[1].splitlines()
    assert 'tools/train.py configs/finetune/surgvista_vitb_cholec80_phase.py' in st[1]
    assert 'model.backbone.init_cfg.checkpoint=checkpoints/surgvista_vitb_pretrain.pth' in st[1]
    assert 'configs/twostage/surgvista_vitb_cholec80_tcn.py' in st[3]
    assert out.count('\n# ') + 1 == 7 * 6 * 3 and not osp.exists(work)
    if not osp.isdir(osp.join(ROOT, 'configs', 'twostage')):
        assert rc == 2 and 'config file not found' in err and tcn_cfg in err


def test_bank_step_device_follows_the_launcher(tmp_path, capsys, monkeypatch):
    """The feature bank is extracted on the GPU for the pytorch and Slurm launchers (the tool's
    default is the CPU); locally on the CPU unless this machine has a GPU. The device is not
    part of the recorded commands (a run may be finished with another launcher)."""
    from surgvista_mm.benchmark.runner import LaunchOptions, step_argv
    work = str(tmp_path / 'fig4')
    args = [osp.join(SUITES, 'fig4_surgical.py'), '--work-dir', work, '--dry-run',
            '--cfg-options', 'datasets.cholec80.data_root=/data/c80']
    run = osp.join(work, 'runs', 'endovit_vitb', 'cholec80', 'seed0')
    for launcher in (['--launcher', 'pytorch', '--gpus', '8'],
                     ['--launcher', 'slurm', '--partition', 'gpu']):
        run_suite_main(args + launcher)
        out = capsys.readouterr().out
        block = out.split('# endovit_vitb/cholec80/seed0 (clean protocol)\n')[1]
        bank = block.splitlines()[2]
        assert 'tools/twostage/extract_bank.py configs/twostage/endovit_vitb_cholec80_frame.py' \
            in bank, launcher
        assert f'--out {run}/bank --device cuda --cfg-options ' in bank, launcher
        assert 'train_dataloader.dataset.data_root=/data/c80' in bank
        assert '--device' not in block.splitlines()[1] + block.splitlines()[3]
    spec = next(s for s in load_suite(osp.join(SUITES, 'fig4_surgical.py')).runs(work)
                if s.run_id == 'endovit_vitb/cholec80/seed0')
    assert not any('--device' in c for c in spec.commands()[1])
    bank = spec.steps[1]
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert '--device' not in step_argv(bank, spec, LaunchOptions('local'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    argv = step_argv(bank, spec, LaunchOptions('local'))
    assert argv[argv.index('--device') + 1] == 'cuda'


def test_fig4_suite_builds(tmp_path):
    if not osp.isdir(osp.join(ROOT, 'configs', 'twostage')):
        pytest.skip('configs/twostage/ (the two-stage pipeline of branch i14) is not merged yet')
    suite = load_suite(osp.join(SUITES, 'fig4_surgical.py'))
    specs = suite.runs(str(tmp_path))
    assert len(specs) == 7 * 6 * 3
    ref = next(m for m in suite.models if m.name == 'surgvista_vitb')
    assert suite.reference == 'surgvista_vitb' and not ref.two_stage
    assert validate_suite(suite, specs, check_checkpoints=False) == []

    # a dataset's data_root reaches the frame step and the bank (which reads the same videos)
    root = str(tmp_path / 'mine' / 'cholec80')
    suite = load_suite(osp.join(SUITES, 'fig4_surgical.py'),
                       {'datasets.cholec80.data_root': root})
    spec = next(s for s in suite.runs(str(tmp_path)) if s.dataset.name == 'cholec80'
                and s.model.name == 'endovit_vitb')
    frame, bank = spec.steps[0], spec.steps[1]
    assert (frame.kind, bank.kind) == ('train', 'extract_bank')
    roots = {k: v for k, v in frame.options.items() if k.endswith('.data_root')}
    assert roots and set(roots.values()) == {root}
    assert {k: v for k, v in bank.options.items() if k.endswith('.data_root')} == roots
    assert not any(k.startswith('model.backbone.init_cfg') for k in bank.options)


# --------------------------------------------------------------------------- resume
def _tiny_suite(tmp_path, demo: str) -> str:
    from surgvista_mm.registry import MODELS
    from mmengine.config import Config
    cfg = Config.fromfile(FINETUNE)
    torch.manual_seed(123)
    backbone = MODELS.build(cfg.model.backbone)
    ckpt = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()}},
               str(ckpt))
    options = {'*_dataloader.num_workers': 0, '*_dataloader.persistent_workers': False,
               'train_cfg.max_epochs': 1, 'default_hooks.logger.interval': 1}
    return _write_suite(
        tmp_path / 'tiny.py',
        f'dict(pretrained=dict(checkpoint={str(ckpt)!r}, label="pre-trained"), '
        f'scratch=dict(checkpoint=None))',
        f'dict(demo=dict(config={FINETUNE!r}, data_root={demo!r}, cfg_options={options!r}))')


def _report(work: str) -> dict:
    report = osp.join(work, 'report')
    return {name: open(osp.join(report, name), 'rb').read() for name in sorted(os.listdir(report))}


def test_suite_killed_and_resumed_equals_uninterrupted(make_demo, tmp_path, capsys):
    demo = make_demo('--videos', '4', '--frames', '24', '--size', '64', '--web-videos', '0',
                     '--test-videos', '2', '--no-progress')
    suite = _tiny_suite(tmp_path, demo)
    env = dict(os.environ, **CPU_ONLY_ENV, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)

    # uninterrupted
    full = str(tmp_path / 'full')
    assert run_suite_main([suite, '--work-dir', full]) == 0
    with open(osp.join(full, 'report', 'results.csv')) as f:
        rows = list(csv.DictReader(f))
    assert {r['model'] for r in rows} == {'pretrained', 'scratch'} and len(rows) == 2 * 5
    for r in rows:
        assert float(r['ci_low']) <= float(r['value']) <= float(r['ci_high']), r
        assert r['protocol'] == 'cholec80-matlab' and r['protocol_kind'] == 'clean'
        assert r['num_videos'] == '2' and r['seeds'] == '0'
        if r['model'] == 'scratch':
            assert r['backbone_sha256'] == 'scratch' and r['p_note'] != 'reference'
            assert r['p_value'] == '' or 0.0 <= float(r['p_value']) <= 1.0
        else:
            assert len(r['backbone_sha256']) == 64 and r['p_note'] == 'reference'

    # killed once the first run is complete, then resumed
    part = str(tmp_path / 'part')
    first = osp.join(part, 'runs', 'pretrained', 'demo', 'seed0')
    proc = subprocess.Popen([sys.executable, osp.join(ROOT, 'tools', 'run_suite.py'), suite,
                             '--work-dir', part], cwd=os.getcwd(), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not osp.exists(osp.join(first, 'COMPLETE.json')):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not osp.exists(osp.join(part, 'runs', 'scratch', 'demo', 'seed0', 'COMPLETE.json'))
    marker_time = os.stat(osp.join(first, 'COMPLETE.json')).st_mtime_ns
    train_log = open(osp.join(first, 'logs', 'train.log')).read()
    capsys.readouterr()
    assert run_suite_main([suite, '--work-dir', part]) == 0
    out = capsys.readouterr().out
    assert '[done] pretrained/demo/seed0' in out and '[ok  ] scratch/demo/seed0' in out
    assert '1 run(s) completed, 1 already complete, 0 failed' in out
    assert os.stat(osp.join(first, 'COMPLETE.json')).st_mtime_ns == marker_time
    assert open(osp.join(first, 'logs', 'train.log')).read() == train_log  # not run again
    resumed = _report(part)
    uninterrupted = _report(full)
    assert set(resumed) == {'results.csv', 'tables.md', 'tables.tex', 'bars.png'}
    for name in ('results.csv', 'tables.md', 'tables.tex'):
        assert resumed[name] == uninterrupted[name], name

    # --report-only rebuilds the same report from the --out-dir folders
    for name in resumed:
        os.remove(osp.join(part, 'report', name))
    assert run_suite_main([suite, '--work-dir', part, '--report-only']) == 0
    assert _report(part) == resumed


FAKE_TOOL = '''#!/bin/sh
# stands in for "python TOOL CONFIG ARGS": fails for the broken model, else writes the files
case "$*" in *broken*) echo "cannot load the checkpoint" >&2; exit 3;; esac
tool=$1
while [ $# -gt 0 ]; do
  case "$1" in --work-dir) wd=$2;; --out-dir) od=$2;; esac; shift
done
case "$tool" in
  *train.py) mkdir -p "$wd" && echo w > "$wd/best_acc_epoch_1.pth";;
  *test.py) mkdir -p "$od" && echo '{"task": "phase"}' > "$od/metrics.json";;
esac
'''


def test_failed_run_reported_with_its_log_others_run(tmp_path):
    """A failing step ends its run only; the failure names the step and its log (the steps
    are a stand-in script here: the orchestration is under test)."""
    from surgvista_mm.benchmark.runner import LaunchOptions, run_suite
    fake = tmp_path / 'fake_python.sh'
    fake.write_text(FAKE_TOOL)
    fake.chmod(0o755)
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(b'x')
    suite = load_suite(_write_suite(
        tmp_path / 's.py', f'dict(broken=dict(checkpoint={str(broken)!r}), '
        'pretrained=dict(checkpoint=None))', f'dict(demo=dict(config={FINETUNE!r}))'))
    runs = suite.runs(str(tmp_path / 'w'))
    logged = []
    summary = run_suite(suite, runs, LaunchOptions(python=str(fake)), log=logged.append)
    log = osp.join(str(tmp_path / 'w'), 'runs', 'broken', 'demo', 'seed0', 'logs', 'train.log')
    assert summary.failed == [dict(run='broken/demo/seed0', step='train', log=log,
                                   error='exit status 3')]
    assert summary.completed == ['pretrained/demo/seed0']
    assert 'cannot load the checkpoint' in open(log).read()
    assert any(line.startswith('[FAIL] broken/demo/seed0') and log in line for line in logged)
    marker = osp.join(str(tmp_path / 'w'), 'runs', 'pretrained', 'demo', 'seed0',
                      'COMPLETE.json')
    assert osp.isfile(marker) and not osp.exists(log.replace('train.log', '../COMPLETE.json'))
    # the rerun retries the failed run only
    again = run_suite(suite, runs, LaunchOptions(python=str(fake)), log=logged.append)
    assert again.skipped == ['pretrained/demo/seed0'] and len(again.failed) == 1
    # an entry changed under the same name is refused, not reported with the old results
    changed = load_suite(_write_suite(
        tmp_path / 's2.py', f'dict(broken=dict(checkpoint={str(broken)!r}), '
        'pretrained=dict(checkpoint=None))',
        f'dict(demo=dict(config={FINETUNE!r}, cfg_options={{"train_cfg.max_epochs": 2}}))'))
    with pytest.raises(SuiteError, match='was run with other commands.*max_epochs=2'):
        run_suite(changed, changed.runs(str(tmp_path / 'w')), LaunchOptions(python=str(fake)),
                  log=logged.append)


def test_suite_figures():
    """Bars: one panel per dataset, CI whiskers, a P mark above each model the reference beats;
    scaling: one line per metric over the models' scale."""
    from surgvista_mm.visualization.benchmark_plots import (p_mark, plot_suite_bars,
                                                            plot_suite_scaling)
    rows = []
    for dataset in ('cholec80', 'm2cai16'):
        for model, base, p in (('ref', 80.0, float('nan')), ('b', 70.0, 0.004),
                               ('c', 75.0, 0.2)):
            for k, metric in enumerate(('image_accuracy', 'jaccard')):
                rows.append(dict(dataset=dataset, protocol='cholec80-matlab',
                                 protocol_kind='paper', model=model, label=model.upper(),
                                 metric=metric, value=base - 5 * k, ci_low=base - 5 * k - 2,
                                 ci_high=base - 5 * k + 3, p_value=p))
    fig = plot_suite_bars(rows, 'ref', 'test')
    axes = {ax.get_label(): ax for ax in fig.axes}
    assert set(axes) == {'cholec80', 'm2cai16'}
    texts = [t.get_text() for t in axes['cholec80'].texts]
    assert sorted(texts) == ['**', '**', 'ns', 'ns']  # b: p 0.004, c: p 0.2, none for ref
    bars = [p for p in axes['cholec80'].patches]
    assert sorted(round(b.get_height(), 6) for b in bars) == [65, 70, 70, 75, 75, 80]
    assert (p_mark(0.0004), p_mark(0.03), p_mark(0.5), p_mark(float('nan'))) == \
        ('***', '*', 'ns', '')
    fig = plot_suite_scaling(rows, {'ref': 3.0, 'b': 1.0, 'c': 2.0}, 'scaling')
    ax = next(a for a in fig.axes if a.get_label() == 'm2cai16')
    (line,) = [c.lines[0] for c in ax.containers if c.get_label() == 'jaccard']
    assert list(line.get_xdata()) == [1.0, 2.0, 3.0]
    assert list(line.get_ydata()) == [65.0, 70.0, 75.0]


def test_dry_run_launchers(tmp_path, capsys):
    """--dry-run prints each run's commands for torchrun (tools/dist_*.sh) and Slurm."""
    ckpt = tmp_path / 'b.pth'
    ckpt.write_bytes(b'x')
    work = str(tmp_path / 'w')
    common = [osp.join(SUITES, 'demo.py'), '--work-dir', work, '--dry-run', '--cfg-options',
              f'models.pretrained.checkpoint={ckpt}', 'datasets.demo.data_root=/data/demo']
    assert run_suite_main(common + ['--launcher', 'pytorch', '--gpus', '2']) == 0
    out = capsys.readouterr().out
    run = osp.join(work, 'runs', 'scratch', 'demo', 'seed1')
    lines = out.split('# scratch/demo/seed1 (clean protocol)\n')[1].splitlines()
    assert lines[1].startswith(osp.join(ROOT, 'tools', 'dist_train.sh')
                               + ' configs/finetune/surgvista_demo_phase.py 2 --work-dir '
                               f'{run}/train --seed 1 --cfg-options')
    assert 'model.backbone.init_cfg=None' in lines[1]
    assert 'test_dataloader.dataset.data_root=/data/demo' in lines[1]
    assert lines[2].startswith(osp.join(ROOT, 'tools', 'dist_test.sh')
                               + ' configs/finetune/surgvista_demo_phase.py "$(ls -t '
                               f'{run}/train/best_*.pth | head -1)" 2 --work-dir {run}/test')
    assert 'init_cfg' not in lines[2]  # the fine-tuned weights are loaded at test time
    assert run_suite_main(common + ['--launcher', 'slurm', '--partition', 'gpu', '--gpus', '16']) == 0
    out = capsys.readouterr().out
    lines = out.split('# scratch/demo/seed1 (clean protocol)\n')[1].splitlines()
    # the suite's process count and interpreter reach slurm_train.sh (it reads them from env)
    assert lines[1].startswith(f'env GPUS=16 PYTHON={sys.executable} '
                               + osp.join(ROOT, 'tools', 'slurm_train.sh') + ' gpu '
                               'scratch-demo-s1-train configs/finetune/surgvista_demo_phase.py '
                               f'{run}/train --seed 1 --cfg-options')
    assert lines[2].startswith('srun -p gpu --job-name=scratch-demo-s1-test --gres=gpu:1 ')
    assert lines[2].endswith('--launcher=slurm')
    assert not osp.exists(work)
    assert run_suite_main(common + ['--launcher', 'slurm']) == 2
    assert '--partition' in capsys.readouterr().err
