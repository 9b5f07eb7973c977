"""The packed data set: one HDF5 file per data set.

Datasets: ``images`` (N, H, W, 3) uint8, ``labels`` (N,) int16, ``ids`` (N,) str (unique), ``ra`` and
``dec`` (N,) float64 (NaN when unknown). Attributes: ``class_names`` and provenance (``source``,
``data_release``, ``pixel_scale``, ``original_size``, ``image_size``, ``config_hash``, ...).
Images are written one chunk (one image) at a time, so a data set never has to fit in memory, and
read back after writing: every image's CRC32 must match what was written before the file appears.
Reading checks the layout first (``astrotune.data.hdf5_checks``): no external or virtual storage,
bounded chunks and image sizes.
"""

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from astrotune.data.hdf5_checks import (
    check_images,
    dataset,
    hdf5_errors,
    image_checksums,
    numbers,
    open_hdf5,
    read_rows,
)
from astrotune.data.images import DEFAULT_MAX_PIXELS
from astrotune.errors import InputError
from astrotune.io import atomic_path

SCHEMA_VERSION = 1
_STR = h5py.string_dtype("utf-8")
_BLOCK = 64  # images copied per step by write_dataset


@dataclass
class PackedDataset:
    """Images and labels of one data set with their provenance."""

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    class_names: list
    provenance: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.labels)


def check_labels(source, name, values, n, n_classes):
    """Labels as int64 after checking: integers (not float, string or ragged), shape (n,), in range.

    Args:
        source: File named in errors.
        name: Dataset or field named in errors.
        values: Array or h5py dataset.
        n: Expected number of labels.
        n_classes: Labels must lie in 0..n_classes-1.
    """
    dtype = values.dtype
    if dtype.kind not in "iu":
        raise InputError(source, f"dataset '{name}' must hold integer class labels, got dtype {dtype}")
    if values.shape != (n,):
        raise InputError(source, f"dataset '{name}' has shape {values.shape}, expected ({n},)")
    if n == 0:
        raise InputError(source, f"dataset '{name}' is empty")
    labels = np.asarray(values[()]).astype(np.int64)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise InputError(source, f"dataset '{name}' has values outside 0..{n_classes - 1}")
    return labels


def check_ids(source, ids):
    """Raise InputError naming the first repeated id."""
    ids = np.asarray(ids, dtype=object)
    unique, counts = np.unique(ids.astype(str), return_counts=True)
    if (counts > 1).any():
        repeated = unique[counts > 1]
        raise InputError(source, f"dataset 'ids' repeats {len(repeated)} id(s), e.g. {str(repeated[0])!r}")


class DatasetWriter:
    """Writes one image at a time into an open packed file; ``finish`` adds labels and coordinates."""

    def __init__(self, h5, path, n, class_names):
        self._h5, self._path, self._n, self._class_names = h5, path, n, list(class_names)
        self.images = None
        self.finished = False
        self.checksums = np.zeros(n, dtype=np.uint32)

    def write_image(self, index, image):
        """Store image ``index`` (H, W, 3) uint8; the first image fixes H and W."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"image {index} must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
        if self.images is None:
            self.images = self._h5.create_dataset("images", shape=(self._n, *image.shape), dtype=np.uint8,
                                                  chunks=(1, *image.shape), compression="gzip",
                                                  compression_opts=4)
        self.images[index] = image
        self.checksums[index] = image_checksums(image[None])[0]

    def finish(self, labels, ids, ra, dec):
        """Check and write everything but the images."""
        n = self._n
        labels = check_labels(self._path, "labels", np.asarray(labels), n, len(self._class_names))
        check_ids(self._path, ids)
        if self.images is None or len(np.asarray(ids)) != n:
            raise ValueError(f"{self._path}: {n} images and ids expected")
        h5 = self._h5
        h5.create_dataset("labels", data=labels.astype(np.int16))
        h5.create_dataset("ids", data=np.asarray(ids, dtype=object), dtype=_STR)
        h5.create_dataset("ra", data=np.asarray(ra, dtype=np.float64))
        h5.create_dataset("dec", data=np.asarray(dec, dtype=np.float64))
        self.finished = True


@contextlib.contextmanager
def dataset_writer(path, n, class_names, provenance=None):
    """Open ``path`` for streamed writing; the file appears (atomically) only when the block succeeds.

    Yields:
        A DatasetWriter: call ``write_image`` for every index in 0..n-1, then ``finish``.
    """
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            writer = DatasetWriter(h5, path, n, class_names)
            yield writer
            if not writer.finished:
                raise ValueError(f"{path}: DatasetWriter.finish was not called")
            h5.attrs["schema_version"] = SCHEMA_VERSION
            h5.attrs["class_names"] = np.asarray(class_names, dtype=object)
            for key, value in (provenance or {}).items():
                h5.attrs[key] = "" if value is None else value
        verify_written(tmp, path, writer.checksums)


def verify_written(tmp, path, checksums):
    """Read a just-written file back: its layout must check and every image's CRC32 must match."""
    try:
        with packed_images(tmp) as (_, images):
            for start in range(0, len(checksums), _BLOCK):
                block = read_rows(tmp, images, start, start + _BLOCK)
                if not np.array_equal(image_checksums(block), checksums[start:start + len(block)]):
                    raise InputError(tmp, f"dataset 'images' rows {start}..{start + len(block) - 1} differ")
    except InputError as err:
        raise InputError(path, f"reading back what was written failed ({err.message})") from err


