"""Converters of the pre-training-only sources (no labels are used): HeiChole, PitVis, PSI-AVA,
BernBypass70, StrasBypass70 and any folder of web videos (dataset-formats.md §10). Each writes
one manifest under ``manifests/`` named as ``configs/_base_/datasets/pretrain_surgical.py``
expects. Unlike the benchmark converters, an unreadable video (or one missing from ``--frames``,
e.g. skipped as bad by ``extract_frames.py --skip-bad``) is left out with a note printed, not an
error: one broken web video should not stop a corpus."""
from __future__ import annotations

import os
import os.path as osp
import re
from typing import Dict, Optional

from tqdm import tqdm

from ..frames import VIDEO_EXTS
from .common import Plan, ReleaseError, VideoResolver, find_files

HEICHOLE_EXPECTS = """\
heichole: ROOT = the HeiChole (EndoVis 2019) folder
  Videos/Full/Hei-CholeN.mp4    (N 1..24; Videos/HD/ copies are ignored when Full/ exists)
  -> manifests/heichole_train.json (ids Hei-CholeN)
  (layout from third-party audit notes of the Synapse release, not the owners' words)"""

PITVIS_EXPECTS = """\
pitvis: ROOT = the PitVis release folder
  video_NN.mp4 (anywhere under ROOT)   -> manifests/pitvis.json (ids video_NN)
  (file names from the release README)"""

PSI_AVA_EXPECTS = """\
psi_ava: ROOT = the PSI-AVA folder
  keyframes/CASE0NN/NNNNN.jpg   (1-fps keyframes, 5-digit second index; the first index found
                                is frame 0), or videos CASE0NN.mp4 anywhere under ROOT
  -> manifests/psi_ava.json (ids CASE0NN)
  (layout inferred from the TAPIR code; the release's own description is not confirmed)"""

BYPASS_EXPECTS = """\
{name}: ROOT = the MultiBypass140 folder (or {folder} itself)
  {folder}/videos/*.mp4         (ids = file stems, e.g. {prefix}01) -> manifests/{name}.json
  (the MultiBypass140 README gives the folders; the exact file stems are not confirmed)"""

WEB_EXPECTS = """\
web: ROOT = any folder of videos (searched recursively; extensions mp4 avi mkv mov m4v mpg
  mpeg webm wmv flv ts mts); ids = file stems (must be unique)
  -> manifests/web_corpus.json (videos shorter than 60 s are kept; the pre-training config's
     min_frames=60 drops them)"""


def _videos_manifest(videos: Dict[str, str], frames: Optional[str], rel: str,
                     source: str) -> Plan:
    resolver = VideoResolver(frames)
    plan = Plan()
    items = sorted(videos.items())
    entries = []
    for vid, path in tqdm(items, desc=f'reading {source} videos', unit='video',
                          disable=len(items) < 50):
        try:
            entries.append(resolver.video(vid, path).entry)
        except ReleaseError as e:  # pre-training sources: leave the video out, say so
            plan.notes.append(f'left out: {e}')
    if not entries:
        raise ReleaseError(f'no readable video among the {len(items)} of {source}: '
                           f'{plan.notes[:3]}')
    plan.manifest(rel, source, entries)
    return plan


def convert_heichole(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    full = osp.join(root, 'Videos', 'Full')
    base = full if osp.isdir(full) else root
    videos = find_files(base, r'Hei-Chole\d+\.mp4', 'HeiChole videos')
    return _videos_manifest(videos, frames, 'manifests/heichole_train.json', 'heichole')


def convert_pitvis(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    return _videos_manifest(find_files(root, r'video_\d+\.mp4', 'PitVis videos'), frames,
                            'manifests/pitvis.json', 'pitvis')


def convert_psi_ava(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    key = osp.join(root, 'keyframes')
    if not osp.isdir(key):
        return _videos_manifest(find_files(root, r'CASE\d+\.mp4', 'PSI-AVA videos'), frames,
                                'manifests/psi_ava.json', 'psi_ava')
    plan = Plan()
    entries = []
    for case in sorted(d for d in os.listdir(key) if re.fullmatch(r'CASE\d+', d)):
        folder = osp.join(key, case)
        nums = sorted(int(n[:-4]) for n in os.listdir(folder) if re.fullmatch(r'\d{5}\.jpg', n))
        if not nums:
            raise ReleaseError(f'{folder}: no NNNNN.jpg keyframe')
        if nums != list(range(nums[0], nums[0] + len(nums))):
            raise ReleaseError(f'{folder}: keyframes {nums[0]}..{nums[-1]} are not contiguous '
                               f'seconds ({len(nums)} files)')
        entries.append(dict(video_id=case, frame_dir=osp.abspath(folder),
                            filename_tmpl='{:05d}.jpg', offset=nums[0], num_frames=len(nums)))
    if not entries:
        raise ReleaseError(f'{key}: no CASE0NN folder')
    plan.manifest('manifests/psi_ava.json', 'psi_ava', entries)
    return plan


def _bypass(name: str, folder: str):
    def convert(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
        base = root if osp.basename(osp.normpath(root)) == folder else osp.join(root, folder)
        return _videos_manifest(find_files(osp.join(base, 'videos'), r'.+\.mp4',
                                           f'{folder} videos'), frames,
                                f'manifests/{name}.json', name)
    convert.__name__ = f'convert_{name}'
    return convert


convert_bernbypass70 = _bypass('bernbypass70', 'BernBypass70')
convert_strasbypass70 = _bypass('strasbypass70', 'StrasBypass70')


def convert_web(root: str, frames: Optional[str] = None, tolerance: int = 0) -> Plan:
    pattern = r'.+(' + '|'.join(re.escape(e) for e in VIDEO_EXTS) + ')'
    return _videos_manifest(find_files(root, pattern, 'videos'), frames,
                            'manifests/web_corpus.json', 'web')
