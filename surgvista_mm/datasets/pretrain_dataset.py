"""Multi-source pre-training dataset over 1-fps frame folders and video files (spec §5)."""
from __future__ import annotations

import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

from surgvista_mm.data_prep.benchmarks import find_test_videos, infer_benchmark, test_list_path
from surgvista_mm.registry import DATASETS
from .base_clip_dataset import BaseFrameClipDataset
from .manifest import VideoEntry, load_manifest, read_id_list, select_entries

_SOURCE_KEYS = {'manifest', 'data_root', 'include', 'exclude', 'min_frames', 'name', 'benchmark',
                'allow_test_videos'}


def _join(root: Optional[str], path: Optional[str]) -> Optional[str]:
    if path is None or root is None or not isinstance(path, str) or osp.isabs(path):
        return path
    return osp.join(root, path)


def select_source(src: dict, root: Optional[str] = None) -> List[VideoEntry]:
    """The videos of one pre-training source (a ``sources`` entry of
    ``SurgicalPretrainDataset``) after its include / exclude / min_frames selection.

    Args:
        src: the source dict.
        root: the dataset's ``data_root`` (prefix of relative paths), or None.
    """
    manifest = _join(root, src['manifest'])
    entries = load_manifest(manifest, data_root=_join(root, src.get('data_root')),
                            source=src.get('name'))
    include = read_id_list(_join(root, src.get('include')), f'include list of {manifest}')
    exclude = read_id_list(_join(root, src.get('exclude')), f'exclude list of {manifest}')
    return select_entries(entries, include, exclude, src.get('min_frames', 0), manifest)


def check_source_leakage(src: dict, entries: Sequence[VideoEntry], manifest: str) -> None:
    """Refuse a source holding a benchmark test video (by id, shipped lists of
    ``surgvista_mm.data_prep.benchmarks``) unless ``allow_test_videos`` is set.

    The benchmark is the source's ``benchmark`` key (None: no check), else inferred from its
    ``name`` or manifest file name (``cholec80``, ``m2cai16_workflow`` ...).

    Raises:
        ValueError: naming the source, the videos and the benchmark.
    """
    if src.get('allow_test_videos', False):
        return
    name = src.get('name') or osp.splitext(osp.basename(manifest))[0]
    benchmark = src.get('benchmark', 'auto')
    if benchmark == 'auto':
        benchmark = infer_benchmark(name)
    if benchmark is None:
        return
    leaked = find_test_videos([e.video_id for e in entries], benchmark)
    if leaked:
        more = ' ...' if len(leaked) > 10 else ''
        raise ValueError(
            f'pre-training source {name!r} (manifest {manifest}) contains {len(leaked)} test '
            f'video(s) of benchmark {benchmark!r}: {leaked[:10]}{more}'
            f' (list {test_list_path(benchmark)}); select the training videos with include / '
            f'exclude, or set allow_test_videos=True for this source to pre-train on them anyway')


