"""Config checks, run by common.smk before any job is planned: one line per problem, naming the key.

- The config files: a key given twice in one mapping is refused (YAML would keep the last value).
- The config tree: YAML aliases (``&name`` / ``*name``) are rejected (an alias bomb expands to
  billions of nodes and hangs validation), and so is a tree of more than ``MAX_CONFIG_NODES`` values.
- The schema (``workflow/schemas/config.schema.yaml``), every violation as one line with the key and
  the allowed values or range, never the schema itself; an ``architectures`` entry's problem is
  named (a repeated count, a count beyond the base's depth or block count, an unknown key).
- ``training.center_crop`` must fit in ``dataset.image_size``; ``synthetic.class_fractions`` keys must
  be ``dataset.classes`` (for the synthetic source).
- ``seed``: the schema keeps it below 2**32 (Keras, NumPy's global generator and scikit-learn take
  32-bit seeds; each epoch's order comes from ``(seed, epoch)`` and needs no room above it), and so
  must the last training seed, ``seed + n_seeds - 1``.
- ``split.val_fraction`` + ``split.test_fraction`` must leave objects for training.
- ``training.weights``, when a path: it must be a Keras weights file (``.weights.h5``, legacy
  ``.h5``/``.hdf5`` or a ``.keras`` archive), checked with h5py without building any model.

Values the config leaves out take the schema's defaults. The depth of each architecture's base is
the schema's ``x-base-layers`` (one fewer with a CBAM head, which takes the feature map), and where
its blocks start the schema's ``x-block-starts`` (``models.schedules.BLOCK_STARTS``).
"""

import math
import zipfile
from fractions import Fraction
from pathlib import Path

import h5py
import yaml
from jsonschema import validators

from astrotune.errors import InputError, raise_problems

MAX_CONFIG_NODES = 100_000
MAX_SEED = 2**32 - 1  # the schema's maximum of seed: Keras, NumPy and scikit-learn take 32-bit seeds
WEIGHT_NAMES = ("imagenet", "none", "pretrained")
SCHEMA = "workflow/schemas/config.schema.yaml"


