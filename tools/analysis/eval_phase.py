"""Score per-video phase prediction files with a named protocol (metrics-spec §1).

Example (the widely quoted Cholec80 numbers, 1-fps predictions)::

    python tools/analysis/eval_phase.py --gt-dir gt/ --pred-dir pred/ \
        --protocol cholec80-matlab --fps 1 --out results.json

Files: one per video, header line, then ``frame<TAB>phase`` (0-based id, or a name with
``--classes``); both folders hold the same file names. Percentages, as the MATLAB script prints.
"""
import argparse
import os
import sys
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # run from a clone too

from surgvista_mm.evaluation.functional.phase import (  # noqa: E402
    PROTOCOLS, aggregate_relaxed, aggregate_unrelaxed, compute_phase_stats, phase_bootstrap_ci,
    phase_summary)
from surgvista_mm.evaluation.phase_files import load_phase_dirs, read_class_names  # noqa: E402
from surgvista_mm.evaluation.report import write_json_atomic  # noqa: E402

_FIXED_K = {'cholec80': 7, 'm2cai16': 8}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--gt-dir', required=True, help='folder of ground-truth phase files')
    parser.add_argument('--pred-dir', required=True, help='folder of prediction files')
    parser.add_argument('--protocol', required=True, choices=sorted(PROTOCOLS),
                        help='evaluation protocol (relaxed ones need --fps)')
    parser.add_argument('--fps', type=float, help='frame rate of the evaluated files (the '
                        'relaxation window is 10 s x fps frames)')
    parser.add_argument('--classes', help='text file of phase names, one per line, if the '
                        'files hold names instead of 0-based ids')
    parser.add_argument('--num-classes', type=int, help='number of phases (default: from '
                        '--classes, the protocol, or the largest id in the files + 1)')
    parser.add_argument('--bootstrap', type=int, default=0, help='bootstrap resamples over '
                        'videos for 95%% confidence intervals (0: none; the paper uses 1000)')
    parser.add_argument('--seed', type=int, default=0, help='bootstrap seed')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


def _num_classes(args: argparse.Namespace, rule: str, relaxation: str,
                 names: Optional[List[str]]) -> Optional[int]:
    if names is not None:
        return len(names)
    if args.num_classes is not None:
        return args.num_classes
    return _FIXED_K.get(rule) if relaxation != 'none' else None


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    relaxation, rule = PROTOCOLS[args.protocol]
    try:
        if relaxation != 'none' and args.fps is None:
            raise ValueError(f'--fps is required for the {args.protocol} protocol')
        names = read_class_names(args.classes) if args.classes else None
        k = _num_classes(args, rule, relaxation, names)
        videos, gts, preds = load_phase_dirs(args.gt_dir, args.pred_dir, names, k)
        if k is None:
            k = max(int(max(g.max(), p.max())) for g, p in zip(gts, preds)) + 1
        stats = compute_phase_stats(gts, preds, k, relaxation, rule, args.fps, video_ids=videos)
    except (OSError, ValueError) as err:
        print(f'eval_phase: error: {err}', file=sys.stderr)
        return 2
    result = phase_summary({
        'protocol': stats.protocol, 'videos': videos, 'num_classes': k,
        'unrelaxed': aggregate_unrelaxed(stats),
        'relaxed': None if stats.relaxed is None else aggregate_relaxed(stats)})
    result.update(num_classes=k, fps=args.fps,
                  classes=names if names is not None else [str(i) for i in range(k)])
    if args.bootstrap:
        result['ci95'] = phase_bootstrap_ci(stats, args.bootstrap, args.seed)
    _print_report(result)
    if args.out:
        write_json_atomic(result, args.out)
        print(f'written {args.out}')
    return 0


def _print_report(res: dict) -> None:
    def pm(name: str) -> str:
        return f'{res[name]:6.2f} ± {res[name + "_std"]:5.2f}'

    print(f'protocol: {res["protocol"]}  ({len(res["videos"])} videos, {res["num_classes"]} '
          'phases, percent)')
    acc_note = ('relaxed, over videos' if res['protocol'] != 'unrelaxed'
                else 'video-level, over videos')
    jpr_note = ('over phases' if res['protocol'] != 'unrelaxed' else 'pooled frames, over phases')
    print(f'  jaccard   {pm("jaccard")}   ({jpr_note})')
    print(f'  precision {pm("precision")}')
    print(f'  recall    {pm("recall")}')
    print(f'  accuracy  {pm("accuracy")}   ({acc_note})')
    print(f'  image-level accuracy (unrelaxed) {res["image_accuracy"]:6.2f}')
    print(f'  video-level accuracy (unrelaxed) {res["video_accuracy"]:6.2f}')
    print(f'  {"phase":<24}{"jaccard":>9}{"precision":>11}{"recall":>9}')
    for i, name in enumerate(res['classes']):
        vals = [res[f'per_phase_{m}'][i] for m in ('jaccard', 'precision', 'recall')]
        print(f'  {name:<24}' + ''.join(f'{v:>{w}.2f}' for v, w in zip(vals, (9, 11, 9))))
    print(f'  {"video":<24}{"accuracy":>9}')
    for vid, acc in zip(res['videos'], res['per_video_accuracy']):
        print(f'  {vid:<24}{acc:>9.2f}')
    if 'ci95' in res:
        print('  95% bootstrap CI over videos:')
        for group, intervals in res['ci95'].items():
            for name, (low, high) in intervals.items():
                print(f'    {group}/{name}: [{low:.2f}, {high:.2f}]')


if __name__ == '__main__':
    sys.exit(main())
