"""Per-epoch training checkpoints that resume only the training they belong to.

Each finished epoch is saved as ``epoch_NNN.npz`` (the values of the weights training can change
and of the optimizer's variables, in their order), then ``state.json`` points at it, atomically, in
that order; the weights of the best epoch so far (lowest validation loss) are kept in ``best.npz``.
The model itself is not saved: a resumed job builds it exactly as a fresh one does (same seed,
same weights file, so the same frozen weights) and loads the values into it, which costs a
fraction of a ``.keras`` save per epoch. The state records a fingerprint of everything that
defines the training (data set and split files, architecture, layers, training settings, seed): a
checkpoint whose fingerprint differs, or whose variables do not fit the model, belongs to another
training and is discarded. The identity a checkpoint is compared on (``checkpoint_identity``) adds
what the job only knows once its model is built: a digest of every weight as built (the frozen
weights from the weights file included, so replacing that file between a kill and a resume starts
afresh), the Keras, TensorFlow and backend versions, the dtype policy, XLA and the numeric switches;
the log names the part that differs.
"""

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from astrotune.io import atomic_path, sha256_file
from astrotune.models.trainable import changing_weights

log = logging.getLogger(__name__)
STATE_FILE = "state.json"
BEST_WEIGHTS = "best.npz"


@dataclass
class TrainingState:
    """Progress of one training: per-epoch history and the early-stopping bookkeeping."""

    history: list = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    stopped: bool = False
    cache: str = ""  # whether this run trained on a feature cache: "used", or why not


def training_fingerprint(dataset_sha256, split_path, arch, layers, settings):
    """Hash of the data set (its sha256) and split contents, the architecture, the layers and the
    settings (``training.batchnorm`` included); ``checkpoint_identity`` adds what the built model knows."""
    parts = {"dataset": dataset_sha256, "split": sha256_file(split_path), "arch": arch,
             "layers": int(layers), "settings": asdict(settings)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def weights_digest(model):
    """SHA-256 of the values of every weight of ``model``, in order (call it on the model as built)."""
    digest = hashlib.sha256()
    for variable in model.weights:
        value = np.asarray(variable.value)
        digest.update(f"{variable.path} {value.dtype.str} {value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def checkpoint_identity(fingerprint, model, numeric, jit_compile=False):
    """What a checkpoint must match to be resumed: the ``training_fingerprint``, the digest of the
    model's weights as built, the library versions, the dtype policy, XLA and the
    ``settings.NumericSwitches``."""
    from astrotune.training.runtime import dtype_policy, library_versions

    return {"training": fingerprint, "weights_as_built": weights_digest(model), **library_versions(),
            "policy": dtype_policy(), "xla": bool(jit_compile), "numeric": asdict(numeric)}


_WHY = {"training": "it belongs to other settings or data",
        "weights_as_built": "the weights as built differ, frozen ones included (another weights file?)",
        "keras": "another Keras version", "tensorflow": "another TensorFlow version",
        "backend": "another Keras backend", "policy": "another dtype policy", "xla": "another XLA setting",
        "numeric": "other numeric switches (performance)"}


def _mismatch(saved, identity):
    """Why a saved checkpoint's identity differs from ``identity`` (None when it matches)."""
    if not (isinstance(saved, dict) and isinstance(identity, dict)):
        return None if saved == identity else _WHY["training"]
    differs = [key for key in identity if saved.get(key) != identity[key]]
    return "; ".join(_WHY.get(key, key) for key in differs) or None


def load_checkpoint(checkpoint_dir, fingerprint, model):
    """Load the last complete epoch into ``model`` (fresh from ``train.compiled_model``, its optimizer
    built); returns its state.

    ``fingerprint`` is what the checkpoint must match: a ``checkpoint_identity`` (or any JSON value).
    A checkpoint of another training (different identity, or variables that do not fit ``model``)
    is removed and a fresh state returned; the log says why.
    """
    checkpoint_dir = Path(checkpoint_dir)
    state_path = checkpoint_dir / STATE_FILE
    if not state_path.is_file():
        return TrainingState()
    saved = json.loads(state_path.read_text())
    try:
        why = _mismatch(saved.get("fingerprint"), fingerprint)
        if why:
            raise ValueError(why)
        _assign(checkpoint_dir / saved["model_file"], [*changing_weights(model), *model.optimizer.variables])
    except (ValueError, KeyError, OSError) as err:
        log.info("checkpoint in %s not used (%s); starting fresh", checkpoint_dir, err)
        remove_checkpoints(checkpoint_dir)
        return TrainingState()
    state = TrainingState(**saved["state"])
    log.info("resuming after epoch %d from %s", len(state.history), saved["model_file"])
    return state


def save_checkpoint(checkpoint_dir, model, state, fingerprint):
    """Save the weights and optimizer state of the epoch just finished, then point the state file at them."""
    checkpoint_dir = Path(checkpoint_dir)
    model_file = f"epoch_{len(state.history):03d}.npz"
    _save(checkpoint_dir / model_file, [*changing_weights(model), *model.optimizer.variables])
    with atomic_path(checkpoint_dir / STATE_FILE) as tmp:
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "model_file": model_file,
                                   "state": asdict(state)}, indent=1))
    for old in checkpoint_dir.glob("epoch_*.npz"):
        if old.name != model_file:
            old.unlink()


def save_best_weights(checkpoint_dir, model):
    """Keep ``model``'s weights as the best so far (atomically)."""
    _save(Path(checkpoint_dir) / BEST_WEIGHTS, changing_weights(model))


def restore_best_weights(checkpoint_dir, model):
    """Load the best epoch's weights into ``model``."""
    _assign(Path(checkpoint_dir) / BEST_WEIGHTS, changing_weights(model))


def _save(path, variables):
    """Write the values of ``variables``, in order, to an ``.npz`` file atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, *[np.asarray(variable.value) for variable in variables])


def _assign(path, variables):
    """Assign the values saved by ``_save`` to ``variables``.

    Raises:
        ValueError: the file holds another number of values, or values of other shapes.
    """
    with np.load(path) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(variables):
        raise ValueError(f"{path.name} holds {len(values)} variables, the model has {len(variables)}")
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{path.name}: {variable.path} has shape {tuple(variable.shape)}, saved {value.shape}")
    for variable, value in zip(variables, values):
        variable.assign(value)


def remove_checkpoints(checkpoint_dir):
    """Remove a training's checkpoints (after its final outputs are written, or when stale)."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
