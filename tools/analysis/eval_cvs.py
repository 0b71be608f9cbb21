"""Score Critical View of Safety predictions with the Endoscapes protocol (metrics-spec §3).

Example::

    python tools/analysis/eval_cvs.py preds.npz --per-video --out results.json

``PRED.npz`` holds ``targets`` (``[N, 3]`` consensus labels or annotator means, or ``[N, A, 3]``
votes), ``scores [N, 3]`` (sigmoid) and, for ``--per-video``, ``video_ids [N]``. With
``--single-label``: ``labels [N]`` and ``scores [N, K]`` (top-1 accuracy and one-vs-rest mAP).
"""
import argparse
import os
import sys
from typing import List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # run from a clone too

from surgvista_mm.evaluation.functional.cvs import cvs_metrics, nan_notes  # noqa: E402
from surgvista_mm.evaluation.functional.ranking import single_label_metrics  # noqa: E402
from surgvista_mm.evaluation.report import write_json_atomic  # noqa: E402
from surgvista_mm.utils.io import read_npz  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('pred', metavar='PRED.npz')
    parser.add_argument('--single-label', action='store_true',
                        help='single-label variant (labels [N], scores [N, K])')
    parser.add_argument('--per-video', action='store_true', help='also aggregate per video')
    parser.add_argument('--threshold', type=float, default=0.5,
                        help='decision threshold of the balanced accuracy')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        arrays = read_npz(args.pred)
        need = ['labels', 'scores'] if args.single_label else ['targets', 'scores']
        need += ['video_ids'] if args.per_video else []
        missing = [k for k in need if k not in arrays]
        if missing:
            raise ValueError(f'{args.pred}: missing arrays {missing}')
        if args.single_label:
            res = single_label_metrics(arrays['labels'], arrays['scores'])
        else:
            res = cvs_metrics(arrays['targets'], arrays['scores'], arrays.get('video_ids'),
                              args.threshold, args.per_video)
    except (OSError, ValueError) as err:
        print(f'eval_cvs: error: {err}', file=sys.stderr)
        return 2
    for key, value in res.items():
        if np.ndim(value) == 0:
            print(f'  {key:<24}{100 * value:8.2f}')
    for note in nan_notes(res):
        print(f'note: {note}')
    if args.out:
        write_json_atomic(res, args.out)
        print(f'written {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
