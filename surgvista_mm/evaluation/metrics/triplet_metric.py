"""Registered surgical action triplet recognition metric (CholecT50 and alike)."""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from surgvista_mm.registry import METRICS
from surgvista_mm.utils.text import count
from ..functional.triplet import (CHOLECT50_NULL_CLASSES, COMPONENTS, load_triplet_map,
                                  read_null_classes, triplet_metrics)
from ._utils import deduplicate, format_table, get_field, to_key, to_numpy


@METRICS.register_module()
class SurgicalTripletMetric(BaseMetric):
    """AP_I, AP_V, AP_T, AP_IV, AP_IT, AP_IVT, video-wise and global (metrics-spec §2).

    Every data sample carries ``video_id`` and ``frame_index`` (metainfo), ``pred_score`` (``[C]``
    sigmoid probabilities of the triplets) and ``gt_label`` (``[C]`` multi-hot). Results are
    de-duplicated by ``(video_id, frame_index)``. Returned keys (fractions in [0, 1]):
    ``video/AP_{I,V,T,IV,IT,IVT}`` (the benchmark number) and ``global/AP_...``. Classes without
    a positive frame are excluded (never scored 0), whatever the scikit-learn version.

    Args:
        maps: Triplet map file (columns IVT, I, V, T, IV, IT); default the CholecT50 map shipped
            with the package.
        null_classes: Null triplet ids dropped from IVT with ``ignore_null``. ``'default'``: the
            CholecT50 ones (94-99) with the default map; with another map they must be given
            (a list, an id-list file path (one id per line, ``#`` comments), or ``None``).
        num_classes: Expected number of triplets; the map must have that many (None: no check).
        ignore_null: Drop the null classes from AP_IVT (the benchmark's setting).
        components: Components to report.
        collect_device: ``'cpu'`` or ``'gpu'`` for gathering results across ranks.
        prefix: Prefix of the returned keys (default ``'triplet'``).
        collect_dir: Folder for CPU collection.
    """

    default_prefix = 'triplet'

    def __init__(self,
                 maps: Optional[str] = None,
                 null_classes: Union[Sequence[int], str, None] = 'default',
                 ignore_null: bool = True,
                 num_classes: Optional[int] = None,
                 components: Sequence[str] = COMPONENTS,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.mapping = load_triplet_map(maps)
        if num_classes is not None and len(self.mapping) != num_classes:
            raise ValueError(f'the triplet map {maps or "(CholecT50)"} has {len(self.mapping)} '
                             f'triplets, not num_classes={num_classes}')
        if isinstance(null_classes, str) and null_classes != 'default':
            null_classes = read_null_classes(null_classes, len(self.mapping))
        if isinstance(null_classes, str):
            if maps is not None:
                raise ValueError('give null_classes explicitly (a list, or None) with a custom '
                                 'triplet map')
            null_classes = CHOLECT50_NULL_CLASSES
        self.null_classes = tuple(null_classes or ())
        unknown = [c for c in components if c not in COMPONENTS]
        if unknown or not components:
            raise ValueError(f'components must be a non-empty subset of {COMPONENTS}, got '
                             f'{components}')
        self.components = tuple(components)
        self.ignore_null = ignore_null
        self.num_triplets = len(self.mapping)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep the triplet scores and multi-hot labels of every frame."""
        for sample in data_samples:
            scores = to_numpy(get_field(sample, 'pred_score')).astype(np.float32).ravel()
            target = to_numpy(get_field(sample, 'gt_label')).ravel()
            for name, arr in (('pred_score', scores), ('gt_label', target)):
                if arr.size != self.num_triplets:
                    raise ValueError(f'{name} has {arr.size} values; the triplet map has '
                                     f'{self.num_triplets} classes (gt_label must be multi-hot)')
            self.results.append({
                'video_id': to_key(get_field(sample, 'video_id')),
                'frame_index': int(to_key(get_field(sample, 'frame_index'))),
                'scores': scores, 'target': (target != 0).astype(np.uint8)})

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        """Compute the APs, log a table and return ``video/AP_X`` and ``global/AP_X``."""
        results = deduplicate(results, ('video_id', 'frame_index'), compare=('target',))
        res = triplet_metrics(np.stack([r['target'] for r in results]),
                              np.stack([r['scores'] for r in results]),
                              [r['video_id'] for r in results], self.mapping,
                              self.null_classes, self.ignore_null, self.components)
        metrics: Dict[str, float] = {}
        rows = []
        for comp in self.components:
            name = f'AP_{comp.upper()}'
            metrics[f'video/{name}'] = res[comp]['video_mAP']
            metrics[f'global/{name}'] = res[comp]['global_mAP']
            rows.append([name, 100 * res[comp]['video_mAP'], 100 * res[comp]['global_mAP'],
                         int(np.sum(~np.isnan(res[comp]['video_AP']))),
                         len(res[comp]['classes'])])
        num_videos = len(res[self.components[0]]['videos'])
        print_log('\n' + format_table(
            ['component', 'video-wise mAP', 'global mAP', 'scored classes', 'classes'], rows,
            f'Triplet AP (percent) of {len(results)} frames in {count(num_videos, "video")}; '
            f'ignore_null={self.ignore_null}'), logger='current')
        return metrics
