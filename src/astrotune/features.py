"""Frozen-prefix feature cache: the tensors crossing an architecture's deepest cut, once per data set.

One cache per (data set, architecture, image size, weights, deepest trainable-layer count) serves
every step of that architecture's schedule: a step with fewer trainable layers runs the layers
between the cache cut and its own cut frozen inside the suffix. The file holds, for every image of
the packed data set in its order, the crossing tensors ``tensor_0..tensor_{k-1}`` (``(N, ...)``, or
``(8, N, ...)`` with the 8 dihedral views when the only augmentation is the dihedral group), plus
attributes saying what it belongs to. A training job uses it only when those still match and its
model's prefix has the digest (``cut.prefix_digest``: layers, weights, Keras version) the cache was
computed with.
"""

import json
import logging
from dataclasses import asdict, dataclass

import h5py
import numpy as np

from astrotune.errors import InputError
from astrotune.io import atomic_path, sha256_file

log = logging.getLogger(__name__)
FORMAT_VERSION = 2
N_VIEWS = 8
# keras.applications bases with Dropout inside their blocks: their prefix is random in training
# (checked for the study's architectures in tests/test_cut.py).
RANDOM_PREFIX_ARCHS = ("EfficientNetB2", "EfficientNetV2S")


@dataclass(frozen=True)
class CacheKey:
    """What a feature cache belongs to (stored as file attributes and compared on use)."""

    dataset_sha256: str
    arch: str
    layers: int
    weights: str
    seed: int
    dihedral: bool
    dtype: str


@dataclass(frozen=True)
class CacheFile:
    """A feature cache a training job may use: its path, the sha256 of the packed data set it was
    computed from, and the trainable-layer count of its cut."""

    path: str
    dataset_sha256: str
    layers: int


def cache_possible(arch, augmentation):
    """Whether a cache can be exact for ``arch`` under these AugmentationSettings (no Keras import).

    Returns:
        (possible, reason): reason says why not, for the log.
    """
    if arch in RANDOM_PREFIX_ARCHS:
        return False, f"{arch} has Dropout layers in its frozen prefix, which are random in training"
    if augmentation.active and not augmentation.dihedral_only:
        return False, "augmentation other than the dihedral group makes the frozen prefix random"
    return True, ""


def prefix_model(arch, n_classes, input_shape, layers, settings):
    """The classifier as the training job builds it (same seed, same initial weights) and its split
    at the cut of ``layers`` trainable layers."""
    from astrotune.models.cut import find_base, split_classifier
    from astrotune.train import compiled_model, make_deterministic

    make_deterministic(settings.seed)
    model = compiled_model(arch, layers, n_classes, input_shape, 1, settings)
    base = find_base(model)
    return model, split_classifier(model, len(base.layers) - layers)


def _views(images, dihedral):
    from astrotune.models.augment import dihedral_views

    return dihedral_views(images) if dihedral else [images]


