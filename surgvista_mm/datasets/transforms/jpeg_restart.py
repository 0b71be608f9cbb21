"""Cutting a window out of a JPEG with restart markers, without re-encoding it.

A baseline JPEG's entropy-coded data must be Huffman-decoded from its start, so a region
decoder still decodes every row above the region. With restart markers (``RSTn``, written
every ``restart_interval`` MCUs) the DC predictions reset and the bit stream byte-aligns at
each marker, so each restart segment is decodable on its own. When the interval divides the
MCUs of a row, the segments covering a window (plus a margin of one pixel on every side, for the
chroma upsampling at the window's edges) are concatenated, renumbered ``RST0..7``, and given a
header whose frame size is the window's: a smaller, valid JPEG whose pixels are the original
image's (the coefficients are untouched; ``tests/test_perf_jpeg.py`` checks equality on random
boxes). Huffman decoding then costs the window, not everything above it.

``tools/data/extract_frames.py`` writes frames with a restart marker every MCU
(``--restart-interval 1``, its default; about 12 % larger files at quality 90). Frames
without usable markers are decoded as before.
"""
from __future__ import annotations

import struct
from typing import NamedTuple, Optional, Tuple

import numpy as np


class RestartLayout(NamedTuple):
    """Where a JPEG's restart segments are (byte offsets into the file)."""
    sof_pos: int          #: offset of the SOF0/SOF1 marker
    scan_pos: int         #: first byte of entropy-coded data (after the SOS header)
    width: int
    height: int
    mcu_w: int            #: MCU size in pixels
    mcu_h: int
    mcus_per_row: int
    mcu_rows: int
    interval: int         #: MCUs per restart segment
    starts: np.ndarray    #: int64 [segments]: first byte of each segment
    ends: np.ndarray      #: int64 [segments]: one past its last byte (its marker or EOI)

    @property
    def segments_per_row(self) -> int:
        return self.mcus_per_row // self.interval


#: (header bytes up to the scan data, parsed header) of the last JPEG seen: the frames of one
#: video usually share their headers (same tables), so most calls skip the marker walk
_LAST_HEADER: list = [None]


def _parse_header(data: bytes) -> Optional[Tuple[int, ...]]:
    """``(sof_pos, scan_pos, width, height, n_comp, max_h, max_v, interval)`` of a sequential
    Huffman JPEG's header, or None (see :func:`restart_layout`)."""
    pos, sof, interval, n_comp, samp = 2, -1, 0, 0, []
    width = height = 0
    try:
        while True:
            while data[pos] == 0xFF and data[pos + 1] == 0xFF:  # fill bytes
                pos += 1
            if data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            if 0xD0 <= marker <= 0xD7 or marker == 0x01:
                pos += 2
                continue
            length = struct.unpack_from('>H', data, pos + 2)[0]
            if marker in (0xC0, 0xC1):
                sof = pos
                height, width = struct.unpack_from('>HH', data, pos + 5)
                n_comp = data[pos + 9]
                samp = [data[pos + 11 + 3 * c] for c in range(n_comp)]
            elif 0xC2 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return None  # progressive, lossless, arithmetic: not handled
            elif marker == 0xDD:
                interval = struct.unpack_from('>H', data, pos + 4)[0]
            elif marker == 0xDA:
                if sof < 0 or data[pos + 4] != n_comp:
                    return None  # non-interleaved scans
                scan = pos + 2 + length
                break
            elif marker == 0xD9:
                return None
            pos += 2 + length
    except (IndexError, struct.error):
        return None
    return (sof, scan, width, height, n_comp, max(s >> 4 for s in samp),
            max(s & 15 for s in samp), interval)


