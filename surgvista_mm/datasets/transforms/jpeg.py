"""JPEG decoding for the frame loaders: a libjpeg-turbo region decoder and a device decoder.

``TurboJpeg`` calls the TurboJPEG 3 C API of libjpeg-turbo through ``ctypes``: it reads a
JPEG's header without decoding it, and decodes only a rectangle of it (``tj3SetCroppingRegion``:
rows below the rectangle are never decoded, rows above it are Huffman-decoded only, columns
outside it are not inverse-transformed nor colour-converted), optionally at a reduced DCT
scale (``M/8``). The library is the one the ``turbojpeg`` wheel bundles (a manylinux build of
libjpeg-turbo 3), else a system ``libturbojpeg`` (``ctypes.util.find_library``), else the path
in the ``SURGVISTA_TURBOJPEG`` environment variable (checked first).

At scale 1 a region decode gives the same pixels as a full decode sliced to the rectangle
(``tests/test_perf_jpeg.py`` checks it against the same library and against OpenCV's decoder).

``decode_jpeg_torch`` decodes a list of JPEG byte strings with ``torchvision.io.decode_jpeg``
on any device (``'cuda'`` uses nvJPEG); on CPU it is tested to equal OpenCV's decoding within
a stated bound (different IDCT / upsampling implementations).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import math
import os
import threading
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

# TurboJPEG 3 API constants (turbojpeg.h of libjpeg-turbo 3.x).
_TJINIT_DECOMPRESS = 1
_TJPARAM_STOPONWARNING = 0
_TJPARAM_SUBSAMP = 4
_TJPARAM_JPEGWIDTH = 5
_TJPARAM_JPEGHEIGHT = 6
_TJPARAM_COLORSPACE = 8
_TJPF_RGB = 0
_TJCS_CMYK, _TJCS_YCCK = 3, 4
_TJSAMP_GRAY = 3
# iMCU width / height of each TJSAMP value (444, 422, 420, GRAY, 440, 411, 441).
_MCU_W = (8, 16, 16, 8, 8, 32, 8)
_MCU_H = (8, 8, 16, 8, 16, 8, 32)


class _Region(ctypes.Structure):
    _fields_ = [('x', ctypes.c_int), ('y', ctypes.c_int), ('w', ctypes.c_int),
                ('h', ctypes.c_int)]


class _Scale(ctypes.Structure):
    _fields_ = [('num', ctypes.c_int), ('denom', ctypes.c_int)]


class JpegHeader(NamedTuple):
    """What a JPEG header says: ``width``, ``height`` in pixels, ``subsamp`` (TJSAMP code),
    ``mcu_w`` / ``mcu_h`` (iMCU size in pixels at scale 1)."""
    width: int
    height: int
    subsamp: int
    mcu_w: int
    mcu_h: int


def find_libturbojpeg() -> Optional[str]:
    """Path of a TurboJPEG 3 shared library, or None when there is none (see module doc)."""
    env = os.environ.get('SURGVISTA_TURBOJPEG')
    if env:
        return env
    spec = importlib.util.find_spec('turbojpeg')
    if spec is not None and spec.origin:
        site = os.path.dirname(spec.origin)
        hits = sorted(glob.glob(os.path.join(site, 'turbojpeg.libs', 'libturbojpeg*.so*')))
        if hits:
            return hits[0]
    return ctypes.util.find_library('turbojpeg')


class JpegSizeError(ValueError):
    """A JPEG's size is not the ``expect_size`` given to :meth:`TurboJpeg.decode`."""


