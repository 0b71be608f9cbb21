"""Test-split video ids of every benchmark, shipped with the package (``benchmark_splits/``).

A leaf module (no import of ``surgvista_mm.datasets``): the pre-training dataset uses it to
refuse a source that contains a benchmark test video. Ids are those the project's converters
(``tools/data/prepare.py``) and dataset configs give the official releases:

============================  =========================================================
benchmark                     test videos
============================  =========================================================
``cholec80``                  video41 ... video80 (also the Cholec80-CVS test videos)
``m2cai16``                   test_workflow_video_01 ... 14
``autolaparo``                15 ... 21
``pmlr50``                    38 ... 47
``cataracts``                 test02 ... test25 without the validation 07, 14, 16, 19
``cataract21``                case_18 ... case_21
``cholect50``                 VID92, VID96, VID103, VID110, VID111 (challenge split)
``endoscapes``                162 ... 201
``surgicalactions160``        the 48 test clips of the seeded split (``CC_MM``)
============================  =========================================================

Cataract-101 has no official split and ids that depend on the release: its seeded test list
is written by ``tools/data/prepare.py cataract101`` (``splits/test.txt``). Private benchmarks
(ESD57, Prostate21) keep their lists with the data.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Tuple

SPLITS_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'benchmark_splits')


def _norm(name: str) -> str:
    return re.sub(r'[^a-z0-9]', '', name.lower())


def list_benchmarks() -> List[str]:
    """Names of the benchmarks whose test ids are shipped."""
    return sorted(n[:-len('_test.txt')] for n in os.listdir(SPLITS_DIR)
                  if n.endswith('_test.txt'))


def test_list_path(benchmark: str) -> str:
    """Path of the shipped test-id list of ``benchmark``."""
    path = osp.join(SPLITS_DIR, f'{benchmark}_test.txt')
    if not osp.isfile(path):
        raise KeyError(f'no shipped test list for benchmark {benchmark!r}; known: '
                       f'{list_benchmarks()}')
    return path


@lru_cache(maxsize=None)
def benchmark_test_ids(benchmark: str) -> Tuple[str, ...]:
    """Test video ids of ``benchmark`` (one per line in its list, ``#`` comments)."""
    with open(test_list_path(benchmark), encoding='utf-8') as f:
        ids = [line.split('#', 1)[0].strip() for line in f]
    return tuple(i for i in ids if i)


def infer_benchmark(source_name: str) -> Optional[str]:
    """The benchmark a pre-training source is a copy of, from its name (``'cholec80'``,
    ``'m2cai16_workflow'``, ``'manifests/autolaparo.json'`` ...): the longest benchmark name the
    normalised base name starts with, else None (HeiChole, PitVis, web, ...)."""
    base = _norm(osp.splitext(osp.basename(str(source_name)))[0])
    best = None
    for name in list_benchmarks():
        if base.startswith(_norm(name)) and (best is None or len(name) > len(best)):
            best = name
    return best


def find_test_videos(ids: Iterable[str], benchmark: str) -> List[str]:
    """The ids among ``ids`` that are test videos of ``benchmark``, in input order."""
    test = set(benchmark_test_ids(benchmark))
    return [i for i in ids if i in test]


def test_ids_by_benchmark() -> Dict[str, Tuple[str, ...]]:
    """Every shipped list: ``{benchmark: ids}``."""
    return {b: benchmark_test_ids(b) for b in list_benchmarks()}