def write_dataset(path, dataset):
    """Write ``dataset`` to ``path`` atomically after checking shapes, types, labels and ids."""
    n = len(dataset.labels)
    images = dataset.images
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] != n:
        raise ValueError(f"images must be uint8 (N, H, W, 3) with N={n}, got {images.dtype} {images.shape}")
    with dataset_writer(path, n, dataset.class_names, dataset.provenance) as writer:
        for start in range(0, n, _BLOCK):
            for offset, image in enumerate(np.asarray(images[start:start + _BLOCK])):
                writer.write_image(start + offset, image)
        writer.finish(dataset.labels, dataset.ids, dataset.ra, dataset.dec)


def read_dataset(path, with_images=True, max_pixels=DEFAULT_MAX_PIXELS, verify=False):
    """Read and validate a packed data set; errors name the file and the field.

    Args:
        with_images: also read the images (after their size is checked: ``max_pixels`` per image).
        verify: without the images, still decode every image block once (a damaged chunk is then
            named here, not by a later reader).
    """
    with packed_images(path, max_pixels) as (packed, images):
        blocks = (read_rows(path, images, start, start + _BLOCK) for start in range(0, len(packed), _BLOCK))
        if with_images:
            packed.images = np.concatenate(list(blocks))
        elif verify:
            for _ in blocks:
                pass
        return packed


@contextlib.contextmanager
def packed_images(path, max_pixels=DEFAULT_MAX_PIXELS, max_rows=None, rows_limit="the cap"):
    """Open a packed data set and check everything but the image pixels.

    Args:
        max_rows: most objects accepted (checked before labels and ids are read); None: any number.
        rows_limit: the setting that sets ``max_rows``, named in the error.

    Yields:
        (PackedDataset without images, the open ``images`` h5py dataset): read it in blocks with
        ``hdf5_checks.read_rows``.
    """
    path = Path(path)
    with open_hdf5(path) as h5:
        with hdf5_errors(path):
            labels = h5.get("labels")
            if max_rows is not None and isinstance(labels, h5py.Dataset) and labels.ndim == 1 \
                    and labels.shape[0] > max_rows:
                raise InputError(path, f"dataset 'labels' holds {labels.shape[0]} objects, more than "
                                       f"{rows_limit}={max_rows}")
            packed = _check_packed(path, h5, max_pixels)
        yield packed, h5["images"]


def _check_packed(path, h5, max_pixels):
    """The PackedDataset (without images) of an open packed file, after checking its layout."""
    nodes = {name: dataset(path, h5, name) for name in ("images", "labels", "ids", "ra", "dec")}
    if "class_names" not in h5.attrs:
        raise InputError(path, "missing attribute 'class_names'")
    names = h5.attrs["class_names"]
    class_names = [_text(name) for name in names] if isinstance(names, np.ndarray) and names.ndim == 1 else []
    if not class_names or not all(isinstance(name, str) for name in class_names):
        raise InputError(path, "attribute 'class_names' must be a list of names")
    n = nodes["labels"].shape[0] if nodes["labels"].ndim else 0
    check_images(path, nodes["images"], max_pixels)
    with hdf5_errors(path, "labels"):
        labels = check_labels(path, "labels", nodes["labels"], n, len(class_names))
    if nodes["ids"].shape != (n,) or nodes["ids"].dtype.kind not in "OSU":
        raise InputError(path, f"dataset 'ids' must hold ({n},) strings, got "
                               f"{nodes['ids'].dtype} {nodes['ids'].shape}")
    with hdf5_errors(path, "ids"):
        ids = np.array([_text(i) for i in nodes["ids"][()]], dtype=object)
    check_ids(path, ids)
    if nodes["images"].shape[0] != n:
        raise InputError(path, f"dataset 'images' has {nodes['images'].shape[0]} rows, 'labels' {n}")
    provenance = {key: _text(value) for key, value in h5.attrs.items() if key not in ("class_names",)}
    several = sorted(key for key, value in provenance.items() if isinstance(value, np.ndarray))
    if several:
        raise InputError(path, f"attribute '{several[0]}' must be a single value, not an array")
    return PackedDataset(images=None, labels=labels, ids=ids, ra=numbers(path, h5, "ra", n),
                         dec=numbers(path, h5, "dec", n), class_names=class_names, provenance=provenance)


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value
