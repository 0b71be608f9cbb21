"""Score triplet predictions (CholecT50 and alike): AP_I ... AP_IVT, video-wise and global.

Example::

    python tools/analysis/eval_triplet.py preds.npz --out results.json

``PRED.npz`` holds ``targets [N, C]`` (multi-hot), ``scores [N, C]`` (probabilities) and
``video_ids [N]``. Defaults: the CholecT50 map shipped with the package, its null classes (94-99)
and ignore_null on. AP values are fractions; classes without positives are excluded (null in JSON).
"""
import argparse
import os
import sys
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # run from a clone too

from surgvista_mm.utils.text import count  # noqa: E402
from surgvista_mm.evaluation.functional.triplet import (  # noqa: E402
    CHOLECT50_NULL_CLASSES, COMPONENTS, load_triplet_map, triplet_metrics)
from surgvista_mm.evaluation.report import write_json_atomic  # noqa: E402
from surgvista_mm.utils.io import read_npz  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('pred', metavar='PRED.npz', help='targets, scores and video_ids')
    parser.add_argument('--maps', help='triplet map (columns IVT,I,V,T,IV,IT; default '
                        'CholecT50); with another map --null-classes is required')
    parser.add_argument('--null-classes', help='comma-separated null triplet ids dropped from '
                        'AP_IVT, or "none" (default with the CholecT50 map: 94-99)')
    parser.add_argument('--keep-null', action='store_true',
                        help='score the null classes too (ignore_null off)')
    parser.add_argument('--out', help='write {component: {video_mAP, global_mAP, video_AP}}')
    return parser.parse_args(argv)


def parse_null_classes(text: Optional[str], custom_map: bool) -> tuple:
    """Null classes from the command line (see ``--null-classes``)."""
    if text is None:
        if custom_map:
            raise ValueError('--null-classes LIST|none is required with --maps')
        return CHOLECT50_NULL_CLASSES
    if text.strip().lower() == 'none':
        return ()
    try:
        return tuple(int(x) for x in text.split(',') if x.strip())
    except ValueError:
        raise ValueError(f'--null-classes: expected comma-separated ids or "none", got '
                         f'{text!r}') from None


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        null_classes = parse_null_classes(args.null_classes, args.maps is not None)
        mapping = load_triplet_map(args.maps)
        data = read_npz(args.pred)
        missing = {'targets', 'scores', 'video_ids'} - set(data)
        if missing:
            raise ValueError(f'{args.pred}: missing arrays {sorted(missing)}')
        targets, scores, video_ids = data['targets'], data['scores'], data['video_ids']
        res = triplet_metrics(targets, scores, video_ids, mapping, null_classes,
                              ignore_null=not args.keep_null)
    except (OSError, ValueError) as err:
        print(f'eval_triplet: error: {err}', file=sys.stderr)
        return 2
    num_videos = len(res['ivt']['videos'])
    print(f'triplet AP, {len(targets)} frames, {count(num_videos, "video")}, '
          f'ignore_null={not args.keep_null} (percent)')
    print(f'  {"component":<10}{"video-wise mAP":>16}{"global mAP":>12}')
    for comp in COMPONENTS:
        print(f'  AP_{comp.upper():<7}{100 * res[comp]["video_mAP"]:>16.2f}'
              f'{100 * res[comp]["global_mAP"]:>12.2f}')
    if args.out:
        write_json_atomic({comp: {'video_mAP': res[comp]['video_mAP'],
                                  'global_mAP': res[comp]['global_mAP'],
                                  'video_AP': res[comp]['video_AP']} for comp in COMPONENTS},
                          args.out)
        print(f'written {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
