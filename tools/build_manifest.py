#!/usr/bin/env python
"""Build a video manifest (see ``surgvista_mm/datasets/manifest.py``) from a folder tree.

Every folder under ROOT holding files that match ``--frames-glob`` becomes a frame-folder video
(its file-name template and first index are inferred from the names: ``000000.jpg`` ->
``{:06d}.jpg`` offset 0, ``img_00001.jpg`` -> ``img_{:05d}.jpg`` offset 1); every file with one
of the ``--video-ext`` extensions becomes a video-file video, its 1-fps frame count read with
decord (1-fps frame k = native frame round(k * fps)). Video ids are folder names / file stems;
with ``--id-from path`` they are paths relative to ROOT with their folders joined by ``__``
(``hospA/video01`` -> ``hospA__video01``), so every id is a safe file name (no ``/``; the rule of
``surgvista_mm/utils/paths.py``; a name that breaks it is an error naming the folder). The
manifest is written atomically, with a ``data_root`` relative to its own folder, so it can be
moved together with the data.

Example::

    python tools/build_manifest.py data/cholec80 --out data/cholec80/manifest.json \\
        --frames-glob '*.jpg' --exclude-list splits/cholec80_test.txt --verify

``--verify`` then decodes every 1-fps frame once (``tools/data/check_media.py``) and exits with
status 1, listing them, when frames or videos are unreadable or mis-sized.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from surgvista_mm.datasets.manifest import (num_frames_at_1fps, read_id_list,  # noqa: E402
                                            write_manifest)
from surgvista_mm.datasets.media import header_fps_warning  # noqa: E402
from surgvista_mm.datasets.media_check import check_manifests  # noqa: E402
from surgvista_mm.utils.paths import check_id, id_from_relpath  # noqa: E402

_NAME = re.compile(r'^(.*?)(\d+)(\D*)$')


def infer_frame_template(names: Sequence[str]) -> Tuple[str, int, List[int]]:
    """Infer ``filename_tmpl`` and ``offset`` from frame file names.

    Args:
        names: file names (not paths) of one folder.

    Returns:
        ``(tmpl, offset, indices)``: the template, the smallest index, and the sorted indices.

    Raises:
        ValueError: names without a number or with differing prefixes/suffixes/paddings.
    """
    parts = []
    for n in names:
        m = _NAME.match(n)
        if not m:
            raise ValueError(f'frame file name without a number: {n!r}')
        parts.append(m.groups())
    prefixes = {(p, s) for p, _, s in parts}
    if len(prefixes) != 1:
        raise ValueError(f'frame names with different prefixes/suffixes: {sorted(prefixes)[:4]}')
    prefix, suffix = prefixes.pop()
    widths = {len(d) for _, d, _ in parts}
    padded = any(d.startswith('0') and len(d) > 1 for _, d, _ in parts)
    width = min(widths)
    tmpl = f'{prefix}{{:0{width}d}}{suffix}' if padded else f'{prefix}{{:d}}{suffix}'
    for p, d, s in parts:
        if tmpl.format(int(d)) != p + d + s:
            raise ValueError(f'frame names with inconsistent zero padding (e.g. {p + d + s!r} '
                             f'does not match {tmpl!r})')
    indices = sorted(int(d) for _, d, _ in parts)
    return tmpl, indices[0], indices


def _video_id(root: str, rel: str, id_from: str) -> str:
    """Id of the video at ``rel`` (relative to ``root``, without extension): its name, or with
    ``id_from='path'`` its folders joined by ``__``; an unsafe one raises naming the path."""
    rel = osp.basename(osp.abspath(root)) if rel == '.' else rel
    if id_from == 'path':
        return id_from_relpath(rel)
    return check_id(osp.basename(rel), where=osp.join(root, rel))


def scan(root: str, frames_glob: Optional[str], video_exts: Sequence[str], id_from: str,
         allow_gaps: bool) -> Tuple[List[dict], List[Tuple[str, str]]]:
    """Find frame folders and video files; returns (frame-folder entries, [(id, video path)])."""
    frame_videos: List[dict] = []
    video_files: List[Tuple[str, str]] = []
    exts = tuple('.' + e.lower().lstrip('.') for e in video_exts)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = osp.relpath(dirpath, root).replace(os.sep, '/')
        frames = sorted(f for f in filenames if frames_glob and fnmatch.fnmatch(f, frames_glob))
        if frames:
            vid = _video_id(root, rel_dir, id_from)
            try:
                tmpl, offset, inds = infer_frame_template(frames)
            except ValueError as e:
                raise ValueError(f'frame folder {dirpath}: {e}') from e
            contiguous = len(inds)
            for j, k in enumerate(inds):
                if k != offset + j:
                    contiguous = j
                    break
            if contiguous != len(inds):
                msg = (f'frame folder {dirpath}: frame {offset + contiguous} is missing '
                       f'({len(inds)} files, indices {inds[0]}..{inds[-1]})')
                if not allow_gaps:
                    raise ValueError(msg + '; pass --allow-gaps to keep the frames before it')
                print(f'warning: {msg}; keeping {contiguous} frames', file=sys.stderr)
            video = dict(video_id=vid, frame_dir=rel_dir, num_frames=contiguous,
                         filename_tmpl=tmpl, offset=offset)
            box = _extraction_crop_box(dirpath)
            if box is not None:  # extract_frames.py --crop-margin: online_phase.py reads it
                video['crop_box'] = box
            frame_videos.append(video)
        for f in sorted(filenames):
            if exts and f.lower().endswith(exts):
                rel = f'{rel_dir}/{f}' if rel_dir != '.' else f
                vid = _video_id(root, osp.splitext(rel)[0], id_from)
                video_files.append((vid, rel))
    return frame_videos, video_files


def _extraction_crop_box(frame_dir: str) -> Optional[List[int]]:
    """The ``crop_box`` that ``tools/data/extract_frames.py`` recorded for a frame folder."""
    summary = osp.join(frame_dir, '.summary.json')
    if not osp.isfile(summary):
        return None
    with open(summary, encoding='utf-8') as f:
        box = json.load(f).get('crop_box')
    return None if box is None else [int(b) for b in box]


def count_video(path: str, video_id: str = '') -> Tuple[int, float]:
    """(1-fps frame count, native fps) of a video file, read with decord; a frame rate that does
    not fit the frames' timestamps is printed as a warning naming the video."""
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    fps = float(reader.get_avg_fps())
    warning = header_fps_warning(reader, fps, video_id or osp.basename(path), path)
    if warning:
        print(f'warning: {warning}', file=sys.stderr)
    return num_frames_at_1fps(len(reader), fps), fps


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('root', help='folder tree to scan')
    p.add_argument('--out', required=True, help='manifest path (.json or .jsonl)')
    p.add_argument('--frames-glob', default='*.jpg',
                   help="frame file pattern ('' to skip frame folders)")
    p.add_argument('--video-ext', nargs='*', default=['mp4', 'avi', 'mkv', 'mov', 'mpg'],
                   help='video file extensions (none to skip video files)')
    p.add_argument('--exclude-list', help='text file of video ids to leave out')
    p.add_argument('--min-frames', type=int, default=1, help='drop shorter videos')
    p.add_argument('--id-from', choices=['name', 'path'], default='name',
                   help="video ids: folder name / file stem, or 'path': the path relative to "
                        "ROOT with '__' for '/' (hospA/video01 -> hospA__video01)")
    p.add_argument('--source', help='source name stored in the manifest')
    p.add_argument('--allow-gaps', action='store_true',
                   help='keep the frames before the first missing one instead of failing')
    p.add_argument('--verify', action='store_true',
                   help='decode every 1-fps frame once and report unreadable / mis-sized media '
                        '(exit status 1 when any)')
    p.add_argument('--workers', type=int, default=8, help='decoding threads for --verify')
    args = p.parse_args(argv)
    if not osp.isdir(args.root):
        p.error(f'not a folder: {args.root}')
    root = osp.abspath(args.root)
    frame_videos, video_files = scan(root, args.frames_glob, args.video_ext, args.id_from,
                                     args.allow_gaps)
    exclude = set(read_id_list(args.exclude_list, 'exclude list') or ())
    videos: List[dict] = [v for v in frame_videos if v['video_id'] not in exclude]
    todo = [(vid, rel) for vid, rel in video_files if vid not in exclude]
    bar = tqdm(todo, desc='counting video frames', unit='video', disable=not todo)
    for vid, rel in bar:
        try:
            n, fps = count_video(osp.join(root, rel), vid)
        except Exception as e:  # noqa: BLE001  (decord raises its own error types)
            bar.close()
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            print(f'error: cannot read video {vid!r} ({osp.join(root, rel)}): not a readable '
                  f'video ({reason[:200]}); nothing written', file=sys.stderr)
            return 1
        videos.append(dict(video_id=vid, video=rel, num_frames=n, fps=fps))
    short = [v['video_id'] for v in videos if v['num_frames'] < args.min_frames]
    videos = [v for v in videos if v['num_frames'] >= args.min_frames]
    seen: Dict[str, str] = {}
    for v in videos:
        where = v.get('frame_dir') or v.get('video')
        if v['video_id'] in seen:
            p.error(f'duplicate video id {v["video_id"]!r} ({seen[v["video_id"]]} and {where}); '
                    'use --id-from path')
        seen[v['video_id']] = where
    # factor out the most common template/offset as top-level defaults
    tmpl = offset = None
    if frame_videos:
        pairs = [(v['filename_tmpl'], v['offset']) for v in videos if 'frame_dir' in v]
        if pairs:
            tmpl, offset = max(set(pairs), key=pairs.count)
            for v in videos:
                if v.get('filename_tmpl') == tmpl and v.get('offset') == offset:
                    del v['filename_tmpl'], v['offset']
    out_dir = osp.dirname(osp.abspath(args.out))
    data_root = osp.relpath(root, out_dir).replace(os.sep, '/')
    write_manifest(args.out, videos, source=args.source, data_root=data_root,
                   filename_tmpl=tmpl, offset=offset)
    print(f'{args.out}: {len(videos)} videos ({sum(v["num_frames"] for v in videos)} 1-fps '
          f'frames); excluded {len(frame_videos) + len(video_files) - len(videos) - len(short)}, '
          f'too short {len(short)}')
    if args.verify:
        report = check_manifests([args.out], workers=args.workers)
        print(report.summary())
        return 0 if report.ok else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
