"""Segment annotations (``start,end,phase`` rows, as ELAN / CVAT / Anvil export them) turned into
the 1-fps rows of the generic phase format.

A segment file is a CSV with one of the headers

* ``start_s,end_s,phase``: times in seconds; a segment holds the instants
  ``start_s <= t < end_s``;
* ``start_frame,end_frame,phase``: native frame numbers (0-based) at ``fps`` frames per second;
  a segment holds the frames ``start_frame <= n <= end_frame`` (both ends inclusive, as the
  annotation tools number frames).

``phase`` is a class name (spaces allowed; everything after the second comma) or a 0-based
class id. **Rule:** 1-fps frame ``k`` takes the phase of the segment holding its instant
``t = k`` s, i.e. (frames) its native frame ``n = round(k x fps)`` (round half up: the frame
``tools/data/extract_frames.py`` writes as frame ``k``). Rows run from ``k = 0`` to the last
``k`` inside a segment. A second in two segments (overlap) or, before the end, in none (gap)
is an error naming the file and the lines; every such problem of a file is listed.
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

from surgvista_mm.datasets.manifest import native_index
from .common import ReleaseError, fail, read_lines

SEGMENT_HEADERS = {('start_s', 'end_s', 'phase'): 'seconds',
                   ('start_frame', 'end_frame', 'phase'): 'frames'}
_NUMBER = re.compile(r'\d+(\.\d*)?|\.\d+')
_MAX_LISTED = 20


def segment_kind(path: str) -> Optional[str]:
    """``'seconds'`` or ``'frames'`` for a segment CSV (by its header), None otherwise."""
    lines = [ln for ln in read_lines(path) if ln.strip()]
    if not lines:
        return None
    header = tuple(c.strip().lower() for c in lines[0].split(','))
    return SEGMENT_HEADERS.get(header)


def _class_id(text: str, classes: Sequence[str], path: str, lineno: int) -> int:
    if text in classes:
        return list(classes).index(text)
    if re.fullmatch(r'\d+', text) and int(text) < len(classes):
        return int(text)
    raise fail(path, lineno, f'unknown phase {text!r} (classes: {list(classes)})')


def read_segments(path: str, classes: Sequence[str]) -> Tuple[str, List[Tuple[float, float, int,
                                                                              int]]]:
    """``(kind, [(start, end, class id, line number), ...])`` of a segment CSV.

    Raises:
        ReleaseError: ``file:line`` for a malformed row, an end before its start or an unknown
            phase.
    """
    kind = segment_kind(path)
    if kind is None:
        raise fail(path, 1, 'expected the header "start_s,end_s,phase" or '
                            '"start_frame,end_frame,phase"')
    segments = []
    numbered = [(n, ln) for n, ln in enumerate(read_lines(path), start=1) if ln.strip()]
    for lineno, line in numbered[1:]:
        parts = line.split(',', 2)
        if len(parts) != 3:
            raise fail(path, lineno, f'expected "start,end,phase", got {line!r}')
        start, end, phase = (p.strip() for p in parts)
        pattern = _NUMBER if kind == 'seconds' else re.compile(r'\d+')
        for what, text in (('start', start), ('end', end)):
            if not pattern.fullmatch(text):
                unit = 'seconds (>= 0)' if kind == 'seconds' else 'a frame number (>= 0)'
                raise fail(path, lineno, f'bad {what} {text!r} (expected {unit})')
        s, e = float(start), float(end)
        if e < s or (kind == 'seconds' and e == s):
            raise fail(path, lineno, f'the segment ends ({end}) before it starts ({start})')
        segments.append((s, e, _class_id(phase, classes, path, lineno), lineno))
    if not segments:
        raise fail(path, None, 'the segment file holds no segment')
    return kind, segments


def segments_to_rows(path: str, classes: Sequence[str],
                     fps: Optional[float] = None) -> Tuple[List[int], int]:
    """1-fps class ids of a segment CSV by the module's rule, and its last line number.

    Args:
        path: the segment CSV.
        classes: class names in id order.
        fps: native frame rate, needed for ``start_frame,end_frame`` files.

    Raises:
        ReleaseError: naming the file and line(s) of every gap and overlap (or a bad row).
    """
    kind, segments = read_segments(path, classes)
    if kind == 'frames' and not fps:
        raise ReleaseError(f'{path}: start_frame,end_frame segments need the native frame rate: '
                           'give --fps (the release has no video file to read it from)')

    def inside(k: int, seg: Tuple[float, float, int, int]) -> bool:
        if kind == 'seconds':
            return seg[0] <= k < seg[1]
        return seg[0] <= native_index(k, fps) <= seg[1]

    def before_end(k: int) -> bool:
        last = max(s[1] for s in segments)
        return k < last if kind == 'seconds' else native_index(k, fps) <= last

    ordered = sorted(segments, key=lambda s: (s[0], s[3]))
    ids: List[int] = []
    problems: List[str] = []
    k = 0
    while before_end(k):
        hits = [s for s in ordered if inside(k, s)]
        if len(hits) == 1:
            ids.append(hits[0][2])
        elif not hits:
            prev = [s[3] for s in ordered if s[1] <= (k if kind == 'seconds' else
                                                       native_index(k, fps))]
            nxt = [s[3] for s in ordered if s[0] > (k if kind == 'seconds' else
                                                     native_index(k, fps))]
            where = (f'after line {prev[-1]}' if prev else 'before the first segment') + (
                f', before line {nxt[0]}' if nxt else '')
            problems.append((k, 'gap', where))
            ids.append(-1)
        else:
            lines = ' and '.join(str(s[3]) for s in hits)
            problems.append((k, 'overlap', f'lines {lines}'))
            ids.append(-1)
        k += 1
    if problems:
        merged: List[List] = []  # runs of consecutive seconds with the same problem
        for k, what, where in problems:
            if merged and merged[-1][1] == k - 1 and merged[-1][2:] == [what, where]:
                merged[-1][1] = k
            else:
                merged.append([k, k, what, where])
        text = [f'  second{"s" if a != b else ""} {a}{"-" + str(b) if a != b else ""}: '
                + (f'in no segment ({where})' if what == 'gap' else f'in two segments ({where})')
                for a, b, what, where in merged[:_MAX_LISTED]]
        more = len(merged) - _MAX_LISTED
        raise ReleaseError(f'{path}: {len(merged)} gap(s) / overlap(s) in the segments (1-fps '
                           'frame k takes the segment holding k s):\n' + '\n'.join(text)
                           + (f'\n  ... and {more} more' if more > 0 else ''))
    return ids, max(s[3] for s in segments)


def rows_csv(ids: Sequence[int], classes: Sequence[str]) -> str:
    """The generic phase rows (``frame,phase`` with class names) of 1-fps class ids."""
    return 'frame,phase\n' + ''.join(f'{k},{classes[c]}\n' for k, c in enumerate(ids))
