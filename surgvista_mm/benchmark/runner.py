"""Running a suite: validate everything, then each (model, dataset, seed) run step by step.

Layout of ``WORK_DIR/runs/<model>/<dataset>/seed<S>/``: ``train/`` (or ``frame/``, ``bank/``,
``tcn/`` for two-stage models), ``test/``, ``results/`` (``tools/test.py --out-dir``),
``logs/<step>.log`` (each attempt appended), ``steps/<step>.done`` (a finished step, skipped on
a rerun) and ``COMPLETE.json``, written atomically last: a run with it is never run again.

A killed suite reruns exactly what was unfinished: finished runs and finished steps are skipped,
an interrupted training step resumes from its last checkpoint (the configs' ``resume = True``),
an interrupted test step is redone (``--force`` replaces partial results of this run only).
"""
from __future__ import annotations

import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from surgvista_mm.utils.io import atomic_write_json, read_json
from surgvista_mm.utils.config_check import ConfigError
from .suite import (CheckpointOf, RunSpec, Step, Suite, SuiteError, file_sha256,
                    load_config_cached)

__all__ = ['ROOT', 'LAUNCHERS', 'validate_suite', 'step_argv', 'bank_device', 'run_suite',
           'finish_run', 'is_complete', 'read_marker', 'SuiteRunSummary', 'MARKER']

#: The repository root (where ``tools/`` lives).
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LAUNCHERS = ('local', 'pytorch', 'slurm')
MARKER = 'COMPLETE.json'
_TOOLS = {'train': 'tools/train.py', 'test': 'tools/test.py',
          'extract_bank': 'tools/twostage/extract_bank.py'}
_TASKS = {'SurgicalPhaseMetric': 'phase', 'SurgicalTripletMetric': 'triplet',
          'SurgicalCVSMetric': 'cvs', 'SurgicalActionMetric': 'action'}


# --------------------------------------------------------------------------- validation
def validate_suite(suite: Suite, runs: List[RunSpec], check_checkpoints: bool = True
                   ) -> List[str]:
    """Every problem that would stop a run, each naming its model / dataset entry.

    Checked: every step's config exists and loads with its ``--cfg-options`` (mistyped keys
    and values refused by :func:`~surgvista_mm.utils.config_check.load_config`), its test
    evaluator is one the report can score, each backbone checkpoint exists (with
    ``check_checkpoints``), ``configs`` name datasets of the suite, and every dataset's runs
    share one protocol kind (paper or clean).
    """
    problems: List[str] = []
    dataset_names = {d.name for d in suite.datasets}
    for model in suite.models:
        for name in model.configs:
            if name not in dataset_names:
                problems.append(f'model {model.name!r}: configs names dataset {name!r}, which '
                                f'is not in the suite ({sorted(dataset_names)})')
    seen: Dict[tuple, None] = {}
    kinds: Dict[str, Dict[str, str]] = {}
    for spec in runs:
        where = f'model {spec.model.name!r} on dataset {spec.dataset.name!r}'
        kinds.setdefault(spec.dataset.name, {})[spec.model.name] = spec.protocol_kind
        for step in spec.steps:
            key = (step.config, repr(sorted(step.options.items())))
            if key in seen:
                continue
            seen[key] = None
            try:
                cfg = load_config_cached(step.config, step.options)
            except ConfigError as exc:
                problems.append(f'{where}, step {step.name}: {exc}')
                continue
            if step.kind == 'test':
                evaluator = cfg.get('test_evaluator') or {}
                if cfg.get('test_dataloader') is None or evaluator.get('type') not in _TASKS:
                    problems.append(f'{where}: {step.config} has no test_dataloader / '
                                    f'test_evaluator of a type the report scores '
                                    f'({sorted(_TASKS)})')
        ckpt = spec.backbone_checkpoint
        if check_checkpoints and ckpt is not None and not osp.isfile(ckpt):
            problems.append(f'model {spec.model.name!r}: backbone checkpoint not found: {ckpt!r}')
    for dataset, by_model in kinds.items():
        if len(set(by_model.values())) > 1:
            problems.append(f'dataset {dataset!r} mixes paper-protocol and clean-protocol '
                            f'configs ({by_model}): give every model the same protocol')
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------- commands
@dataclass
class LaunchOptions:
    """How steps are launched: ``local`` (one process), ``pytorch`` (``tools/dist_*.sh`` with
    ``gpus`` processes) or ``slurm`` (``tools/slurm_train.sh`` on ``partition``, tests and bank
    extraction with one ``srun`` task)."""

    launcher: str = 'local'
    gpus: int = 8
    partition: Optional[str] = None
    python: str = sys.executable


