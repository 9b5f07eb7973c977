"""Train one (architecture, trainable layers) model, resumable from per-epoch checkpoints.

Each finished epoch is checkpointed as ``checkpoint/epoch_NNN.keras`` (weights and optimizer state)
plus ``checkpoint/state.json`` (the history so far and which file holds the state), written
atomically in that order. A job killed mid-run resumes from the last complete epoch. The shuffle of
epoch ``e`` is drawn from ``(seed, e)`` alone, so a resumed run sees the same batches as an
uninterrupted one.
"""

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from astrotune.io import atomic_path

log = logging.getLogger(__name__)
STATE_FILE = "state.json"


@dataclass(frozen=True)
class TrainingSettings:
    """How a model is trained (config section ``training`` plus the seed)."""

    weights: str = "none"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    class_weights: bool = True
    seed: int = 42


def use_threads(n_threads):
    """Limit TensorFlow to the job's threads (call before any TensorFlow op runs)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(n_threads)
    tf.config.threading.set_inter_op_parallelism_threads(n_threads)


def make_deterministic(seed):
    """Seed Python, NumPy and the backend, and ask TensorFlow for deterministic kernels."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def balanced_class_weights(labels, n_classes):
    """Balanced class weights (scikit-learn) for the classes present in ``labels``."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in zip(present, weights)} | {
        c: 1.0 for c in range(n_classes) if c not in present}


def learning_rate(settings, n_train):
    """The configured learning rate: a number, or a cosine decay over every training step.

    The schedule is driven by the optimizer's step counter, which checkpoints save, so a resumed
    job continues the same schedule.
    """
    import keras

    if settings.lr_schedule == "constant":
        return settings.learning_rate
    steps = settings.epochs * math.ceil(n_train / settings.batch_size)
    return keras.optimizers.schedules.CosineDecay(settings.learning_rate, decay_steps=steps)


def compiled_model(arch, layers, n_classes, input_shape, n_train, settings):
    """Build the classifier with its last ``layers`` base layers trainable, compiled with Adam."""
    import keras

    from astrotune.models.trainable import set_trainable_last_layers
    from astrotune.models.zoo import build_classifier

    model, base = build_classifier(arch, n_classes, input_shape, settings.weights)
    set_trainable_last_layers(model, base, layers)
    # XLA compilation of these large graphs costs more than it saves on small data (3x slower on CPU).
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(settings, n_train)),
                  loss="categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    return model


def epoch_batches(images, onehot, epoch, settings):
    """The shuffled batches of one epoch, fixed by (seed, epoch)."""
    import tensorflow as tf

    order = np.random.default_rng([settings.seed, epoch]).permutation(len(images))
    return tf.data.Dataset.from_tensor_slices((images[order], onehot[order])).batch(settings.batch_size)


def save_model(model, path):
    """Save a ``.keras`` model atomically (Keras needs the suffix, so the partial file keeps it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial_{path.name}")
    model.save(partial)
    partial.replace(path)


def model_summary(model, arch, layers, settings):
    """Parameter and layer counts of a trained model, for the paper tables."""
    from astrotune.models.trainable import count_params
    from astrotune.models.zoo import ARCHITECTURES

    trainable, non_trainable, total = count_params(model)
    return {"arch": arch, "layers": layers, "trainable_params": trainable,
            "non_trainable_params": non_trainable, "total_params": total,
            "total_layers": ARCHITECTURES[arch].n_layers, "weights": settings.weights,
            "epochs": settings.epochs, "seed": settings.seed}


def load_checkpoint(checkpoint_dir):
    """The model and history of the last complete epoch, or (None, []) when there is none."""
    from astrotune.models.zoo import load_model

    state_path = Path(checkpoint_dir) / STATE_FILE
    if not state_path.is_file():
        return None, []
    state = json.loads(state_path.read_text())
    model = load_model(Path(checkpoint_dir) / state["model_file"])
    log.info("resuming after epoch %d from %s", len(state["history"]), state["model_file"])
    return model, state["history"]


def save_checkpoint(checkpoint_dir, model, history):
    """Save the model of the epoch just finished, then point the state file at it."""
    checkpoint_dir = Path(checkpoint_dir)
    model_file = f"epoch_{len(history):03d}.keras"
    save_model(model, checkpoint_dir / model_file)
    with atomic_path(checkpoint_dir / STATE_FILE) as tmp:
        tmp.write_text(json.dumps({"model_file": model_file, "history": history}, indent=1))
    for old in checkpoint_dir.glob("epoch_*.keras"):
        if old.name != model_file:
            old.unlink()


def train(train_images, train_labels, val_images, val_labels, n_classes, arch, layers, settings,
          checkpoint_dir):
    """Train (or resume) a model; returns (model, history DataFrame with one row per epoch)."""
    import keras

    make_deterministic(settings.seed)
    model, history = load_checkpoint(checkpoint_dir)
    if model is None:
        model = compiled_model(arch, layers, n_classes, train_images.shape[1:], len(train_images), settings)
    class_weight = balanced_class_weights(train_labels, n_classes) if settings.class_weights else None
    train_onehot = keras.utils.to_categorical(train_labels, n_classes)
    val_data = (val_images, keras.utils.to_categorical(val_labels, n_classes))
    for epoch in range(len(history), settings.epochs):
        keras.utils.set_random_seed(settings.seed + epoch)
        started = time.perf_counter()
        result = model.fit(epoch_batches(train_images, train_onehot, epoch, settings), epochs=1,
                           validation_data=val_data, batch_size=settings.batch_size,
                           class_weight=class_weight, shuffle=False, verbose=2)
        metrics = {name: float(values[-1]) for name, values in result.history.items()}
        history.append({"epoch": epoch + 1, **metrics, "seconds": round(time.perf_counter() - started, 3)})
        save_checkpoint(checkpoint_dir, model, history)
    return model, pd.DataFrame(history)


def finish(checkpoint_dir):
    """Remove the checkpoints once the final outputs are written."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
