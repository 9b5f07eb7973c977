"""Frozen-prefix feature cache: the tensors crossing an architecture's deepest cut, once per data set.

One cache per (data set, architecture, image size, weights, deepest trainable-layer count) serves
every step of that architecture's schedule: a step with fewer trainable layers runs the layers
between the cache cut and its own cut frozen inside the suffix. The file holds, for every image of
the packed data set in its order, the crossing tensors ``tensor_0..tensor_{k-1}`` (``(N, ...)``, or
``(8, N, ...)`` with the 8 dihedral views when the only augmentation is the dihedral group), plus
attributes saying what it belongs to (``CacheKey``: the data set, architecture, cut, weights, seed,
views, storage dtype, the dtype policy it was computed under and the Keras, TensorFlow and backend
versions). A training job uses it only when those still match and its model's prefix has the digest
(``cut.prefix_digest``: layers, weights, Keras version) the cache was computed with. The workflow
passes the library versions to ``cache_features`` as a parameter, so an upgrade reruns the cache
instead of leaving every training job to refuse it.
"""

import json
import logging
from dataclasses import asdict, dataclass

import h5py
import numpy as np

from astrotune.errors import InputError
from astrotune.io import atomic_path, sha256_file

log = logging.getLogger(__name__)
FORMAT_VERSION = 3
N_VIEWS = 8
# keras.applications bases with Dropout inside their blocks: their prefix is random in training unless
# the base runs in inference mode (training.batchnorm frozen, pretrained weights; tests/test_cut.py).
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
    policy: str = "float32"
    keras: str = ""
    tensorflow: str = ""
    backend: str = ""


def cache_key(dataset_sha256, arch, layers, settings, feature_dtype):
    """The CacheKey of a cache at the cut of ``layers`` for these TrainingSettings, under the current
    dtype policy and library versions (Keras imported)."""
    from astrotune.training.runtime import dtype_policy, library_versions

    return CacheKey(dataset_sha256, arch, int(layers), settings.weights, settings.seed,
                    settings.augmentation.dihedral_only, feature_dtype, dtype_policy(), **library_versions())


@dataclass(frozen=True)
class CacheFile:
    """A feature cache a training job may use: its path, the sha256 of the packed data set it was
    computed from, the trainable-layer count of its cut and the seed it was computed with when that is
    not the job's (None: the job's). A run of another training seed shares the study seed's cache; its
    model's prefix must still have the cache's digest (the same loaded weights)."""

    path: str
    dataset_sha256: str
    layers: int
    seed: int | None = None


def cache_possible(arch, augmentation, batchnorm="train", pretrained=False):
    """Whether a cache can be exact for ``arch`` under these AugmentationSettings (no Keras import).

    Args:
        arch: architecture name.
        augmentation: AugmentationSettings.
        batchnorm: ``training.batchnorm`` (``frozen``: a pretrained base runs in inference mode in ``fit``).
        pretrained: the base starts from loaded weights (``weights`` not ``none``, no re-initialisation).

    Returns:
        (possible, reason): reason says why not, for the log.
    """
    inference_base = batchnorm == "frozen" and pretrained
    if arch in RANDOM_PREFIX_ARCHS and not inference_base:
        return False, (f"{arch} has Dropout layers in its frozen prefix, which are random in training "
                       "(cacheable with pretrained weights and training.batchnorm frozen)")
    if augmentation.active and not augmentation.dihedral_only:
        return False, "augmentation other than the dihedral group makes the frozen prefix random"
    return True, ""


def prefix_model(arch, n_classes, input_shape, layers, settings):
    """The classifier as the training job builds it (same seed, same initial weights) and its split
    at the cut of ``layers`` trainable layers."""
    from astrotune.models.cut import find_base, split_classifier
    from astrotune.training.compile import compiled_model
    from astrotune.training.runtime import make_deterministic

    make_deterministic(settings.seed)
    model = compiled_model(arch, layers, n_classes, input_shape, 1, settings)
    base = find_base(model)
    return model, split_classifier(model, len(base.layers) - layers)


def _views(images, dihedral):
    from astrotune.models.augment import dihedral_views

    return dihedral_views(images) if dihedral else [images]


def compute_features(dataset_path, output_path, arch, layers, settings, performance=None, dataset_sha256=None):
    """Run the frozen prefix over every image of a packed data set and write the crossing tensors.

    Images are read and tensors written batch by batch, so neither is ever held whole in memory.

    Args:
        dataset_path: packed HDF5 data set (``data/store.py``).
        output_path: the cache file to write (atomically).
        arch: architecture name.
        layers: the deepest trainable-layer count of the schedule (the cache cut).
        settings: train.TrainingSettings (weights, seed, augmentation).
        performance: ``settings.PerformanceSettings``: the storage dtype (``feature_dtype``) and the
            switches the prefix is built under, applied as the training job applies them
            (``runtime.configure_accelerators``), so both build the same prefix.
        dataset_sha256: the data set's digest when known (``dataset_digest``), else computed.
    """
    from astrotune.data.store import read_dataset
    from astrotune.models.cut import prefix_digest, prefix_outputs
    from astrotune.training.runtime import configure_accelerators
    from astrotune.training.settings import PerformanceSettings

    performance = performance or PerformanceSettings()
    configure_accelerators(performance.numeric)
    dtype = performance.numeric.feature_dtype
    dataset = read_dataset(dataset_path, with_images=False)
    dihedral = settings.augmentation.dihedral_only
    key = cache_key(dataset_sha256 or sha256_file(dataset_path), arch, layers, settings, dtype)
    n = len(dataset)
    views = N_VIEWS if dihedral else 1
    with h5py.File(dataset_path, "r") as packed, atomic_path(output_path) as tmp:
        images_in = packed["images"]
        model, split = prefix_model(arch, len(dataset.class_names), images_in.shape[1:], layers, settings)
        batch_size = images_per_call([images_in.shape[1:]])
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
    log.info("cached %d tensors crossing the cut at base layer %d of %s (%d trainable layers) for %d images%s "
             "(dtype policy %s)", len(split.names), split.cut, arch, layers, n, " x 8 dihedral views" if dihedral else "",
             key.policy)


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


def images_per_call(row_shapes, pixels_per_call=16 * 512 * 512):
    """Rows per prefix call: 32, fewer for large rows, so a call's activations stay near 2 GB."""
    pixels = max(int(np.prod(shape[:-1])) if len(shape) > 1 else 1 for shape in row_shapes)
    return int(np.clip(pixels_per_call // pixels, 1, 32))