def check_config(config, basedir, configfiles=()):
    """Raise InputError naming the config file and key for the problems listed in the module docstring.

    Args:
        config: The loaded config (before ``validate``).
        basedir: The workflow's base folder (holds the schema).
        configfiles: The config files the config came from (named in errors).
    """
    source = ", ".join(str(path) for path in configfiles) or "config"
    for path in configfiles:
        check_duplicate_keys(path)
    check_tree(config, source)
    schema = yaml.safe_load((Path(basedir) / SCHEMA).read_text())
    problems = schema_problems(config, schema)
    if not problems:
        problems = semantic_problems(config, schema)
    if problems:
        raise_problems(source, problems, what="problem(s) in the config")


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise InputError(self.name, f"line {key_node.start_mark.line + 1}: key {key!r} is given twice "
                                            f"in one mapping (first on line {seen[key]}); keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def check_duplicate_keys(path):
    """Raise InputError naming the file, line and key of a mapping key given twice."""
    path = Path(path)
    if path.is_file():
        with open(path, encoding="utf-8", errors="replace") as handle:
            try:
                yaml.load(handle, Loader=_StrictLoader)
            except yaml.YAMLError as err:
                raise InputError(path, f"not valid YAML ({' '.join(str(err).split())[:300]})") from None


def schema_problems(config, schema):
    """One line per schema violation: the key, then why, with the allowed values or range."""
    validator = validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    return [line for error in errors for line in _explain(error)][:1000]


def _key(error, *more):
    return ".".join(str(part) for part in [*error.absolute_path, *more]) or "<top>"


def _explain(error):
    """Lines for one jsonschema error (oneOf/anyOf: the branch of the value's own type, explained)."""
    kind, value, rule = error.validator, error.instance, error.validator_value
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return [f"{_key(error, k)}: unknown key; allowed keys: {', '.join(allowed) or 'none'}"
                for k in sorted(set(value) - set(allowed), key=str)]
    if kind in ("oneOf", "anyOf"):
        branches = {}
        for sub in error.context or ():
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        for index, branch in enumerate(rule):
            if _matches_type(value, branch.get("type")) and index in branches:
                return [line for sub in branches[index] for line in _explain(sub)]
        kinds = " or ".join(str(branch.get("type", "?")) for branch in rule)
        return [f"{_key(error)}: {shown} must be {kinds}"]
    if "propertyNames" in error.schema_path and kind == "enum":
        return [f"{_key(error, value)}: unknown name; allowed: {', '.join(rule)}"]
    reasons = {
        "enum": lambda: f"{shown} is not one of {', '.join(map(str, rule))}",
        "type": lambda: f"{shown} must be of type {rule}",
        "minimum": lambda: f"{shown} is below the minimum {rule}",
        "maximum": lambda: f"{shown} is above the maximum {rule}",
        "exclusiveMinimum": lambda: f"{shown} must be above {rule}",
        "exclusiveMaximum": lambda: f"{shown} must be below {rule}",
        "uniqueItems": lambda: f"repeats {sorted({v for v in value if value.count(v) > 1}, key=str)}; "
                               "give each value once",
        "minItems": lambda: f"needs at least {rule} item(s)",
        "maxItems": lambda: f"takes at most {rule} item(s)",
        "minProperties": lambda: f"needs at least {rule} key(s)",
        "pattern": lambda: f"{shown} does not match the pattern {rule}",
        "required": lambda: error.message,
    }
    reason = reasons[kind]() if kind in reasons else " ".join(error.message.split())[:200]
    return [f"{_key(error)}: {reason}"]


def _matches_type(value, types):
    names = {"array": list, "object": dict, "string": str, "boolean": bool, "null": type(None)}
    for name in types if isinstance(types, list) else [types]:
        if name in names and isinstance(value, names[name]):
            return True
        if name in ("integer", "number") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
    return False


def semantic_problems(config, schema):
    """Problems of a config that passes the schema: training seeds, layer counts, center crop, class fractions."""
    def value(key):
        return _lookup(config, schema, key)

    problems = []
    seed, n_seeds = value("seed"), value("n_seeds")
    if seed + n_seeds - 1 > MAX_SEED:
        problems.append(f"n_seeds: {n_seeds} training seeds from seed {seed} reach {seed + n_seeds - 1}, above the "
                        f"largest seed {MAX_SEED}; lower seed or n_seeds")
    val, test = value("split.val_fraction"), value("split.test_fraction")
    if val + test >= 1:
        problems.append(f"split.val_fraction ({val}) + split.test_fraction ({test}) must be below 1, or no object "
                        "is left for training")
    weights = [(key, value(key)) for key in ("training.weights", "unsupervised.weights", "pretrain.weights")]
    depths = schema["properties"]["architectures"].get("x-base-layers", {})
    block_starts = schema["properties"]["architectures"].get("x-block-starts", {})
    for arch, entry in (value("architectures") or {}).items():
        entry = entry if isinstance(entry, dict) else {"layers": entry}
        weights.append((f"architectures.{arch}.weights", entry.get("weights")))
        cbam = (entry.get("head") or {}).get("cbam", (value("training.head") or {}).get("cbam", False))
        starts = [start - int(bool(cbam)) for start in block_starts.get(arch, [])]
        problems += architecture_problems(arch, entry, depths.get(arch, 0) - int(bool(cbam)), cbam, starts)
    for key, path in weights:
        if isinstance(path, str) and path not in WEIGHT_NAMES and (problem := weights_file_problem(Path(path))):
            problems.append(f"{key} {path!r}: {problem}")
    crop, side = value("training.center_crop"), value("dataset.image_size")
    if crop and crop > side:
        problems.append(f"training.center_crop: {crop} is larger than dataset.image_size {side} "
                        f"(allowed 0..{side}; 0 keeps the whole image)")
    fractions, classes = value("synthetic.class_fractions"), value("dataset.classes")
    if value("dataset.source") == "synthetic" and sorted(fractions) != sorted(classes):
        problems.append(f"synthetic.class_fractions: keys {sorted(fractions)} must be the dataset.classes "
                        f"{sorted(classes)}")
    return problems


def architecture_problems(arch, entry, depth, cbam, block_starts=()):
    """Counts beyond the base's ``depth`` or its blocks, no step at all, or two steps training the same
    last N layers (N of a frozen fraction f: round((1 - f) * depth), halves up; N of k blocks:
    ``block_starts[k - 1]``; as ``models.schedules``)."""
    key = f"architectures.{arch}"
    n_blocks = len(block_starts)
    problems = [f"{key}.blocks: {k} blocks requested but {arch} has {n_blocks} blocks (allowed 0..{n_blocks})"
                for k in entry.get("blocks", []) if k > n_blocks]
    steps = [(n, f"layers {n}") for n in entry.get("layers", [])]
    steps += [(block_starts[k - 1] if k else 0, f"blocks {k}") for k in entry.get("blocks", []) if k <= n_blocks]
    steps += [(math.floor((1 - Fraction(str(f))) * depth + Fraction(1, 2)), f"frozen_fractions {f}")
              for f in entry.get("frozen_fractions", [])]
    steps += [(depth, "from_scratch")] if entry.get("from_scratch") else []
    if not steps:
        return problems or [f"{key}: no step: give layers, blocks, frozen_fractions or from_scratch"]
    problems += [f"{key}: {n} trainable layers requested but {arch} has {depth} layers (allowed 0..{depth}"
                 f"{', one fewer with a CBAM head' if cbam else ''})" for n, _ in steps if n > depth]
    seen = {}
    for n, step in steps:
        if n in seen:
            problems.append(f"{key}: {seen[n]} and {step} both train the last {n} layers (the same L{n} job)")
        seen.setdefault(n, step)
    return problems


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
        return "file not found (use 'imagenet', 'none', 'pretrained' or the path of a Keras weights file)"
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