def compute_features(dataset_path, output_path, arch, layers, settings, dtype="float32"):
    """Run the frozen prefix over every image of a packed data set and write the crossing tensors.

    Images are read and tensors written batch by batch, so neither is ever held whole in memory.

    Args:
        dataset_path: packed HDF5 data set (``data/store.py``).
        output_path: the cache file to write (atomically).
        arch: architecture name.
        layers: the deepest trainable-layer count of the schedule (the cache cut).
        settings: train.TrainingSettings (weights, seed, augmentation).
        dtype: ``float32`` or ``float16``.
    """
    from astrotune.data.store import read_dataset
    from astrotune.models.cut import prefix_digest, prefix_outputs

    dataset = read_dataset(dataset_path, with_images=False)
    dihedral = settings.augmentation.dihedral_only
    key = CacheKey(sha256_file(dataset_path), arch, int(layers), settings.weights, settings.seed, dihedral, dtype)
    n = len(dataset)
    views = N_VIEWS if dihedral else 1
    with h5py.File(dataset_path, "r") as packed, atomic_path(output_path) as tmp:
        images_in = packed["images"]
        model, split = prefix_model(arch, len(dataset.class_names), images_in.shape[1:], layers, settings)
        batch_size = _images_per_call([images_in.shape[1:]])
        with h5py.File(tmp, "w") as h5:
            outputs = None
            for start in range(0, n, batch_size):
                batch = images_in[start:start + batch_size].astype("float32")
                for view, images in enumerate(_views(batch, dihedral)):
                    tensors = prefix_outputs(split.prefix, np.ascontiguousarray(images))
                    if outputs is None:
                        outputs = [h5.create_dataset(f"tensor_{i}", shape=(views, n, *t.shape[1:]), dtype=dtype,
                                                     chunks=(1, 1, *t.shape[1:]))
                                   for i, t in enumerate(tensors)]
                    for dataset_out, tensor in zip(outputs, tensors):
                        dataset_out[view, start:start + len(batch)] = tensor.astype(dtype)
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["key"] = json.dumps(asdict(key), sort_keys=True)
            h5.attrs["cut"] = split.cut
            h5.attrs["prefix_digest"] = prefix_digest(model, split.cut)
            h5.attrs["names"] = json.dumps(split.names)
    log.info("cached %d tensors crossing the cut at base layer %d of %s (%d trainable layers) for %d images%s",
             len(split.names), split.cut, arch, layers, n, " x 8 dihedral views" if dihedral else "")


def open_cache(path, key):
    """Open a cache and check it belongs to ``key``; returns the open h5py.File.

    Raises:
        InputError: not a cache, or one of other data, architecture, weights, seed, views or dtype.
    """
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"not a readable HDF5 feature cache ({err})") from err
    stored = json.loads(h5.attrs.get("key", "{}"))
    if h5.attrs.get("format_version") != FORMAT_VERSION or stored != asdict(key):
        differs = sorted(name for name, value in asdict(key).items() if stored.get(name) != value)
        h5.close()
        raise InputError(path, f"feature cache belongs to other inputs (differs in: {', '.join(differs) or 'format'})")
    return h5


def tensor_names(h5):
    """Names of the cached tensors in suffix input order."""
    return [f"tensor_{i}" for i in range(len(json.loads(h5.attrs["names"])))]


