"""Config checks that JSON Schema cannot express, run by common.smk before any job is planned.

- The config tree: YAML aliases (``&name`` / ``*name``) are rejected (an alias bomb expands to
  billions of nodes and hangs validation), and so is a tree of more than ``MAX_CONFIG_NODES`` values.
- ``seed``: Keras seeds epoch ``e`` (0-based) with ``seed + e``, which must stay below 2**32.
- ``split.val_fraction`` + ``split.test_fraction`` must leave objects for training.
- ``training.weights``, when a path: it must be a Keras weights file (``.weights.h5``, legacy
  ``.h5``/``.hdf5`` or a ``.keras`` archive), checked with h5py without building any model.

Values the config leaves out take the schema's defaults; type errors are left to ``validate``.
"""

import zipfile
from pathlib import Path

import h5py
import yaml

from astrotune.errors import InputError

MAX_CONFIG_NODES = 100_000
SEED_LIMIT = 2 ** 32
SCHEMA = "workflow/schemas/config.schema.yaml"


def check_config(config, basedir, configfiles=()):
    """Raise InputError naming the config file and key for the problems listed in the module docstring.

    Args:
        config: The loaded config (before ``validate``).
        basedir: The workflow's base folder (holds the schema).
        configfiles: The config files the config came from (named in errors).
    """
    source = ", ".join(str(path) for path in configfiles) or "config"
    check_tree(config, source)
    schema = yaml.safe_load((Path(basedir) / SCHEMA).read_text())

    def value(key):
        return _lookup(config, schema, key)

    seed, epochs = value("seed"), value("training.epochs")
    if _is_int(seed) and _is_int(epochs) and seed + epochs > SEED_LIMIT:
        raise InputError(source, f"seed {seed} is too large: seed + training.epochs ({epochs}) must be at most "
                                 f"2**32 = {SEED_LIMIT} (epoch e is seeded with seed + e, below 2**32)")
    val, test = value("split.val_fraction"), value("split.test_fraction")
    if _is_number(val) and _is_number(test) and val + test >= 1:
        raise InputError(source, f"split.val_fraction ({val}) + split.test_fraction ({test}) must be below 1, "
                                 "or no object is left for training")
    weights = value("training.weights")
    if isinstance(weights, str) and weights not in ("imagenet", "none"):
        problem = weights_file_problem(Path(weights))
        if problem:
            raise InputError(source, f"training.weights {weights!r}: {problem}")


def check_tree(config, source):
    """Reject YAML aliases (a container reached twice) and trees with too many values."""
    seen, count, stack = set(), 0, [("", config)]
    while stack:
        key, node = stack.pop()
        count += 1
        if count > MAX_CONFIG_NODES:
            raise InputError(source, f"config has more than {MAX_CONFIG_NODES} values")
        if not isinstance(node, (dict, list)):
            continue
        if id(node) in seen:
            raise InputError(source, f"key {key or '<top>'!r} repeats a YAML alias (&/*); aliases are not "
                                     "allowed in config files, write the values out")
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend((f"{key}.{k}" if key else str(k), child) for k, child in items)


def weights_file_problem(path):
    """Why ``path`` is not a Keras weights file Keras can load, or None when it looks like one."""
    if not path.is_file():
        return "file not found (use 'imagenet', 'none' or the path of a Keras weights file)"
    name = path.name.lower()
    if name.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                if "model.weights.h5" not in archive.namelist():
                    return "a .keras archive without model.weights.h5"
        except (zipfile.BadZipFile, OSError) as err:
            return f"not a .keras archive ({err})"
        return None
    if not name.endswith((".weights.h5", ".h5", ".hdf5")):
        return "name must end with .weights.h5, .h5, .hdf5 or .keras (the formats Keras loads)"
    if not h5py.is_hdf5(path):
        return "not an HDF5 file"
    try:
        with h5py.File(path, "r") as h5:
            if name.endswith(".weights.h5"):
                return None if isinstance(h5.get("layers"), h5py.Group) else "HDF5 file without a 'layers' group"
            if "layer_names" in h5.attrs or isinstance(h5.get("model_weights"), h5py.Group):
                return None
            return "HDF5 file without Keras weights (no 'layer_names' attribute or 'model_weights' group)"
    except OSError as err:
        return f"unreadable HDF5 file ({err})"


def _lookup(config, schema, key):
    """``config``'s value at dotted ``key``, else the schema's default (None when neither)."""
    node, spec = config, schema
    for part in key.split("."):
        spec = (spec or {}).get("properties", {}).get(part, {})
        node = node.get(part) if isinstance(node, dict) else None
    return spec.get("default") if node is None else node


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