@DATASETS.register_module()
class SurgicalPretrainDataset(BaseFrameClipDataset):
    """Every 1-fps frame of every selected video is one sample; its clip ends at that frame.

    Sample ``i`` covers frame ``t`` of some video; ``results`` entering the pipeline hold
    ``video_id`` (str), ``frame_index`` (t), ``frame_inds`` (int64 ``[clip_len]``:
    ``t - frame_interval*(clip_len-1), ..., t``, clamped at 0), ``total_frames``, where the
    frames are (``frame_dir`` + ``filename_tmpl`` + ``offset``, or ``filename`` + ``native_fps``),
    ``source``, ``sample_idx``, ``epoch`` and ``rng`` (a ``numpy.random.Generator`` seeded by
    ``(seed, epoch, sample_idx)``). See ``base_clip_dataset`` for the ``(index, epoch)`` items.

    Args:
        sources: one dict per manifest (see ``surgvista_mm.datasets.manifest``):

            - ``manifest`` (str, required): manifest path (relative paths are joined to
              ``data_root`` of this dataset when given);
            - ``data_root`` (str, optional): folder the manifest's video paths are relative to
              (default: the manifest's own ``data_root``, else its folder);
            - ``include`` (list of ids | id-list file | None): keep only these videos; every id
              must exist in the manifest;
            - ``exclude`` (list of ids | id-list file | None): drop these videos (e.g. benchmark
              test videos); an id both included and excluded is an error;
            - ``min_frames`` (int, default 0): drop videos with fewer 1-fps frames;
            - ``name`` (str, optional): source name stored in each sample (``source``);
            - ``benchmark`` (str | None, default ``'auto'``): the benchmark whose shipped test
              ids this source must not contain (``'auto'``: inferred from ``name`` or the
              manifest file name, e.g. ``cholec80``; None: no check);
            - ``allow_test_videos`` (bool, default False): build even when the source holds
              benchmark test videos (otherwise an error names source, videos and benchmark).
        clip_len: frames per clip.
        frame_interval: stride between clip frames, in 1-fps frames.
        pipeline: transforms.
        seed: base seed of the per-sample generators.
        data_root: optional prefix for relative ``manifest`` and source ``data_root`` paths.
        check_paths: check at start-up that every video's frame folder / file exists.
        test_mode: passed to ``BaseDataset``.
        lazy_init: defer reading the manifests until first use.
    """

    def __init__(self, sources: Sequence[dict], clip_len: int = 16, frame_interval: int = 4,
                 pipeline: Sequence[Union[dict, Callable]] = (), seed: int = 0,
                 data_root: Optional[str] = None, check_paths: bool = True,
                 test_mode: bool = False, lazy_init: bool = False,
                 on_bad_sample: str = 'error', max_bad_samples: int = 100) -> None:
        if isinstance(sources, dict) or not isinstance(sources, (list, tuple)) or not sources:
            raise TypeError('sources must be a non-empty list of dicts, got '
                            f'{type(sources).__name__}')
        for i, src in enumerate(sources):
            if not isinstance(src, dict) or 'manifest' not in src:
                raise ValueError(f'sources[{i}] must be a dict with a "manifest" key, got {src!r}')
            unknown = set(src) - _SOURCE_KEYS
            if unknown:
                raise ValueError(f'sources[{i}] ({src["manifest"]}): unknown keys '
                                 f'{sorted(unknown)}; allowed: {sorted(_SOURCE_KEYS)}')
        self.sources = [dict(s) for s in sources]
        self.root = data_root
        self.check_paths = check_paths
        super().__init__(clip_len=clip_len, frame_interval=frame_interval, pipeline=pipeline,
                         seed=seed, test_mode=test_mode, lazy_init=lazy_init,
                         on_bad_sample=on_bad_sample, max_bad_samples=max_bad_samples)

    def _join(self, path: Optional[str]) -> Optional[str]:
        return _join(self.root, path)

    def load_data_list(self) -> List[dict]:
        """One dict per selected video (``VideoEntry.to_results()`` keys)."""
        if self.root is not None and not osp.isdir(self.root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root not found: {self.root}')
        videos: List[dict] = []
        seen: Dict[tuple, str] = {}
        for src in self.sources:
            manifest = self._join(src['manifest'])
            selected = self._select(src, manifest)
            for entry in selected:
                key = (entry.source, entry.video_id)
                if key in seen:
                    raise ValueError(f'video {entry.video_id!r} of source {entry.source!r} is '
                                     f'listed twice (manifests {seen[key]} and {manifest})')
                seen[key] = manifest
                if self.check_paths:
                    path = entry.frame_dir or entry.video
                    exists = osp.isdir(path) if entry.frame_dir else osp.isfile(path)
                    if not exists:
                        kind = 'frame folder' if entry.frame_dir else 'video file'
                        raise FileNotFoundError(f'{kind} of video {entry.video_id!r} (manifest '
                                                f'{manifest}) not found: {path}')
                videos.append(entry.to_results())
        if not videos:
            raise ValueError(f'{type(self).__name__}: no video left after include/exclude/'
                             f'min_frames filtering of {[s["manifest"] for s in self.sources]}')
        return videos

    def _select(self, src: dict, manifest: str) -> list:
        entries = select_source(src, self.root)
        check_source_leakage(src, entries, manifest)
        return entries
