"""``tools/run_suite.py``: validate a suite, run what is unfinished, write the report.

    python tools/run_suite.py SUITE --work-dir DIR                  # run locally, then report
    python tools/run_suite.py SUITE --work-dir DIR --dry-run        # print the commands
    python tools/run_suite.py SUITE --work-dir DIR --launcher slurm --partition P
    python tools/run_suite.py SUITE --work-dir DIR --report-only    # re-score DIR/runs/*

Exit status: 0 when every run is complete and the report is written, 1 when a run failed or is
missing (the report then covers the completed ones), 2 when the suite is invalid (nothing ran).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

from surgvista_mm.utils.config_check import CfgOptionsAction
from .report import build_report
from .runner import LAUNCHERS, LaunchOptions, finish_run, run_suite, validate_suite
from .suite import SuiteError, load_suite


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run a benchmark suite: fine-tune and test '
                                     'every (model, dataset, seed), then write the report.')
    parser.add_argument('suite', help='suite file (configs/suites/*.py)')
    parser.add_argument('--work-dir', help='where runs and the report go (default: '
                        'work_dirs/suites/<suite name>)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='local',
                        help='local: one process per step; pytorch: tools/dist_train.sh / '
                        'dist_test.sh with --gpus processes; slurm: tools/slurm_train.sh and '
                        'srun on --partition')
    parser.add_argument('--gpus', type=int, default=8, help='processes per run (pytorch)')
    parser.add_argument('--partition', help='Slurm partition (--launcher slurm)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print each unfinished run as a shell script; run nothing')
    parser.add_argument('--report-only', action='store_true',
                        help='rebuild DIR/report from the completed runs; run nothing')
    parser.add_argument('--finish', metavar='RUN_ID', help=argparse.SUPPRESS)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override suite entries, e.g. datasets.demo.data_root=data/x '
                        'models.pretrained.checkpoint=work_dirs/demo/epoch_10.pth')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.launcher == 'slurm' and not args.partition:
        print('run_suite: error: --launcher slurm needs --partition', file=sys.stderr)
        return 2
    work_dir = args.work_dir or osp.join(
        'work_dirs', 'suites', osp.splitext(osp.basename(args.suite))[0])
    try:
        suite = load_suite(args.suite, args.cfg_options)
        runs = suite.runs(work_dir)
    except SuiteError as exc:
        print(f'run_suite: error: {exc}', file=sys.stderr)
        return 2
    if args.finish:
        spec = next((r for r in runs if r.run_id == args.finish), None)
        if spec is None:
            print(f'run_suite: error: no run {args.finish!r} in {args.suite}', file=sys.stderr)
            return 2
        finish_run(spec)
        print(f'complete: {spec.run_id}')
        return 0
    report_dir = osp.join(work_dir, 'report')
    if not args.report_only:
        problems = validate_suite(suite, runs, check_checkpoints=True)
        if problems and not args.dry_run:
            _print_problems(args.suite, problems, 'nothing was run')
            return 2
        launch = LaunchOptions(args.launcher, args.gpus, args.partition, sys.executable)
        finish = [sys.executable, osp.join(osp.dirname(osp.dirname(osp.dirname(
            osp.abspath(__file__)))), 'tools', 'run_suite.py'), args.suite,
            '--work-dir', work_dir] + (['--cfg-options', *_options_argv(argv)]
                                       if args.cfg_options else [])
        start = time.monotonic()
        try:
            summary = run_suite(suite, runs, launch, args.dry_run,
                                lambda spec: finish + ['--finish', spec.run_id])
        except SuiteError as exc:
            print(f'run_suite: error: {exc}', file=sys.stderr)
            return 2
        if args.dry_run:
            if problems:
                _print_problems(args.suite, problems, 'a run would stop here')
            return 2 if problems else 0
        print(f'{len(summary.completed)} run(s) completed, {len(summary.skipped)} already '
              f'complete, {len(summary.failed)} failed ({time.monotonic() - start:.0f} s)')
        for failure in summary.failed:
            print(f'  FAILED {failure["run"]} at {failure["step"]}: {failure["error"]}; log: '
                  f'{failure["log"]}')
    try:
        rows, missing = build_report(suite, runs, report_dir)
    except (OSError, ValueError, KeyError) as exc:  # SuiteError: a changed entry
        print(f'run_suite: error while scoring: {exc}', file=sys.stderr)
        return 2 if isinstance(exc, SuiteError) else 1
    print(f'report: {report_dir} ({len(rows)} rows; {len(missing)} of {len(runs)} runs missing)')
    return 1 if missing else 0


def _print_problems(suite: str, problems: List[str], consequence: str) -> None:
    print(f'run_suite: {suite}: {len(problems)} problem(s); {consequence}:', file=sys.stderr)
    for problem in problems:
        print(f'  - {problem}', file=sys.stderr)


def _options_argv(argv: Optional[List[str]]) -> List[str]:
    """The ``--cfg-options`` items as given (for the emitted ``--finish`` command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    start = argv.index('--cfg-options') + 1
    items = []
    for item in argv[start:]:
        if item.startswith('--'):
            break
        items.append(item)
    return items


__all__ = ['main', 'parse_args']
