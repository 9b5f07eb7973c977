"""Preprocessing metadata saved inside a ``.keras`` model, so prediction reuses the training settings.

The metadata (input size, class names, data source, data release, pixel scale and original cutout
size of the training images, and the Keras backend and versions it was trained with) is written into the model's ``config.json`` under the key ``astrotune``
when the model is saved, and read back from the archive without Keras. Keras ignores the extra key
when it loads the model.
"""

import json
import zipfile
from pathlib import Path

from astrotune import backend
from astrotune.errors import InputError

METADATA_KEY = "astrotune"
FIELDS = ("input_size", "class_names", "source", "data_release", "pixel_scale", "original_size", "config_hash")
MAX_SIDE = 4096
MAX_CLASSES = 1000
MAX_ENTRIES = 64
MAX_RATIO = 100
# Uncompressed size caps of a .keras archive's entries (bytes), checked before extracting.
ENTRY_CAPS = {"config.json": 16 << 20, "metadata.json": 1 << 20, "model.weights.h5": 4 << 30, "*": 64 << 20}


def training_metadata(provenance, class_names, input_shape):
    """The metadata of a model trained on a packed data set.

    Args:
        provenance: the packed data set's provenance attributes (``read_dataset(...).provenance``).
        class_names: class names in label order.
        input_shape: the model's input shape (height, width, channels).
    """
    height, width = int(input_shape[0]), int(input_shape[1])
    if height != width:
        raise ValueError(f"model input must be square, got {height}x{width}")
    packed = provenance.get("image_size")
    if packed not in (None, "") and int(packed) != height:
        raise ValueError(f"model input side {height} differs from the packed image_size {packed}")
    return {
        "input_size": height,
        "class_names": [str(name) for name in class_names],
        "source": str(provenance.get("source", "")),
        "data_release": str(provenance.get("data_release", "")),
        "pixel_scale": _number_or_empty(provenance.get("pixel_scale")),
        "original_size": _number_or_empty(provenance.get("original_size")),
        "config_hash": str(provenance.get("config_hash", "")),
    }


def attach_metadata(model, provenance, class_names):
    """Make ``model.save`` write the training metadata into the saved model's config.

    Returns:
        The metadata dict.
    """
    metadata = training_metadata(provenance, class_names, model.input_shape[1:]) | {"libraries": backend.versions()}
    model_config = model.get_config
    model.get_config = lambda: model_config() | {METADATA_KEY: metadata}
    return metadata


def read_metadata(path):
    """The training metadata of a saved ``.keras`` model (read from the archive, no Keras needed).

    Every archive entry's uncompressed size is checked against ``ENTRY_CAPS`` before anything is
    extracted, and every metadata field's type and range (``check_fields``).

    Raises:
        InputError: the file is missing, not a regular file, not a ``.keras`` archive, too large, or
            has no complete and valid metadata.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "model file does not exist")
    if not path.is_file():
        raise InputError(path, "model is not a regular file (a folder, FIFO or device)")
    try:
        with zipfile.ZipFile(path) as archive:
            check_entries(path, archive.infolist())
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, RecursionError) as err:
        raise InputError(path, f"not a Keras .keras model archive ({err})") from err
    inner = config.get("config") if isinstance(config, dict) else None
    metadata = inner.get(METADATA_KEY) if isinstance(inner, dict) else None
    if not isinstance(metadata, dict):
        raise InputError(path, f"model has no '{METADATA_KEY}' metadata (input size, classes, data release); "
                               "it was not saved by astrotune's train_model step")
    missing = [name for name in FIELDS if name not in metadata]
    if missing:
        raise InputError(path, f"model metadata lacks {', '.join(missing)}")
    check_fields(path, metadata)
    return metadata


def check_entries(path, entries):
    """Refuse an archive with too many entries, an entry larger (uncompressed) than its cap, or a
    large entry compressed more than ``MAX_RATIO`` times (weights barely compress; a bomb does)."""
    if len(entries) > MAX_ENTRIES:
        raise InputError(path, f"archive has {len(entries)} entries, more than {MAX_ENTRIES}")
    for entry in entries:
        cap = ENTRY_CAPS.get(entry.filename, ENTRY_CAPS["*"])
        if entry.file_size > cap:
            raise InputError(path, f"{entry.filename}: {entry.file_size} bytes uncompressed, more than the "
                                   f"cap of {cap} bytes")
        if entry.file_size > 1 << 20 and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise InputError(path, f"{entry.filename}: {entry.file_size} bytes uncompressed from "
                                   f"{entry.compress_size}, more than {MAX_RATIO} times (a zip bomb?)")


def check_fields(path, metadata):
    """Raise InputError naming the first metadata field of the wrong type or out of range."""
    def bad(name, reason):
        raise InputError(path, f"{METADATA_KEY}.{name}: {reason} (got {metadata[name]!r:.80})")

    side = metadata["input_size"]
    if not _is_int(side) or not 1 <= side <= MAX_SIDE:
        bad("input_size", f"must be an integer in 1..{MAX_SIDE}")
    names = metadata["class_names"]
    if not isinstance(names, list) or not 2 <= len(names) <= MAX_CLASSES \
            or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in names) or len(set(names)) != len(names):
        bad("class_names", f"must be a list of 2..{MAX_CLASSES} distinct non-empty names")
    for name in ("source", "data_release", "config_hash"):
        if not isinstance(metadata[name], str) or len(metadata[name]) > 200:
            bad(name, "must be a string of at most 200 characters")
    scale = metadata["pixel_scale"]
    if scale != "" and (not _is_number(scale) or not 0 < scale < 3600):
        bad("pixel_scale", "must be empty or a number of arcsec per pixel in (0, 3600)")
    original = metadata["original_size"]
    if original != "" and (not _is_int(original) or not 1 <= original <= MAX_SIDE * 16):
        bad("original_size", f"must be empty or an integer in 1..{MAX_SIDE * 16}")
    libraries = metadata.get("libraries", {})  # Keras and backend versions; absent in older models
    if not isinstance(libraries, dict) or len(libraries) > 8 or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 50 and len(v) <= 50 for k, v in libraries.items()):
        bad("libraries", "must be a mapping of at most 8 library names to version strings")


def check_against_model(path, metadata, model):
    """Raise InputError when the loaded model's input or output disagrees with its metadata."""
    shape = tuple(model.input_shape)
    outputs = model.output_shape[-1]
    side = metadata["input_size"]
    if len(shape) != 4 or shape[1:] != (side, side, 3):
        raise InputError(path, f"{METADATA_KEY}.input_size: {side}, but the model takes inputs of shape "
                               f"{shape[1:]}")
    if outputs != len(metadata["class_names"]):
        raise InputError(path, f"{METADATA_KEY}.class_names: {len(metadata['class_names'])} names, but the model "
                               f"has {outputs} outputs")


def _number_or_empty(value):
    if value in (None, ""):
        return ""
    number = float(value)
    return int(number) if number.is_integer() else number


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