def restart_layout(data: bytes) -> Optional[RestartLayout]:
    """The restart layout of ``data``, or None when windows cannot be cut from it: not a
    sequential Huffman JPEG (SOF0/SOF1) with one interleaved scan, no restart interval, an
    interval that does not divide the MCUs of a row, or markers that do not match the image
    (then the ordinary decoder reports whatever is wrong)."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    last = _LAST_HEADER[0]
    if last is not None and data.startswith(last[0]):
        parsed = last[1]
    else:
        parsed = _parse_header(data)
        if parsed is None:
            return None
        _LAST_HEADER[0] = (data[:parsed[1]], parsed)
    sof, scan, width, height, n_comp, max_h, max_v, interval = parsed
    if interval == 0 or width == 0 or height == 0:
        return None
    if n_comp == 1:
        mcu_w = mcu_h = 8  # a one-component scan's MCU is one block
    else:
        mcu_w, mcu_h = 8 * max_h, 8 * max_v
    per_row, rows = -(-width // mcu_w), -(-height // mcu_h)
    if per_row % interval:
        return None
    body = np.frombuffer(data, np.uint8, offset=scan)
    ff = np.flatnonzero(body[:-1] == 0xFF)
    nxt = body[ff + 1]
    is_rst = (nxt & 0xF8) == 0xD0
    other = ff[(nxt != 0x00) & (nxt != 0xFF) & ~is_rst]
    if not len(other) or nxt[np.searchsorted(ff, other[0])] != 0xD9:
        return None  # the scan must end at EOI (one scan)
    rst = ff[is_rst & (ff < other[0])].astype(np.int64) + scan
    if len(rst) != rows * per_row // interval - 1:
        return None
    starts = np.concatenate([[scan], rst + 2])
    ends = np.concatenate([rst, [scan + int(other[0])]])
    return RestartLayout(sof, scan, width, height, mcu_w, mcu_h, per_row, rows, interval,
                         starts, ends)


def window_jpeg(data: bytes, layout: RestartLayout, box: Tuple[int, int, int, int]
                ) -> Tuple[bytes, int, int]:
    """A JPEG holding the restart segments that cover ``box`` plus a one-pixel margin.

    Args:
        data: the JPEG's bytes.
        layout: :func:`restart_layout` of ``data``.
        box: ``(x, y, w, h)`` in pixels.

    Returns:
        ``(jpeg, x0, y0)``: the window JPEG and the pixel offset of its top-left corner in the
        original image (the box is at ``(x - x0, y - y0)`` in it).
    """
    x, y, w, h = box
    mw, mh, k = layout.mcu_w, layout.mcu_h, layout.interval
    # One pixel of margin on each side: chroma upsampling at an image edge replicates the edge
    # sample, so the window's own edge pixels may differ, those one pixel inside do not.
    r0 = max(0, y - 1) // mh
    r1 = min(layout.mcu_rows, (y + h) // mh + 1)
    s0 = max(0, x - 1) // mw // k                                       # segment columns
    s1 = -(-min(layout.mcus_per_row, (x + w) // mw + 1) // k)
    spr = layout.segments_per_row
    arr = np.frombuffer(data, np.uint8)
    marker = np.array([0xFF, 0xD0], np.uint8)
    pieces = []
    for r in range(r0, r1):
        if pieces:
            pieces.append(marker)
        pieces.append(arr[layout.starts[r * spr + s0]:layout.ends[r * spr + s1 - 1]])
    body = np.concatenate(pieces)
    ff = np.flatnonzero(body[:-1] == 0xFF)
    rst = ff[(body[ff + 1] & 0xF8) == 0xD0]
    body[rst + 1] = 0xD0 + (np.arange(len(rst)) % 8)
    x0, y0 = s0 * k * mw, r0 * mh
    sub_w = min(layout.width, s1 * k * mw) - x0
    sub_h = min(layout.height, r1 * mh) - y0
    sof = layout.sof_pos
    head = data[:sof + 5] + struct.pack('>HH', sub_h, sub_w) + data[sof + 9:layout.scan_pos]
    return head + body.tobytes() + b'\xff\xd9', x0, y0
