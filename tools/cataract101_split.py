#!/usr/bin/env python
"""Write the project's seeded Cataract-101 split (50 train / 10 val / 41 test videos).

Cataract-101 has no official split. The ids come from the official ``videos.csv``
(``VideoID;...``, one header line) and are split with
``surgvista_mm.datasets.phase_labels.cataract101_split`` (ids sorted numerically,
``numpy.random.default_rng(seed).permutation``, first 50 train, next 10 val, the other 41 test).
Each id is written as ``case_<id>`` (the manifest ids of ``videos/case_<id>.mp4``) into
``ROOT/splits/{train,val,test}.txt``, which
``configs/_base_/datasets/finetune_cataract101_phase.py`` reads. Example::

    python tools/cataract101_split.py data/cataract101 --seed 0
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from surgvista_mm.datasets.phase_labels import cataract101_split  # noqa: E402
from surgvista_mm.utils.io import atomic_write_text  # noqa: E402


def read_video_ids(path: str) -> list:
    """VideoIDs of ``videos.csv`` (semicolon-separated, first field, header skipped)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'videos.csv not found: {path}')
    ids = []
    with open(path, encoding='utf-8-sig') as f:
        for lineno, line in enumerate(f, start=1):
            field = line.split(';', 1)[0].strip()
            if not field or (lineno == 1 and not field.isdigit()):
                continue
            if not field.isdigit():
                raise ValueError(f'{path}:{lineno}: bad video id {field!r}')
            ids.append(int(field))
    return ids


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='Cataract-101 folder holding videos.csv')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--prefix', default='case_', help='manifest id = prefix + VideoID')
    parser.add_argument('--force', action='store_true',
                        help='replace existing split files that differ (changing a split after '
                        'training moves videos between train/val and test)')
    args = parser.parse_args(argv)
    ids = [f'{args.prefix}{i}' for i in read_video_ids(osp.join(args.root, 'videos.csv'))]
    out = osp.join(args.root, 'splits')
    texts = {}
    for name, part in zip(('train', 'val', 'test'), cataract101_split(ids, args.seed)):
        texts[name] = (f'# Cataract-101 {name} split (seeded 50/10/41, seed {args.seed})\n'
                       + ''.join(i + '\n' for i in part))
    for name, text in texts.items():
        path = osp.join(out, f'{name}.txt')
        if osp.isfile(path) and not args.force:
            with open(path, encoding='utf-8') as f:
                if f.read() != text:
                    raise SystemExit(f'{path} exists with a different split; keep it, or pass '
                                     '--force to replace it')
    for name, text in texts.items():
        atomic_write_text(osp.join(out, f'{name}.txt'), text)
        print(f'{name}: {text.count(chr(10)) - 1} videos -> {out}/{name}.txt')
    return 0

if __name__ == '__main__':
    sys.exit(main())
