"""Per-epoch training checkpoints that resume only the training they belong to.

Each finished epoch is saved as ``epoch_NNN.keras`` (weights and optimizer state), then
``state.json`` points at it, atomically, in that order; the weights of the best epoch so far (lowest
validation loss) are kept in ``best.weights.h5``. The state records a fingerprint of everything
that defines the training (data set and split files, architecture, layers, training settings,
seed): a checkpoint whose fingerprint differs belongs to another training and is discarded.
"""

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from astrotune.io import atomic_path, sha256_file

log = logging.getLogger(__name__)
STATE_FILE = "state.json"
BEST_WEIGHTS = "best.weights.h5"


@dataclass
class TrainingState:
    """Progress of one training: per-epoch history and the early-stopping bookkeeping."""

    history: list = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    stopped: bool = False


def training_fingerprint(dataset_path, split_path, arch, layers, settings):
    """Hash of the data set and split contents, the architecture, the layers and the settings."""
    parts = {"dataset": sha256_file(dataset_path), "split": sha256_file(split_path), "arch": arch,
             "layers": int(layers), "settings": asdict(settings)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def load_checkpoint(checkpoint_dir, fingerprint):
    """The model and state of the last complete epoch, or (None, fresh state).

    A checkpoint of another training (different fingerprint) is removed, and the log says so.
    """
    from astrotune.models.zoo import load_model

    checkpoint_dir = Path(checkpoint_dir)
    state_path = checkpoint_dir / STATE_FILE
    if not state_path.is_file():
        return None, TrainingState()
    saved = json.loads(state_path.read_text())
    if saved.get("fingerprint") != fingerprint:
        log.info("checkpoint in %s belongs to other settings or data; starting fresh", checkpoint_dir)
        remove_checkpoints(checkpoint_dir)
        return None, TrainingState()
    model = load_model(checkpoint_dir / saved["model_file"])
    state = TrainingState(**saved["state"])
    log.info("resuming after epoch %d from %s", len(state.history), saved["model_file"])
    return model, state


def save_checkpoint(checkpoint_dir, model, state, fingerprint):
    """Save the model of the epoch just finished, then point the state file at it."""
    from astrotune.models.zoo import save_model

    checkpoint_dir = Path(checkpoint_dir)
    model_file = f"epoch_{len(state.history):03d}.keras"
    save_model(model, checkpoint_dir / model_file)
    with atomic_path(checkpoint_dir / STATE_FILE) as tmp:
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "model_file": model_file,
                                   "state": asdict(state)}, indent=1))
    for old in checkpoint_dir.glob("epoch_*.keras"):
        if old.name != model_file:
            old.unlink()


def save_best_weights(checkpoint_dir, model):
    """Keep ``model``'s weights as the best so far (atomically; Keras needs the .weights.h5 suffix)."""
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    partial = checkpoint_dir / f"partial_{BEST_WEIGHTS}"
    model.save_weights(partial)
    partial.replace(checkpoint_dir / BEST_WEIGHTS)


def restore_best_weights(checkpoint_dir, model):
    """Load the best epoch's weights into ``model``."""
    model.load_weights(Path(checkpoint_dir) / BEST_WEIGHTS)


def remove_checkpoints(checkpoint_dir):
    """Remove a training's checkpoints (after its final outputs are written, or when stale)."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
