"""Feature banks for the temporal stage of the two-stage paradigm (docs/twostage.md).

A bank is a folder with one ``<video_id>.npz`` per video of every split of a config (train,
val and test dataloaders) and a ``bank.json`` describing it:

* ``<video_id>.npz``: ``features`` float32 ``[T, D]`` for **every** 1-fps frame of the video
  (frame ``t``'s feature: the stage-1 image model's pooled feature of frame ``t``, or, for a
  SurgVISTA clip config, the pooled ``fc_norm`` feature of the causal clip ending at ``t``),
  ``frame_indices`` int64 ``[T]`` and ``labels`` int64 ``[T]`` (the phase of each frame as the
  config's dataset reads it; -1 where a frame has no label);
* ``bank.json``: the checkpoint (path and **sha256**), the config, the clip protocol, the
  feature width, the classes, the videos of each split and, per finished video, its frame and
  labelled-frame counts.

Extraction is resumable: videos already listed in ``bank.json`` with their file are skipped. A
bank made from another checkpoint (another sha256) is refused with :class:`StaleBankError`,
never silently reused or mixed.
"""
from __future__ import annotations

import copy
import io
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config

from surgvista_mm.utils.io import file_sha256

__all__ = ['BANK_FILE', 'BANK_SPLITS', 'StaleBankError', 'file_sha256', 'read_bank_meta',
           'bank_videos', 'extract_bank']

BANK_FILE = 'bank.json'
BANK_FORMAT = 'surgvista_mm feature bank v1'
#: split name -> the config's dataloader it comes from
BANK_SPLITS = (('train', 'train_dataloader'), ('val', 'val_dataloader'),
               ('test', 'test_dataloader'))


class StaleBankError(RuntimeError):
    """The bank folder holds features of another checkpoint (or of another feature width)."""



def read_bank_meta(bank_dir: str) -> Dict:
    """``bank.json`` of ``bank_dir``.

    Raises:
        FileNotFoundError: naming the folder and the command that makes a bank.
        ValueError: the file is not a feature bank description.
    """
    from surgvista_mm.utils.io import read_json
    path = osp.join(bank_dir, BANK_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'no feature bank in {bank_dir} ({BANK_FILE} not found); make '
                                'one with tools/twostage/extract_bank.py FRAME_CFG CHECKPOINT '
                                f'--out {bank_dir}')
    meta = read_json(path, 'feature bank description')
    if not isinstance(meta, dict) or meta.get('format') != BANK_FORMAT:
        raise ValueError(f'{path} is not a feature bank description (format '
                         f'{meta.get("format") if isinstance(meta, dict) else None!r}, expected '
                         f'{BANK_FORMAT!r})')
    return meta


def bank_videos(cfg: Config) -> Tuple[Dict[str, List[str]], Dict[str, Dict]]:
    """The videos of the config's train / val / test datasets and their per-frame labels.

    Returns:
        ``(splits, videos)``: ``splits[name]`` the video ids of each split present;
        ``videos[id] = dict(entry=VideoEntry, labels=int64 [num_frames] (-1: unlabelled))``.

    Raises:
        ValueError: a dataset that is not a ``SurgicalPhaseDataset``, a video in two splits,
            or the errors of the dataset itself (missing labels, bad rows), naming the file.
    """
    from mmengine.registry import init_default_scope

    from surgvista_mm.datasets.manifest import load_manifest
    from surgvista_mm.datasets.phase_dataset import SurgicalPhaseDataset
    from surgvista_mm.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'surgvista_mm'))
    splits: Dict[str, List[str]] = {}
    videos: Dict[str, Dict] = {}
    owner: Dict[str, str] = {}
    for split, key in BANK_SPLITS:
        loader = cfg.get(key)
        if not loader or not loader.get('dataset'):
            continue
        ds_cfg = copy.deepcopy(loader['dataset'])
        # every frame of every video: a training config's on_bad_sample='skip' does not apply
        ds_cfg.update(pipeline=[], test_mode=True, lazy_init=False, on_bad_sample='error')
        dataset = DATASETS.build(ds_cfg)
        if not isinstance(dataset, SurgicalPhaseDataset):
            raise ValueError(f'{key}.dataset is a {type(dataset).__name__}; feature banks are '
                             'made from phase datasets (SurgicalPhaseDataset)')
        entries = {e.video_id: e for e in load_manifest(dataset.manifest)}
        splits[split] = []
        for i in range(dataset.num_videos):
            info = dataset._video_info(i)
            vid = info['video_id']
            if vid in owner:
                raise ValueError(f'video {vid!r} is in the {owner[vid]} and the {split} split; '
                                 'the splits of a config must not share videos')
            owner[vid] = split
            entry = entries[vid]
            labels = np.full(entry.num_frames, -1, dtype=np.int64)
            given = np.asarray(info['labels'], dtype=np.int64)[:entry.num_frames]
            labels[:len(given)] = given
            splits[split].append(vid)
            videos[vid] = dict(entry=entry, labels=labels)
    if not splits:
        raise ValueError(f'{cfg.filename}: no train/val/test dataloader dataset to extract')
    return splits, videos


