"""Compare two phase-prediction sets on the same videos with one protocol (metrics-spec §1, §5).

Example (is A better than B on the Cholec80 test videos?)::

    python tools/analysis/compare_phase.py --gt-dir gt/ --pred-a ours/ --pred-b baseline/ \
        --protocol cholec80-matlab --fps 1 --metric jaccard --out compare.json --plot compare.png

Both sets are scored exactly as ``eval_phase.py`` scores them. Printed and written: the per-video
values of A and B (definitions in ``surgvista_mm/evaluation/phase_eval.py``), the protocol's score
of each with a percentile bootstrap 95% CI over videos (both on the same resamples, also for
A - B), and the paired one-sided Wilcoxon signed-rank test of A > B on the per-video differences
(zero_method "wilcox"). Percentages.
"""
import argparse
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # run from a clone too

from surgvista_mm.evaluation.functional.phase import PROTOCOLS  # noqa: E402
from surgvista_mm.evaluation.functional.stats import paired_wilcoxon  # noqa: E402
from surgvista_mm.evaluation.phase_eval import (  # noqa: E402
    PER_VIDEO_METRICS, PhaseDirEvaluation, evaluate_phase_dirs, paired_bootstrap_ci,
    per_video_metric)
from surgvista_mm.evaluation.phase_files import read_class_names  # noqa: E402
from surgvista_mm.utils import atomic_write_json  # noqa: E402
from surgvista_mm.utils.text import count, side_label  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--gt-dir', required=True, help='folder of ground-truth phase files')
    parser.add_argument('--pred-a', required=True, help='prediction folder of method A')
    parser.add_argument('--pred-b', required=True, help='prediction folder of method B')
    parser.add_argument('--protocol', required=True, choices=sorted(PROTOCOLS),
                        help='evaluation protocol (relaxed ones need --fps)')
    parser.add_argument('--fps', type=float, help='frame rate of the evaluated files')
    parser.add_argument('--classes', help='text file of phase names, one per line, if the '
                        'files hold names instead of 0-based ids')
    parser.add_argument('--num-classes', type=int, help='number of phases (default: from '
                        '--classes, the protocol, or the largest id in any file + 1)')
    parser.add_argument('--metric', default='jaccard', choices=PER_VIDEO_METRICS,
                        help='metric compared (default: jaccard)')
    parser.add_argument('--name-a', help='label of A (default: the folder name)')
    parser.add_argument('--name-b', help='label of B (default: the folder name)')
    parser.add_argument('--bootstrap', type=int, default=1000,
                        help='bootstrap resamples over videos (default 1000)')
    parser.add_argument('--seed', type=int, default=0, help='bootstrap seed (default 0)')
    parser.add_argument('--out', help='write the comparison as JSON here')
    parser.add_argument('--plot', metavar='OUT.png',
                        help='draw the paired per-video values (dots joined by lines) here')
    return parser.parse_args(argv)


def _names(args: argparse.Namespace) -> Tuple[str, str]:
    a = args.name_a or os.path.basename(os.path.normpath(args.pred_a))
    b = args.name_b or os.path.basename(os.path.normpath(args.pred_b))
    return (a, b) if a != b or args.name_a else ('A', 'B')


def evaluate_pair(args: argparse.Namespace, names: Optional[List[str]]
                  ) -> Tuple[PhaseDirEvaluation, PhaseDirEvaluation]:
    """Score A and B with one number of phases (the larger, when inferred from the files)."""
    ev_a = evaluate_phase_dirs(args.gt_dir, args.pred_a, args.protocol, args.fps, names,
                               args.num_classes)
    ev_b = evaluate_phase_dirs(args.gt_dir, args.pred_b, args.protocol, args.fps, names,
                               args.num_classes)
    if ev_a.num_classes != ev_b.num_classes:
        k = max(ev_a.num_classes, ev_b.num_classes)
        if ev_a.num_classes != k:
            ev_a = evaluate_phase_dirs(args.gt_dir, args.pred_a, args.protocol, args.fps,
                                       names, k)
        else:
            ev_b = evaluate_phase_dirs(args.gt_dir, args.pred_b, args.protocol, args.fps,
                                       names, k)
    return ev_a, ev_b


