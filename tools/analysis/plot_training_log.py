"""Plot training scalars (losses, lr, ...) of an mmengine work dir against iteration.

Examples::

    python tools/analysis/plot_training_log.py work_dirs/demo --out curves.png
    python tools/analysis/plot_training_log.py \
        work_dirs/demo/20261123_215403/vis_data/scalars.json --keys loss loss_pixel lr \
        --out curves.png

Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` (mmengine's LocalVisBackend, one JSON
object per line). In a work dir with several runs, ``--runs auto`` (default) takes the latest run
and, if it resumed earlier runs (its first logged iteration is later than theirs), concatenates
them in time order; ``latest`` takes the latest run only; ``all`` every run. Default keys: every
training key containing "loss", and ``lr`` on a second axis.
"""
import argparse
import os
import sys
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # run from a clone too

from surgvista_mm.visualization.scalar_log import RUN_MODES, load_scalar_log  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('path', metavar='WORK_DIR_or_scalars.json',
                        help='work dir, run folder, vis_data folder or scalars.json')
    parser.add_argument('--keys', nargs='+', help='scalars to plot (default: every key '
                        'containing "loss", plus lr)')
    parser.add_argument('--runs', default='auto', choices=RUN_MODES,
                        help='which runs of a work dir (default: auto, see above)')
    parser.add_argument('--log-y', action='store_true', help='log scale for the losses')
    parser.add_argument('--title', help='figure title (default: the path)')
    parser.add_argument('--out', required=True, metavar='curves.png', help='image to write')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        log = load_scalar_log(args.path, args.runs)
        from surgvista_mm.visualization import plot_training_curves, save_figure

        title = args.title if args.title is not None else os.path.normpath(args.path)
        fig = plot_training_curves(log, args.keys, title, args.log_y)
        save_figure(fig, args.out)
    except (OSError, ValueError) as err:
        print(f'plot_training_log: error: {err}', file=sys.stderr)
        return 2
    last = max((pts[-1][0] for pts in log.train.values() if pts), default=None)
    print(f'read {", ".join(log.files)}' + (f' (up to iteration {last:g})' if last else ''))
    print(f'written {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
