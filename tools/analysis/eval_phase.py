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
    PROTOCOLS, phase_bootstrap_ci)
from surgvista_mm.evaluation.phase_eval import (  # noqa: E402
    PhaseDirEvaluation, evaluate_phase_dirs, per_phase_std_over_videos)
from surgvista_mm.evaluation.phase_files import (  # noqa: E402
    SHIPPED_CLASS_LISTS, resolve_class_names)
from surgvista_mm.evaluation.report import write_json_atomic  # noqa: E402
from surgvista_mm.utils.text import count  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--gt-dir', required=True, help='folder of ground-truth phase files')
    parser.add_argument('--pred-dir', required=True, help='folder of prediction files')
    parser.add_argument('--protocol', required=True, choices=sorted(PROTOCOLS),
                        help='evaluation protocol (relaxed ones need --fps)')
    parser.add_argument('--fps', type=float, help='frame rate of the evaluated files (the '
                        'relaxation window is 10 s x fps frames)')
    parser.add_argument('--classes', metavar='NAME|FILE', help='phase names: a shipped list '
                        '(' + ', '.join(SHIPPED_CLASS_LISTS) + ') or a text file, one name per '
                        'line; the files may then hold names or 0-based ids')
    parser.add_argument('--gt-fps', type=float, metavar='F', help='the ground-truth files have '
                        'F rows per second (e.g. 25: official Cholec80 files) and the '
                        'predictions one per second: 1-fps frame k is scored against row '
                        'round(k*F), the rule the datasets use')
    parser.add_argument('--num-classes', type=int, help='number of phases (default: from '
                        '--classes, the protocol, or the largest id in the files + 1)')
    parser.add_argument('--bootstrap', type=int, default=0, help='bootstrap resamples over '
                        'videos for 95%% confidence intervals (0: none; the paper uses 1000)')
    parser.add_argument('--seed', type=int, default=0, help='bootstrap seed')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--plot', metavar='OUT.png', help='also draw per-video ground-truth / '
                        'prediction ribbons and the per-phase Jaccard bars into this image')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        names = resolve_class_names(args.classes) if args.classes else None
        evaluation = evaluate_phase_dirs(args.gt_dir, args.pred_dir, args.protocol, args.fps,
                                         names, args.num_classes, args.gt_fps)
    except (OSError, ValueError) as err:
        print(f'eval_phase: error: {err}', file=sys.stderr)
        return 2
    result = evaluation.summary
    if args.bootstrap:
        result['ci95'] = phase_bootstrap_ci(evaluation.stats, args.bootstrap, args.seed)
    _print_report(result)
    if args.out:
        write_json_atomic(result, args.out)
        print(f'written {args.out}')
    if args.plot:
        try:
            _plot(evaluation, args.plot)
        except (OSError, ValueError) as err:
            print(f'eval_phase: error: cannot write the plot {args.plot}: {err}',
                  file=sys.stderr)
            return 2
        print(f'written {args.plot}')
    return 0


def _plot(evaluation: PhaseDirEvaluation, path: str) -> None:
    """Ribbons per video and per-phase Jaccard bars (matplotlib is imported only here)."""
    from surgvista_mm.visualization import plot_phase_ribbons, save_figure

    res = evaluation.summary
    title = (f'{res["protocol"]}: Jaccard {res["jaccard"]:.2f}, accuracy {res["accuracy"]:.2f} '
             f'({count(len(evaluation.videos), "video")}, percent)')
    fig = plot_phase_ribbons(dict(zip(evaluation.videos, evaluation.gts)),
                             dict(zip(evaluation.videos, evaluation.preds)),
                             evaluation.class_names, res['per_phase_jaccard'], title,
                             per_phase_jaccard_std=per_phase_std_over_videos(evaluation.stats),
                             fps=res['fps'])
    save_figure(fig, path)


def _print_report(res: dict) -> None:
    def pm(name: str) -> str:
        return f'{res[name]:6.2f} ± {res[name + "_std"]:5.2f}'

    print(f'protocol: {res["protocol"]}  ({count(len(res["videos"]), "video")}, {res["num_classes"]} '
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