def compare(ev_a: PhaseDirEvaluation, ev_b: PhaseDirEvaluation, metric: str,
            n_resamples: int = 1000, seed: int = 0) -> Dict:
    """The comparison as a JSON-ready dictionary (keys documented in docs/evaluation.md)."""
    if n_resamples < 1:
        raise ValueError(f'--bootstrap must be positive, got {n_resamples}')
    per_a = per_video_metric(ev_a.stats, metric)
    per_b = per_video_metric(ev_b.stats, metric)
    ci = paired_bootstrap_ci(ev_a.stats, ev_b.stats, metric, n_resamples, seed)
    try:
        test = paired_wilcoxon(per_a, per_b)
        test.update(alternative='greater', zero_method='wilcox')
    except ValueError as err:  # all differences zero, or NaN per-video values
        test = {'statistic': None, 'pvalue': None, 'num_videos': len(per_a),
                'alternative': 'greater', 'zero_method': 'wilcox', 'error': str(err)}

    def side(ev: PhaseDirEvaluation, per_video: np.ndarray, interval: Tuple[float, float]
             ) -> Dict:
        return {'score': ev.summary[metric], 'ci95': list(interval),
                'per_video': per_video.tolist(), 'per_video_mean': float(np.mean(per_video))}

    a, b = side(ev_a, per_a, ci['a']), side(ev_b, per_b, ci['b'])
    return {
        'protocol': ev_a.summary['protocol'], 'metric': metric, 'fps': ev_a.summary['fps'],
        'num_classes': ev_a.num_classes, 'classes': ev_a.summary['classes'],
        'videos': list(ev_a.videos), 'a': a, 'b': b,
        'difference': {'score': a['score'] - b['score'], 'ci95': list(ci['diff']),
                       'per_video': (per_a - per_b).tolist(),
                       'per_video_mean': float(np.mean(per_a - per_b))},
        'wilcoxon': test,
        'bootstrap': {'n_resamples': n_resamples, 'seed': seed, 'level': 0.95,
                      'unit': 'video'},
    }


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        names = read_class_names(args.classes) if args.classes else None
        ev_a, ev_b = evaluate_pair(args, names)
        result = compare(ev_a, ev_b, args.metric, args.bootstrap, args.seed)
    except (OSError, ValueError) as err:
        print(f'compare_phase: error: {err}', file=sys.stderr)
        return 2
    label_a, label_b = _names(args)
    result['a'].update(name=label_a, pred_dir=args.pred_a)
    result['b'].update(name=label_b, pred_dir=args.pred_b)
    _print_report(result)
    try:
        if args.out:
            atomic_write_json(args.out, result)
            print(f'written {args.out}')
        if args.plot:
            _plot(result, args.plot)
            print(f'written {args.plot}')
    except (OSError, ValueError) as err:
        print(f'compare_phase: error: {err}', file=sys.stderr)
        return 2
    return 0


def _print_report(res: Dict) -> None:
    a, b, d, test = res['a'], res['b'], res['difference'], res['wilcoxon']
    print(f'protocol: {res["protocol"]}  metric: {res["metric"]}  ({count(len(res["videos"]), "video")}, '
          f'{res["num_classes"]} phases, percent)')
    print(f'  A = {a["name"]} ({a["pred_dir"]})')
    print(f'  B = {b["name"]} ({b["pred_dir"]})')
    print(f'  {"video":<24}{"A":>9}{"B":>9}{"A - B":>9}')
    for vid, va, vb, dv in zip(res['videos'], a['per_video'], b['per_video'], d['per_video']):
        print(f'  {vid:<24}{va:>9.2f}{vb:>9.2f}{dv:>+9.2f}')
    print(f'  {"mean of per-video":<24}{a["per_video_mean"]:>9.2f}{b["per_video_mean"]:>9.2f}'
          f'{d["per_video_mean"]:>+9.2f}')
    n, seed = res['bootstrap']['n_resamples'], res['bootstrap']['seed']
    print(f'  protocol score with 95% bootstrap CI over videos ({n} resamples, seed {seed}):')
    for label, side in (('A', a), ('B', b), ('A - B', d)):
        low, high = side['ci95']
        print(f'    {label:<6}{side["score"]:>8.2f}  [{low:.2f}, {high:.2f}]')
    if test['pvalue'] is None:
        print(f'  Wilcoxon signed-rank (A > B): not computed: {test["error"]}')
    else:
        print(f'  Wilcoxon signed-rank, one-sided A > B (zero_method wilcox): '
              f'W = {test["statistic"]:.1f}, p = {test["pvalue"]:.4g}')


def _plot(res: Dict, path: str) -> None:
    """Paired per-video dots (matplotlib is imported only here)."""
    from surgvista_mm.visualization import plot_paired_scores, save_figure

    p = res['wilcoxon']['pvalue']
    p_text = 'n/a' if p is None else f'{p:.3g}'
    title = (f'{res["protocol"]}, per-video {res["metric"]}: {side_label(res["a"]["name"], "A")} '
             f'vs {side_label(res["b"]["name"], "B")}\nWilcoxon signed-rank, one-sided A > B: p = {p_text}')
    fig = plot_paired_scores(res['videos'], res['a']['per_video'], res['b']['per_video'],
                             res['a']['name'], res['b']['name'], f'per-video {res["metric"]} (%)',
                             title, means=(res['a']['per_video_mean'],
                                           res['b']['per_video_mean']))
    save_figure(fig, path)


if __name__ == '__main__':
    sys.exit(main())
