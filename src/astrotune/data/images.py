"""Reading user and survey images safely: header checks before decoding, 8-bit RGB out.

``open_image`` reads only the header, so a file claiming a huge size is rejected before any pixel
is decoded (``dataset.max_pixels``). ``to_rgb8`` scales high-bit-depth images down (16-bit values
divided by 257, so 65535 becomes 255) instead of clipping them, and rejects float images by name.
``load_resized`` decodes a JPEG at reduced size in its DCT domain (Pillow ``draft``: scale 1/2, 1/4
or 1/8, the smallest that still leaves at least the target side), then resizes exactly with Lanczos
when the side still differs. Against a full decode + Lanczos resize, 2048 px JPEGs packed at 512 px
differ by a mean absolute difference of 0.46 grey levels (of 255; single pixels by up to 5) for real
SDSS cutouts upscaled with sky noise added (benchmarks/pack_throughput.py), and by 1.14 (up to 9) for
pure noise, the worst case; ``DRAFT_TOLERANCE`` is the bound the tests hold it to. Packing is 3.3x
faster at that ratio.
"""

import numpy as np
from PIL import Image, UnidentifiedImageError

from astrotune.errors import InputError

DEFAULT_MAX_PIXELS = 40_000_000
FORMATS = ("JPEG", "PNG")
DRAFT_TOLERANCE = 1.5  # mean absolute difference from a full decode + resize, grey levels of 255
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}
READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def open_image(file, source, max_pixels=DEFAULT_MAX_PIXELS):
    """Open a JPEG or PNG (path or file object) reading only its header; check format and size.

    Raises:
        InputError: naming ``source`` when the file is not a JPEG/PNG or has more than
            ``max_pixels`` pixels.
    """
    try:
        image = Image.open(file, formats=FORMATS)
    except UnidentifiedImageError as err:
        raise InputError(source, "not a readable image (not a JPEG or PNG file)") from err
    except Image.DecompressionBombError as err:
        raise InputError(source, f"image header claims more than dataset.max_pixels={max_pixels} pixels "
                                 f"({err})") from err
    except READ_ERRORS as err:
        raise InputError(source, f"not a readable image ({err})") from err
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise InputError(source, f"image is {width}x{height} = {width * height} pixels, more than "
                                 f"dataset.max_pixels={max_pixels}")
    return image


def to_rgb8(image, source):
    """An opened image as (H, W, 3) uint8; 16-bit scaled down, float and 32-bit images rejected."""
    try:
        if image.mode in _SIXTEEN_BIT or image.mode == "I":
            values = np.asarray(image, dtype=np.int64)
            if image.mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
                raise InputError(source, "32-bit integer image with values outside 0..65535; "
                                         "convert it to 8 or 16 bits per channel")
            grey = np.round(values / 257.0).astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=-1)
        if image.mode == "F":
            raise InputError(source, "32-bit float image; convert it to 8 or 16 bits per channel")
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except READ_ERRORS as err:
        raise InputError(source, f"not a readable image ({err})") from err


def load_resized(file, size, source, max_pixels=DEFAULT_MAX_PIXELS, draft=True):
    """Read an image as (size, size, 3) uint8: DCT-domain reduction for JPEGs, then an exact Lanczos resize."""
    with open_image(file, source, max_pixels) as image:
        if draft and image.format == "JPEG" and image.mode in ("RGB", "L"):
            image.draft(image.mode, (size, size))
        try:
            image.load()
        except READ_ERRORS as err:
            raise InputError(source, f"not a readable image ({err})") from err
        pixels = to_rgb8(image, source)
    if pixels.shape[:2] != (size, size):
        pixels = np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.LANCZOS))
    return pixels
