"""Batched input from packed arrays: held in memory under a budget, streamed from HDF5 above it.

A ``Rows`` source gives rows of one or several same-length arrays (images, or the tensors of a
feature cache), either from memory or read batch by batch from an HDF5 file. ``epoch_dataset``
turns the rows of one epoch (a numpy index array, repeats allowed, e.g. oversampled training
indices) into batches with a parallel map and prefetch; only the rows of a batch are ever copied.
The order of an epoch is fixed by (seed, epoch), exactly as ``train.epoch_batches`` draws it, so
the in-memory, streamed and cached paths see the same batches.
"""

import logging

import h5py
import numpy as np

from astrotune.errors import InputError

log = logging.getLogger(__name__)
MB = 2**20


class Rows:
    """Rows of same-length arrays, in memory or in an HDF5 file.

    Args:
        arrays: numpy arrays, or h5py datasets of one open file (streamed batch by batch).
        views: True when every array has a leading axis of views (``(V, N, ...)``, e.g. the 8
            dihedral views of a feature cache); rows are then taken as (view, row) pairs.
    """

    def __init__(self, arrays, views=False):
        self.arrays = list(arrays)
        self.views = views
        self.streamed = any(isinstance(array, h5py.Dataset) for array in self.arrays)
        axis = 1 if views else 0
        lengths = {array.shape[axis] for array in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"arrays of different lengths {sorted(lengths)}")
        self.length = lengths.pop()

    def __len__(self):
        return self.length

    @property
    def nbytes(self):
        """Bytes of all arrays."""
        return sum(int(np.prod(array.shape)) * array.dtype.itemsize for array in self.arrays)

    def row_shapes(self):
        """Shape of one row of every array (without the view axis)."""
        return [tuple(array.shape[2 if self.views else 1:]) for array in self.arrays]

    def take(self, rows, views=None):
        """The given rows (repeats allowed) of every array, as new numpy arrays.

        Args:
            rows: int row indices.
            views: view index per row (None: view 0). A source with views selects them; a source
                of images computes them (``dihedral_transform``).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if views is not None and not self.views:  # images: view v is computed, as the cache stored it
            return [dihedral_transform(array, views) for array in Rows(self.arrays).take(rows)]
        if self.views and views is None:
            views = np.zeros(len(rows), dtype=np.int64)
        if not self.streamed:
            if self.views:
                return [array[views, rows] for array in self.arrays]
            return [array[rows] for array in self.arrays]
        # h5py reads increasing unique indices: read each needed row once, then reorder.
        if self.views:
            keys = np.asarray(views, dtype=np.int64) * self.length + rows
            unique, inverse = np.unique(keys, return_inverse=True)
            return [np.stack([array[int(k // self.length), int(k % self.length)] for k in unique])[inverse]
                    for array in self.arrays]
        unique, inverse = np.unique(rows, return_inverse=True)
        return [array[unique][inverse] for array in self.arrays]


def open_rows(h5, names, budget_mb, views=False, source=""):
    """Rows of the named datasets of an open HDF5 file: loaded when they fit ``budget_mb``, else streamed.

    Raises:
        InputError: a named dataset is missing (names the file and the dataset).
    """
    return within_budget(streamed_rows(h5, names, views, source), budget_mb, source)


def streamed_rows(h5, names, views=False, source=""):
    """Rows of the named datasets of an open HDF5 file, read only when taken.

    Raises:
        InputError: a named dataset is missing (names the file and the dataset).
    """
    for name in names:
        if name not in h5:
            raise InputError(source or h5.filename, f"missing dataset '{name}'")
    return Rows([h5[name] for name in names], views=views)


def within_budget(rows, budget_mb, source=""):
    """``rows`` loaded into memory when they fit ``budget_mb``, else left streamed (the log says so)."""
    if not rows.streamed:
        return rows
    if rows.nbytes <= budget_mb * MB:
        return Rows([array[...] for array in rows.arrays], views=rows.views)
    log.info("%s: %.0f MB exceed the in-memory budget of %.0f MB; streaming batches from the file",
             source or rows.arrays[0].file.filename, rows.nbytes / MB, budget_mb)
    return rows


def dihedral_transform(images, views):
    """Image ``i`` of ``images`` (N, H, W, C) under symmetry ``views[i]`` of the square, numbered as
    ``augment.dihedral_views`` numbers them (and a dihedral feature cache stores them): view
    ``4 t + k`` is the image, transposed when ``t`` is 1, rotated by ``k`` quarter turns."""
    images = np.asarray(images)
    out = np.empty_like(images)
    for view in np.unique(views):
        chosen = np.flatnonzero(views == view)
        part = images[chosen]
        if view >= 4:
            part = part.transpose(0, 2, 1, *range(3, images.ndim))
        out[chosen] = np.rot90(part, int(view) % 4, axes=(1, 2))
    return out


def epoch_order(indices, seed, epoch):
    """The rows of one epoch: ``indices`` (repeats allowed) permuted by (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(np.asarray(indices, dtype=np.int64))


def epoch_views(n, seed, epoch, n_views=8):
    """One view per position of an epoch (the dihedral transform of each image), fixed by (seed, epoch).

    Training on images and training on a dihedral feature cache both take their views from here, so
    the two see the same view of each image in each epoch.
    """
    return np.random.default_rng([seed, epoch, n_views]).integers(n_views, size=n)


def epoch_dataset(source, order, onehot, batch_size, views=None, dtype="float32"):
    """Batches ``(x, y)`` of ``source`` rows in ``order``; ``x`` is one tensor or a tuple of them.

    Args:
        source: a Rows.
        order: row indices of the epoch, in order (repeats allowed).
        onehot: (N, n_classes) one-hot labels of all rows.
        batch_size: rows per batch (the last batch may be smaller).
        views: view index per position of ``order`` (selected from a source with views, computed
            from images otherwise).
        dtype: dtype of ``x`` as the model receives it.
    """
    from astrotune import backend

    order = np.asarray(order, dtype=np.int64)
    n_batches = -(-len(order) // batch_size)
    shapes = source.row_shapes()

    def load(batch):
        part = slice(int(batch) * batch_size, (int(batch) + 1) * batch_size)
        rows = order[part]
        arrays = source.take(rows, None if views is None else views[part])
        return (*[array.astype(dtype, copy=False) for array in arrays], onehot[rows].astype("float32"))

    # A streamed source keeps at most 4 batches in flight, so its memory stays bounded (backend.batch_feed).
    specs = [(shape, dtype) for shape in shapes] + [(onehot.shape[1:], "float32")]
    return backend.batch_feed(load, n_batches, specs, source.streamed)
