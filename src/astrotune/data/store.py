"""The packed data set: one HDF5 file per data set.

Datasets: ``images`` (N, H, W, 3) uint8, ``labels`` (N,) int16, ``ids`` (N,) str, ``ra`` and ``dec``
(N,) float64 (NaN when unknown). Attributes: ``class_names`` and provenance (``source``,
``data_release``, ``pixel_scale``, ``original_size``, ``image_size``, ``config_hash``, ...).
"""

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from astrotune.errors import InputError
from astrotune.io import atomic_path

SCHEMA_VERSION = 1
_STR = h5py.string_dtype("utf-8")


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


def write_dataset(path, dataset):
    """Write ``dataset`` to ``path`` atomically after checking shapes and types."""
    n = len(dataset.labels)
    images = np.asarray(dataset.images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] != n:
        raise ValueError(f"images must be uint8 (N, H, W, 3) with N={n}, got {images.dtype} {images.shape}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.create_dataset("images", data=images, chunks=(1, *images.shape[1:]), compression="gzip",
                              compression_opts=4)
            h5.create_dataset("labels", data=np.asarray(dataset.labels, dtype=np.int16))
            h5.create_dataset("ids", data=np.asarray(dataset.ids, dtype=object), dtype=_STR)
            h5.create_dataset("ra", data=np.asarray(dataset.ra, dtype=np.float64))
            h5.create_dataset("dec", data=np.asarray(dataset.dec, dtype=np.float64))
            h5.attrs["schema_version"] = SCHEMA_VERSION
            h5.attrs["class_names"] = np.asarray(dataset.class_names, dtype=object)
            for key, value in dataset.provenance.items():
                h5.attrs[key] = "" if value is None else value


def read_dataset(path, with_images=True):
    """Read and validate a packed data set; errors name the file and the field."""
    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"not a readable HDF5 file ({err})") from err
    with h5:
        for name in ("images", "labels", "ids", "ra", "dec"):
            if name not in h5:
                raise InputError(path, f"missing dataset '{name}'")
        if "class_names" not in h5.attrs:
            raise InputError(path, "missing attribute 'class_names'")
        class_names = [_text(name) for name in h5.attrs["class_names"]]
        labels = h5["labels"][:]
        n = len(labels)
        for name in ("ids", "ra", "dec"):
            if h5[name].shape != (n,):
                raise InputError(path, f"dataset '{name}' has shape {h5[name].shape}, expected ({n},)")
        shape = h5["images"].shape
        if len(shape) != 4 or shape[0] != n or shape[-1] != 3 or h5["images"].dtype != np.uint8:
            raise InputError(path, f"dataset 'images' must be uint8 ({n}, H, W, 3), got "
                                   f"{h5['images'].dtype} {shape}")
        if n and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise InputError(path, f"dataset 'labels' outside 0..{len(class_names) - 1}")
        provenance = {key: _text(value) for key, value in h5.attrs.items()
                      if key not in ("class_names",)}
        return PackedDataset(
            images=h5["images"][:] if with_images else None,
            labels=labels.astype(np.int64),
            ids=np.array([_text(i) for i in h5["ids"][:]], dtype=object),
            ra=h5["ra"][:],
            dec=h5["dec"][:],
            class_names=class_names,
            provenance=provenance,
        )


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value
