"""JPEG and PNG files, read safely and checked, decoded to square uint8 images.

A file's header is read first (PIL's lazy ``Image.open``, limited to the JPEG and PNG parsers,
which reads the format and the size and decodes no pixel): anything else is refused, and so is a
pixel count beyond ``MAX_PIXELS`` (a decompression bomb: a few bytes that would decode to
gigabytes), before any decoding. The pixels are then decoded by torchvision (``decode_image``,
to RGB), which refuses a truncated or damaged stream. Every refusal is a one-line ``DataError``
naming the file (``UnreadableData`` where the OS will not let us read it).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError
from torchvision.io import ImageReadMode, decode_image

from bench.errors import DataError, UnreadableData, first_line

FORMATS = ("JPEG", "PNG")
# The most pixels a file may declare: 64 Mpx (192 MiB decoded as RGB), ten times the largest
# photographs of ImageNet and Imagenette (a few Mpx), well under PIL's own bomb limit (89 Mpx).
MAX_PIXELS = 64 * 2**20


def read_header(path: Path, data: bytes) -> tuple[str, int, int]:
    """The format, width and height that the header of ``data`` (the content of ``path``)
    declares, checked: JPEG or PNG, at least one pixel, at most ``MAX_PIXELS``."""
    try:
        with warnings.catch_warnings():
            # The pixel count is judged below, against our own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                kind, (width, height) = str(image.format), image.size
    except Image.DecompressionBombError as err:
        raise DataError(f"{path}: refused before decoding: {err}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise DataError(f"{path}: not a JPEG or PNG image") from None
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise DataError(
            f"{path}: refused before decoding: its header declares {width}x{height} pixels "
            f"(at most {MAX_PIXELS:,} allowed)"
        )
    return kind, width, height


def read_square(path: Path, side: int) -> torch.Tensor:
    """The image in ``path`` as uint8 RGB [3, side, side]: its shorter edge resized to ``side``
    (bilinear, antialiased, as torchvision's ``Resize``), then its centre crop."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UnreadableData(path, err) from None
    read_header(path, data)
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 announces that TorchCodec will take over its image decoding.
            warnings.filterwarnings("ignore", "The image decoding", DeprecationWarning)
            pixels = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            image = decode_image(pixels, ImageReadMode.RGB)
    except RuntimeError as err:
        raise DataError(f"{path}: cannot be decoded ({_reason(err)})") from None
    resized = TF.resize(image, [side], interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return TF.center_crop(resized, [side, side]).contiguous()


def _reason(err: RuntimeError) -> str:
    """torchvision's reason, without the source file and line it starts with."""
    return first_line(err).rsplit(", ", 1)[-1]