def _check_same_bank(meta: Dict, sha: str, checkpoint: str, bank_dir: str) -> None:
    if meta.get('checkpoint_sha256') != sha:
        raise StaleBankError(
            f'{bank_dir} holds features of checkpoint {meta.get("checkpoint")} (sha256 '
            f'{meta.get("checkpoint_sha256")}), not of {checkpoint} (sha256 {sha}); refusing to '
            'mix or reuse them. Use another --out folder, or remove this one to rebuild it')


def extract_bank(cfg: Config, checkpoint: str, out_dir: str, device: str = 'cpu',
                 batch_size: int = 32, progress: bool = True) -> Dict:
    """Write the feature bank of ``checkpoint`` (a model built from ``cfg``) to ``out_dir``.

    Every video is checked (labels read, media opened) before any feature is computed.

    Returns:
        ``dict(written=[...], skipped=[...], bank=<bank.json content>)``.

    Raises:
        StaleBankError: ``out_dir`` holds a bank of another checkpoint (both hashes named).
        FileNotFoundError / ValueError / RuntimeError: bad config, checkpoint, labels or media.
    """
    from surgvista_mm.utils.io import atomic_write_json, atomic_writer
    from .features import clip_features
    from .frames import open_manifest_entry
    from .model import build_model_from_config, class_names_of, clip_protocol, test_pipeline_cfg
    from .online import FramePipeline, iter_clip_batches
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    sha = file_sha256(checkpoint)
    meta_path = osp.join(out_dir, BANK_FILE)
    old = read_bank_meta(out_dir) if osp.exists(meta_path) else None
    if old is not None:
        _check_same_bank(old, sha, checkpoint, out_dir)
    config_name = cfg.filename or '<config>'
    splits, videos = bank_videos(cfg)
    sources = {vid: open_manifest_entry(v['entry']) for vid, v in videos.items()}
    pipeline = FramePipeline(test_pipeline_cfg(cfg), config_name)
    clip_len, interval = clip_protocol(cfg)
    model = build_model_from_config(cfg, checkpoint, device)
    num_classes = int(getattr(model.cls_head, 'num_classes'))
    meta = dict(format=BANK_FORMAT, checkpoint=osp.abspath(checkpoint), checkpoint_sha256=sha,
                config=config_name, clip_len=clip_len, frame_interval=interval,
                feature_dim=None, num_classes=num_classes,
                classes=class_names_of(cfg, num_classes), splits=splits, videos={})
    if old is not None:
        if old.get('splits') != splits:
            raise StaleBankError(f'{out_dir} was made with other splits ({old.get("splits")}) '
                                 f'than {config_name} has ({splits}); use another --out folder')
        meta['feature_dim'] = old.get('feature_dim')
        meta['videos'] = {vid: rec for vid, rec in old.get('videos', {}).items()
                          if osp.isfile(osp.join(out_dir, rec['file']))}
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_json(meta_path, meta)
    written, skipped = [], []
    start = time.perf_counter()
    with torch.no_grad():
        for split, ids in splits.items():
            for vid in ids:
                if vid in meta['videos']:
                    skipped.append(vid)
                    continue
                feats = [clip_features(model, batch).float().cpu().numpy()
                         for _, batch in iter_clip_batches(sources[vid], pipeline, clip_len,
                                                           interval, batch_size, progress,
                                                           desc=vid)]
                features = np.concatenate(feats).astype(np.float32)
                dim = int(features.shape[1])
                if meta['feature_dim'] not in (None, dim):
                    raise StaleBankError(f'{out_dir}: features of width {dim} from '
                                         f'{checkpoint}, the bank holds width '
                                         f'{meta["feature_dim"]}')
                meta['feature_dim'] = dim
                labels = videos[vid]['labels']
                buf = io.BytesIO()
                np.savez(buf, features=features, labels=labels,
                         frame_indices=np.arange(len(features), dtype=np.int64))
                name = f'{vid}.npz'
                with atomic_writer(osp.join(out_dir, name), 'wb') as f:
                    f.write(buf.getvalue())
                meta['videos'][vid] = dict(file=name, split=split, num_frames=len(features),
                                           labelled_frames=int((labels >= 0).sum()))
                atomic_write_json(meta_path, meta)  # after the file: it lists finished videos
                written.append(vid)
    meta['seconds_last_run'] = round(time.perf_counter() - start, 3)
    atomic_write_json(meta_path, meta)
    return dict(written=written, skipped=skipped, bank=meta)
