"""Per-epoch training checkpoints that resume only the training they belong to.

Each finished epoch is saved as ``epoch_NNN.npz`` (the values of the weights training can change
and of the optimizer's variables, in their order), then ``state.json`` points at it, atomically, in
that order; the weights of the best epoch so far (lowest validation loss) are kept in ``best.npz``.
The model itself is not saved: a resumed job builds it exactly as a fresh one does (same seed,
same weights file, so the same frozen weights) and loads the values into it, which costs a
fraction of a ``.keras`` save per epoch. The state records a fingerprint of everything that
defines the training (data set and split files, architecture, layers, training settings, seed): a
checkpoint whose fingerprint differs, or whose variables do not fit the model, belongs to another
training and is discarded.
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
    """Hash of the data set (its sha256) and split contents, the architecture, the layers and the settings."""
    parts = {"dataset": dataset_sha256, "split": sha256_file(split_path), "arch": arch,
             "layers": int(layers), "settings": asdict(settings)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def load_checkpoint(checkpoint_dir, fingerprint, model):
    """Load the last complete epoch into ``model`` (fresh from ``train.compiled_model``, its optimizer
    built); returns its state.

    A checkpoint of another training (different fingerprint, or variables that do not fit
    ``model``) is removed and a fresh state returned; the log says so.
    """
    checkpoint_dir = Path(checkpoint_dir)
    state_path = checkpoint_dir / STATE_FILE
    if not state_path.is_file():
        return TrainingState()
    saved = json.loads(state_path.read_text())
    try:
        if saved.get("fingerprint") != fingerprint:
            raise ValueError("it belongs to other settings or data")
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