class CachedTraining:
    """Train a classifier's suffix on a feature cache; its weights are the classifier's.

    When the job trains fewer layers than the cache's cut leaves, the frozen base layers between
    the two cuts are run once over the rows the job uses (``cut.middle_model``), not in every
    epoch, as long as their output fits the memory budget; the suffix then starts at the job's own
    cut.

    Args:
        model: the compiled classifier of the training job (fresh or resumed).
        h5: the open cache (``open_cache``).
        layers: the job's trainable-layer count (at most the cache's).
        settings: train.TrainingSettings.
        budget_mb: in-memory budget; larger caches are streamed.
        used_rows: every row the job trains or validates on (repeats allowed).
        jit_compile: as the classifier was compiled.

    Raises:
        ValueError: the cache cannot serve this model (the message says why; train falls back).
    """

    def __init__(self, model, h5, layers, settings, budget_mb, used_rows, jit_compile=False):
        from astrotune.data.pipeline import open_rows
        from astrotune.models.cut import (find_base, prefix_digest, prefix_is_deterministic, prefix_is_frozen,
                                          split_classifier)
        from astrotune.train import compile_classifier

        base = find_base(model)
        cut, own_cut = int(h5.attrs["cut"]), len(base.layers) - layers
        if cut > own_cut:
            raise ValueError(f"the cache cut ({len(base.layers) - cut} trainable layers) is shallower than {layers}")
        if not prefix_is_frozen(model, cut) or not prefix_is_deterministic(model, cut):
            raise ValueError("the prefix before the cache cut is not frozen and deterministic")
        if prefix_digest(model, cut) != h5.attrs["prefix_digest"]:
            raise ValueError("the model's prefix (layers, weights or Keras version) differs from the one the "
                             "cache was computed with")
        self.settings = settings
        self.cache_cut = cut
        self.views = bool(json.loads(h5.attrs["key"])["dihedral"])
        self.rows = open_rows(h5, tensor_names(h5), budget_mb, views=True, source=h5.filename)
        self.used = None  # the rows held in self.rows, once the job's rows are advanced (else all)
        if own_cut > cut and prefix_is_deterministic(model, own_cut):
            cut = self._advance(model, cut, own_cut, np.unique(used_rows), budget_mb)
        self.split = split_classifier(model, cut)
        self.suffix = self.split.suffix
        # One optimizer for both models, built on the classifier's variable order (``compiled_model``),
        # so the optimizer state saved with the classifier's checkpoints resumes the suffix's training.
        compile_classifier(self.suffix, model.optimizer, jit_compile)

    def _advance(self, model, cut, own_cut, rows, budget_mb):
        """Run the frozen layers between ``cut`` and ``own_cut`` once over ``rows`` (all views);
        returns the cut the suffix starts at (``cut`` itself when the result would exceed the budget)."""
        from astrotune.data.pipeline import MB, Rows
        from astrotune.models.cut import middle_model, model_input, prefix_outputs

        middle = middle_model(model, cut, own_cut)
        shapes = [tuple(output.shape[1:]) for output in middle.outputs]
        n_views = N_VIEWS if self.views else 1
        nbytes = n_views * len(rows) * sum(int(np.prod(shape)) for shape in shapes) * 4
        if nbytes > budget_mb * MB:
            log.info("running the frozen layers between the cache cut and this job's cut in every epoch: "
                     "their output (%.0f MB) exceeds the in-memory budget", nbytes / MB)
            return cut
        arrays = [np.empty((n_views, len(rows), *shape), dtype="float32") for shape in shapes]
        batch = _images_per_call(self.rows.row_shapes())
        for view in range(n_views):
            for start in range(0, len(rows), batch):
                part = rows[start:start + batch]
                inputs = [array.astype("float32") for array in self.rows.take(part, np.full(len(part), view))]
                for array, output in zip(arrays, prefix_outputs(middle, model_input(inputs))):
                    array[view, start:start + len(part)] = output
        self.rows, self.used = Rows(arrays, views=True), rows
        return own_cut

    def _indexed(self, rows, onehot):
        """``rows`` as positions in self.rows, and the one-hot labels by position."""
        if self.used is None:
            return rows, onehot
        return np.searchsorted(self.used, rows), onehot[self.used]

    def epoch_data(self, indices, onehot, epoch):
        """The epoch's batches: the rows of ``indices`` permuted by (seed, epoch), with a dihedral view
        per position drawn from (seed, epoch) when the cache holds views."""
        from astrotune.data.pipeline import epoch_dataset, epoch_order, epoch_views

        order = epoch_order(indices, self.settings.seed, epoch)
        views = epoch_views(len(order), self.settings.seed, epoch, N_VIEWS) if self.views else None
        return epoch_dataset(self.rows, *self._indexed(order, onehot), self.settings.batch_size, views=views)

    def eval_data(self, rows, onehot):
        """Batches of ``rows`` in order, untransformed (validation)."""
        from astrotune.data.pipeline import epoch_dataset

        return epoch_dataset(self.rows, *self._indexed(np.asarray(rows), onehot), self.settings.batch_size)


def _images_per_call(row_shapes, pixels_per_call=16 * 512 * 512):
    """Rows per prefix call: 32, fewer for large rows, so a call's activations stay near 2 GB."""
    pixels = max(int(np.prod(shape[:-1])) if len(shape) > 1 else 1 for shape in row_shapes)
    return int(np.clip(pixels_per_call // pixels, 1, 32))
