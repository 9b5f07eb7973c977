"""Preprocessing metadata saved inside a ``.keras`` model, so prediction reuses the training settings.

The metadata (input size, class names, data source, data release, pixel scale and original cutout
size of the training images) is written into the model's ``config.json`` under the key ``astrotune``
when the model is saved, and read back from the archive without Keras. Keras ignores the extra key
when it loads the model.
"""

import json
import zipfile
from pathlib import Path

from astrotune.errors import InputError

METADATA_KEY = "astrotune"
FIELDS = ("input_size", "class_names", "source", "data_release", "pixel_scale", "original_size", "config_hash")


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
    metadata = training_metadata(provenance, class_names, model.input_shape[1:])
    model_config = model.get_config
    model.get_config = lambda: model_config() | {METADATA_KEY: metadata}
    return metadata


def read_metadata(path):
    """The training metadata of a saved ``.keras`` model (read from the archive, no Keras needed).

    Raises:
        InputError: the file is missing, not a ``.keras`` archive, or has no complete metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "model file does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as err:
        raise InputError(path, f"not a Keras .keras model archive ({err})") from err
    metadata = config.get("config", {}).get(METADATA_KEY)
    if not isinstance(metadata, dict):
        raise InputError(path, f"model has no '{METADATA_KEY}' metadata (input size, classes, data release); "
                               "it was not saved by astrotune's train_model step")
    missing = [name for name in FIELDS if name not in metadata]
    if missing:
        raise InputError(path, f"model metadata lacks {', '.join(missing)}")
    return metadata


def _number_or_empty(value):
    if value in (None, ""):
        return ""
    number = float(value)
    return int(number) if number.is_integer() else number