def bank_device(launcher: str) -> Optional[str]:
    """The ``--device`` of the feature-bank step: ``cuda`` for the ``pytorch`` and ``slurm``
    launchers (GPU nodes: ``srun --gres=gpu:1``); with ``local``, ``cuda`` when this machine has
    a GPU (``torch.cuda.is_available()`` where the suite runs), else None (the tool's default,
    the CPU)."""
    if launcher in ('pytorch', 'slurm'):
        return 'cuda'
    import torch
    return 'cuda' if torch.cuda.is_available() else None


def step_argv(step: Step, spec: RunSpec, launch: LaunchOptions) -> List[object]:
    """The command of ``step`` (items are strings or :class:`CheckpointOf`). The launch-dependent
    arguments (the bank's ``--device``) are not part of :meth:`RunSpec.commands`: a run started
    with one launcher may be finished with another."""
    tool = osp.join(ROOT, _TOOLS[step.kind])
    device = bank_device(launch.launcher) if step.kind == 'extract_bank' else None
    tail = step.tail(('--device', device) if device else ())
    job = f'{spec.model.name}-{spec.dataset.name}-s{spec.seed}-{step.name}'
    if launch.launcher == 'pytorch' and step.kind in ('train', 'test'):
        script = osp.join(ROOT, 'tools', f'dist_{step.kind}.sh')
        if step.kind == 'train':
            return [script, step.config, str(launch.gpus), *tail]
        return [script, step.config, tail[0], str(launch.gpus), *tail[1:]]
    if launch.launcher == 'slurm':
        if step.kind == 'train':
            work_dir = tail[tail.index('--work-dir') + 1]
            rest = [a for i, a in enumerate(tail)
                    if a != '--work-dir' and (i == 0 or tail[i - 1] != '--work-dir')]
            # slurm_train.sh reads the process count and the interpreter from its environment
            return ['env', f'GPUS={launch.gpus}', f'PYTHON={launch.python}',
                    osp.join(ROOT, 'tools', 'slurm_train.sh'), launch.partition, job,
                    step.config, work_dir, *rest]
        srun = ['srun', '-p', launch.partition, f'--job-name={job}', '--gres=gpu:1',
                '--ntasks=1', '--kill-on-bad-exit=1', launch.python, '-u', tool, step.config,
                *tail]
        return srun + (['--launcher=slurm'] if step.kind == 'test' else [])
    return [launch.python, tool, step.config, *tail]


def _shell(argv: List[object]) -> str:
    return ' '.join(a.shell() if isinstance(a, CheckpointOf) else shlex.quote(str(a))
                    for a in argv)


def run_script(spec: RunSpec, launch: LaunchOptions, finish: List[str]) -> str:
    """The run as a shell script: its steps, then ``finish`` (writes the completion marker)."""
    lines = [f'# {spec.run_id} ({spec.protocol_kind} protocol)', 'set -e']
    lines += [_shell(step_argv(step, spec, launch)) for step in spec.steps]
    lines.append(' '.join(shlex.quote(a) for a in finish))
    return '\n'.join(lines)


# --------------------------------------------------------------------------- markers
def is_complete(spec: RunSpec) -> bool:
    """Whether the run finished (its marker exists) with the commands the suite gives now."""
    if not osp.isfile(osp.join(spec.run_dir, MARKER)):
        return False
    check_commands(spec, read_marker(spec).get('commands'))
    return True


def check_commands(spec: RunSpec, recorded: Optional[List[List[str]]]) -> None:
    """Refuse a run folder made by other commands (a suite entry changed under the same
    name): its results would be reported for settings they do not have."""
    if recorded is not None and recorded != spec.commands():
        changed = next(f'{a[0]} step: {" ".join(a)} (now: {" ".join(b)})'
                       for a, b in zip(recorded + [['']], spec.commands() + [['']]) if a != b)
        raise SuiteError(f'{spec.run_dir} was run with other commands than the suite gives now '
                         f'({changed}); move that folder away or give the entry another name')


def _start_run(spec: RunSpec) -> None:
    """Record the run's commands at its first start (``RUN/commands.json``); check them later."""
    path = osp.join(spec.run_dir, 'commands.json')
    if osp.isfile(path):
        check_commands(spec, read_json(path, 'run commands'))
    else:
        atomic_write_json(path, spec.commands())


def read_marker(spec: RunSpec) -> Dict:
    return read_json(osp.join(spec.run_dir, MARKER), 'completion marker')


_HASHES: Dict[tuple, str] = {}