class TurboJpeg:
    """Header reading and region / scaled decoding with libjpeg-turbo's TurboJPEG 3 API.

    One decompressor handle per thread (handles are not thread-safe); data-loader worker
    processes each make their own after the fork.

    Args:
        lib_path: the shared library (None: ``find_libturbojpeg()``).

    Raises:
        OSError: when no library is found or it lacks the TurboJPEG 3 functions.
    """

    def __init__(self, lib_path: Optional[str] = None) -> None:
        path = lib_path or find_libturbojpeg()
        if not path:
            raise OSError('no libturbojpeg (TurboJPEG 3) found: pip install turbojpeg (it bundles '
                          'libjpeg-turbo 3), or set SURGVISTA_TURBOJPEG to the library path')
        lib = ctypes.CDLL(path)
        try:
            lib.tj3Init.argtypes = [ctypes.c_int]
            lib.tj3Init.restype = ctypes.c_void_p
            lib.tj3Destroy.argtypes = [ctypes.c_void_p]
            lib.tj3Destroy.restype = None
            lib.tj3Set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
            lib.tj3Set.restype = ctypes.c_int
            lib.tj3Get.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.tj3Get.restype = ctypes.c_int
            lib.tj3GetErrorStr.argtypes = [ctypes.c_void_p]
            lib.tj3GetErrorStr.restype = ctypes.c_char_p
            lib.tj3DecompressHeader.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                ctypes.c_size_t]
            lib.tj3DecompressHeader.restype = ctypes.c_int
            lib.tj3SetCroppingRegion.argtypes = [ctypes.c_void_p, _Region]
            lib.tj3SetCroppingRegion.restype = ctypes.c_int
            lib.tj3SetScalingFactor.argtypes = [ctypes.c_void_p, _Scale]
            lib.tj3SetScalingFactor.restype = ctypes.c_int
            lib.tj3Decompress8.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                           ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
            lib.tj3Decompress8.restype = ctypes.c_int
        except AttributeError as e:
            raise OSError(f'{path} is not a TurboJPEG 3 library (libjpeg-turbo >= 3.0): {e}') \
                from e
        self.lib_path = path
        self._lib = lib
        self._local = threading.local()

    def __getstate__(self) -> dict:  # data-loader workers started by 'spawn' re-open the library
        return {'lib_path': self.lib_path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state['lib_path'])

    def _handle(self) -> int:
        handle = getattr(self._local, 'handle', None)
        if handle is None:
            handle = self._lib.tj3Init(_TJINIT_DECOMPRESS)
            if not handle:
                raise OSError('tj3Init failed')
            # Corrupt data is an error, not a grey block (strict, as OpenCV's imdecode is not).
            self._lib.tj3Set(handle, _TJPARAM_STOPONWARNING, 1)
            self._local.handle = handle
        return handle

    def _error(self, handle: int, what: str) -> ValueError:
        msg = self._lib.tj3GetErrorStr(handle)
        text = msg.decode(errors='replace') if msg else 'unknown error'
        # a handle that failed on corrupt data keeps failing: the next call gets a fresh one
        self._lib.tj3Destroy(handle)
        self._local.handle = None
        return ValueError(f'{what}: {text}')

    def header(self, data: bytes) -> JpegHeader:
        """Read the header of ``data`` (JPEG bytes) without decoding the image.

        Raises:
            ValueError: when ``data`` is not a JPEG libjpeg-turbo can read.
        """
        handle = self._handle()
        if self._lib.tj3DecompressHeader(handle, data, len(data)) != 0:
            raise self._error(handle, 'not a readable JPEG header')
        sub = self._lib.tj3Get(handle, _TJPARAM_SUBSAMP)
        width = self._lib.tj3Get(handle, _TJPARAM_JPEGWIDTH)
        height = self._lib.tj3Get(handle, _TJPARAM_JPEGHEIGHT)
        mcu_w, mcu_h = (_MCU_W[sub], _MCU_H[sub]) if 0 <= sub < len(_MCU_W) else (8, 8)
        return JpegHeader(width, height, sub, mcu_w, mcu_h)

    def decode(self, data: bytes, box: Optional[Tuple[int, int, int, int]] = None,
               scale_num: int = 8, reuse_buffer: bool = False,
               expect_size: Optional[Tuple[int, int]] = None,
               use_restarts: bool = True) -> np.ndarray:
        """Decode ``data`` (JPEG bytes) to RGB, only the rectangle ``box``, at scale ``M/8``.

        Args:
            data: the JPEG file's bytes.
            box: ``(x, y, w, h)`` in pixels of the *scaled* image (None: the whole image). The
                decoder decodes the iMCU columns around the box; the extra columns are sliced
                off.
            scale_num: ``M`` of the DCT scale ``M/8`` (8: full size; 1..16 per libjpeg-turbo).
            reuse_buffer: decode into this thread's scratch buffer (no page faults of a fresh
                allocation); the result is then a view that the next call overwrites.
            expect_size: ``(width, height)`` the image must have (checked on the header this
                call reads anyway), or None.
            use_restarts: at scale 1, when the JPEG has restart markers at MCU-row (or finer)
                intervals, decode only the restart segments around ``box``
                (:mod:`.jpeg_restart`; same pixels, no Huffman decoding above the box).

        Returns:
            uint8 ``[h, w, 3]`` RGB (a view into a slightly wider decoded buffer, unless the box
            spans the image's width).

        Raises:
            ValueError: undecodable data (libjpeg-turbo's message), CMYK images, a box
                outside the scaled image, or a size other than ``expect_size``.
        """
        hdr = self.header(data)
        if expect_size is not None and (hdr.width, hdr.height) != tuple(expect_size):
            raise JpegSizeError(f'size differs: the image is {hdr.width}x{hdr.height}, '
                                f'expected {expect_size[0]}x{expect_size[1]}')
        full_w = (hdr.width * scale_num + 7) // 8
        full_h = (hdr.height * scale_num + 7) // 8
        if box is None:
            x, y, w, h = 0, 0, full_w, full_h
        else:
            x, y, w, h = (int(v) for v in box)
            if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > full_w or y + h > full_h:
                raise ValueError(f'box {box} is outside the {full_w}x{full_h} (scaled) image')
            if scale_num == 8 and use_restarts:
                data, x, y, hdr = self._restart_window(data, (x, y, w, h), hdr)
                full_w, full_h = hdr.width, hdr.height
        handle = self._handle()
        lib = self._lib
        if lib.tj3Get(handle, _TJPARAM_COLORSPACE) in (_TJCS_CMYK, _TJCS_YCCK):
            raise ValueError('CMYK JPEGs are not supported')
        g = math.gcd(int(scale_num), 8)  # the library lists the factors in lowest terms
        if lib.tj3SetScalingFactor(handle, _Scale(int(scale_num) // g, 8 // g)) != 0:
            raise self._error(handle, f'unsupported scale {scale_num}/8')
        # The region must start on an iMCU column. Chroma upsampling at a region's left and
        # right edges replicates the edge sample instead of reading its neighbour, so one more
        # iMCU is decoded on each side (when there is one) and sliced off: the box's pixels are
        # then those of a full decode.
        mcu_w = max(1, hdr.mcu_w * scale_num // 8)
        x0 = ((x - 1) // mcu_w) * mcu_w if x > 0 else 0
        x1 = min(full_w, x + w + mcu_w)
        region = (x0, y, x1 - x0, h)
        if region != (0, 0, full_w, full_h):
            if lib.tj3SetCroppingRegion(handle, _Region(*region)) != 0:
                raise self._error(handle, f'cannot crop to {region}')
        else:
            lib.tj3SetCroppingRegion(handle, _Region(0, 0, 0, 0))
        if reuse_buffer:
            scratch = getattr(self._local, 'scratch', None)
            if scratch is None or scratch.size < h * region[2] * 3:
                scratch = self._local.scratch = np.empty(h * region[2] * 3, np.uint8)
            out = scratch[:h * region[2] * 3].reshape(h, region[2], 3)
        else:
            out = np.empty((h, region[2], 3), np.uint8)
        if lib.tj3Decompress8(handle, data, len(data), out.ctypes.data, region[2] * 3,
                              _TJPF_RGB) != 0:
            raise self._error(handle, 'cannot decode JPEG')
        return out if region[2] == w else out[:, x - x0:x - x0 + w]

    def _restart_window(self, data: bytes, box: Tuple[int, int, int, int], hdr: JpegHeader
                        ) -> Tuple[bytes, int, int, JpegHeader]:
        """``(data, x, y, header)`` of the restart-segment window around the (valid, scale 1)
        ``box``, with the box's corner in the window; or the arguments unchanged when ``data``
        has no usable restart markers or the window would be the whole image."""
        from .jpeg_restart import restart_layout, window_jpeg
        x, y = box[0], box[1]
        layout = restart_layout(data)
        if layout is None or (layout.width, layout.height) != (hdr.width, hdr.height):
            return data, x, y, hdr
        sub, x0, y0 = window_jpeg(data, layout, box)
        if len(sub) >= len(data) - 2:
            return data, x, y, hdr  # the window is (nearly) the whole image
        return sub, x - x0, y - y0, self.header(sub)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(lib_path={self.lib_path!r})'


_DEFAULT: List[Optional[TurboJpeg]] = []


def default_turbojpeg() -> Optional[TurboJpeg]:
    """The process's shared ``TurboJpeg``, or None when no library is available."""
    if not _DEFAULT:
        try:
            _DEFAULT.append(TurboJpeg())
        except OSError:
            _DEFAULT.append(None)
    return _DEFAULT[0]


def is_jpeg(data: bytes) -> bool:
    """Whether ``data`` starts with the JPEG SOI marker."""
    return len(data) > 3 and data[0] == 0xFF and data[1] == 0xD8


def decode_image(data: bytes) -> np.ndarray:
    """Decode an image file's bytes to RGB, treating libjpeg's warnings as errors.

    OpenCV's ``imdecode`` (and ``torchvision``'s CPU decoder) print libjpeg's "Corrupt JPEG
    data" / "Premature end of JPEG file" warnings to stderr and return an image padded with grey
    or garbage. Here a JPEG is decoded with libjpeg-turbo with ``TJPARAM_STOPONWARNING`` set
    (:class:`TurboJpeg`; the same pixels as ``cv2.imdecode``, ``tests/test_perf_jpeg.py``), so such
    a file raises. Other formats (PNG ...) and CMYK JPEGs go through ``cv2.imdecode``; without
    libturbojpeg a JPEG lacking its end-of-image marker (truncated) still raises.

    Returns:
        uint8 ``[H, W, 3]`` RGB (grey images are replicated to three channels).

    Raises:
        ValueError: the bytes are not a decodable image, or a JPEG's data is corrupt
            (libjpeg's message, e.g. ``Corrupt JPEG data: premature end of data segment``).
    """
    import cv2
    turbo = default_turbojpeg() if is_jpeg(data) else None
    if turbo is not None:
        try:
            return turbo.decode(data)
        except ValueError as e:
            if not str(e).startswith('CMYK'):
                raise
    elif is_jpeg(data) and b'\xff\xd9' not in data[-64:]:
        raise ValueError('truncated JPEG (no end-of-image marker)')
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError('not a decodable colour image')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def dct_scale_for(crop_w: int, crop_h: int, out_w: int, out_h: int) -> int:
    """Smallest ``M`` (of the DCT scale ``M/8``, M in 1..8) whose scaled crop still covers
    ``out_w x out_h``: the reduced-size decoding of ``dct_scale=True`` (changes pixels)."""
    for m in range(1, 9):
        if crop_w * m // 8 >= out_w and crop_h * m // 8 >= out_h:
            return m
    return 8


def decode_jpeg_torch(datas: Sequence[bytes], device: str = 'cpu') -> List['torch.Tensor']:
    """Decode JPEG byte strings with ``torchvision.io.decode_jpeg`` on ``device``.

    Returns:
        one uint8 ``[3, H, W]`` RGB tensor per input, on ``device``.
    """
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg
    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
    out = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
    return list(out)
