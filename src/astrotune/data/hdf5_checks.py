"""Checks on HDF5 files read by the workflow and by predict: errors name the file and the dataset.

A dataset is read only when its layout is bounded: no external or virtual storage (which would read
other files), chunks of at most ``MAX_CHUNK_BYTES``, images of at most ``max_pixels`` each and
``max_total_pixels`` in all (N x H x W), checked from the metadata before any data is read. Read
and type failures (a corrupt compressed chunk, text in a numeric field) become InputError.
"""

import contextlib
import zlib

import h5py
import numpy as np

from astrotune.errors import InputError

MAX_CHUNK_BYTES = 64 << 20
MAX_TOTAL_PIXELS = 4_000_000_000  # N x H x W of a data set's images (12 GB of RGB uint8)
READ_ERRORS = (OSError, KeyError, RuntimeError, UnicodeDecodeError)


@contextlib.contextmanager
def hdf5_errors(path, name=None):
    """Turn read errors inside an HDF5 file (corrupt chunks, bad filters, bad types) into an InputError."""
    where = f" in dataset '{name}'" if name else ""
    try:
        yield
    except InputError:
        raise
    except READ_ERRORS as err:
        reason = " ".join(str(err).split())[:300]
        raise InputError(path, f"damaged HDF5 file, cannot read its data{where} ({reason})") from err


def open_hdf5(path):
    """Open an HDF5 file read-only; a missing, unreadable or non-HDF5 file is an InputError."""
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise InputError(path, f"not a readable HDF5 file ({' '.join(str(err).split())[:300]})") from err


def dataset(path, h5, name):
    """``h5[name]`` when it is a dataset stored in this file; InputError naming it otherwise."""
    if name not in h5:
        raise InputError(path, f"missing dataset '{name}'")
    node = h5[name]
    if not isinstance(node, h5py.Dataset):
        raise InputError(path, f"'{name}' is a group, expected a dataset")
    if node.is_virtual or node.external:
        raise InputError(path, f"dataset '{name}' reads other files (virtual or external storage); "
                               "only data stored inside the file is read")
    if node.chunks is not None and int(np.prod(node.chunks)) * node.dtype.itemsize > MAX_CHUNK_BYTES:
        raise InputError(path, f"dataset '{name}' has chunks {node.chunks} of more than {MAX_CHUNK_BYTES} bytes")
    return node


def check_images(path, images, max_pixels, max_total_pixels=MAX_TOTAL_PIXELS, name="images"):
    """Check an (N, H, W, 3) uint8 image dataset's size from its metadata, before reading it."""
    shape = images.shape
    if len(shape) != 4 or shape[-1] != 3 or images.dtype != np.uint8:
        raise InputError(path, f"dataset '{name}' must be uint8 (N, H, W, 3), got {images.dtype} {shape}")
    n, height, width = shape[:3]
    if height * width > max_pixels:
        raise InputError(path, f"dataset '{name}' holds {height}x{width} images, more than "
                               f"{max_pixels} pixels each")
    if n * height * width > max_total_pixels:
        raise InputError(path, f"dataset '{name}' holds {n} images of {height}x{width} = {n * height * width} "
                               f"pixels, more than the cap of {max_total_pixels}")


def numbers(path, h5, name, n):
    """A numeric (n,) dataset as float64; text or another shape is named."""
    node = dataset(path, h5, name)
    if node.dtype.kind not in "iuf" or node.shape != (n,):
        raise InputError(path, f"dataset '{name}' must hold ({n},) numbers, got {node.dtype} {node.shape}")
    with hdf5_errors(path, name):
        return np.asarray(node[()], dtype=np.float64)


def read_rows(path, node, start, stop, name="images"):
    """Rows ``start:stop`` of a dataset; a read failure names the file and the dataset."""
    with hdf5_errors(path, name):
        return np.asarray(node[start:stop])


def image_checksums(images):
    """CRC32 of each image of an (N, H, W, 3) block."""
    return np.array([zlib.crc32(np.ascontiguousarray(image).tobytes()) for image in images], dtype=np.uint32)