def _sha256(path: str) -> str:
    st = os.stat(path)
    key = (osp.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def finish_run(spec: RunSpec) -> Dict:
    """Check the run's results and write its completion marker (atomically); the marker."""
    metrics_path = osp.join(spec.results_dir, 'metrics.json')
    metrics = read_json(metrics_path, f'{spec.run_id}: test results')
    test_step = spec.steps[-1]
    tested = test_step.args[0].resolve()
    backbone = spec.backbone_checkpoint
    marker = dict(
        run_id=spec.run_id, model=spec.model.name, dataset=spec.dataset.name, seed=spec.seed,
        test_config=spec.test_config, protocol_kind=spec.protocol_kind,
        protocol=metrics.get('protocol'), task=metrics.get('task'),
        backbone_checkpoint=backbone,
        backbone_sha256=None if backbone is None else _sha256(backbone),
        tested_checkpoint=tested, tested_sha256=_sha256(tested),
        results_dir=spec.results_dir, commands=spec.commands())
    atomic_write_json(osp.join(spec.run_dir, MARKER), marker)
    return marker


# --------------------------------------------------------------------------- running
@dataclass
class SuiteRunSummary:
    """What a call of :func:`run_suite` did."""

    skipped: List[str] = field(default_factory=list)
    completed: List[str] = field(default_factory=list)
    failed: List[Dict[str, str]] = field(default_factory=list)


def _run_step(step: Step, spec: RunSpec, launch: LaunchOptions) -> Optional[Dict[str, str]]:
    """Run one step (its output appended to ``logs/<step>.log``); a failure's description."""
    log_path = osp.join(spec.run_dir, 'logs', f'{step.name}.log')
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    try:
        argv = [a.resolve() if isinstance(a, CheckpointOf) else str(a)
                for a in step_argv(step, spec, launch)]
    except FileNotFoundError as exc:
        with open(log_path, 'a', encoding='utf-8') as f:
            f.write(f'\n# {time.strftime("%Y-%m-%d %H:%M:%S")}: cannot start: {exc}\n')
        return dict(run=spec.run_id, step=step.name, log=log_path, error=str(exc))
    with open(log_path, 'a', encoding='utf-8') as f:
        f.write(f'\n# {time.strftime("%Y-%m-%d %H:%M:%S")}: {_shell(argv)}\n')
        f.flush()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (ROOT, os.environ.get('PYTHONPATH')) if p))
        rc = subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT, cwd=os.getcwd(), env=env)
    if rc != 0:
        return dict(run=spec.run_id, step=step.name, log=log_path, error=f'exit status {rc}')
    atomic_write_json(osp.join(spec.run_dir, 'steps', f'{step.name}.done'),
                      dict(step=step.name, argv=argv))
    return None


def run_suite(suite: Suite, runs: List[RunSpec], launch: LaunchOptions,
              dry_run: bool = False, finish_command: Optional[Callable[[RunSpec], List[str]]]
              = None, log: Callable[[str], None] = print) -> SuiteRunSummary:
    """Run (or with ``dry_run`` print) every unfinished run, one at a time.

    The suite must have been validated (:func:`validate_suite`). A failed step stops its run
    only: it is reported with its log and the next run starts.
    """
    summary = SuiteRunSummary()
    for spec in runs:  # a changed entry is refused before anything runs
        is_complete(spec)
        if not dry_run and osp.isfile(osp.join(spec.run_dir, 'commands.json')):
            _start_run(spec)
    for spec in runs:
        if is_complete(spec):
            summary.skipped.append(spec.run_id)
            log(f'[done] {spec.run_id}')
            continue
        if dry_run:
            finish = finish_command(spec) if finish_command else []
            log(run_script(spec, launch, finish) + '\n')
            continue
        log(f'[run ] {spec.run_id} ({spec.protocol_kind} protocol, logs in '
            f'{osp.join(spec.run_dir, "logs")})')
        _start_run(spec)
        failure = None
        for step in spec.steps:
            if osp.isfile(osp.join(spec.run_dir, 'steps', f'{step.name}.done')):
                continue
            failure = _run_step(step, spec, launch)
            if failure:
                break
        if failure is None:
            try:
                finish_run(spec)
            except (OSError, ValueError) as exc:
                failure = dict(run=spec.run_id, step='finish', error=str(exc),
                               log=osp.join(spec.run_dir, 'logs', f'{spec.steps[-1].name}.log'))
        if failure:
            summary.failed.append(failure)
            log(f'[FAIL] {spec.run_id}: step {failure["step"]} failed ({failure["error"]}); '
                f'log: {failure["log"]}')
        else:
            summary.completed.append(spec.run_id)
            log(f'[ok  ] {spec.run_id}')
    return summary
