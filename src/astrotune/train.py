"""Train one (architecture, trainable layers) model: balanced, augmented, early-stopped, resumable.

The shuffle of epoch ``e`` is drawn from ``(seed, e)`` alone and every epoch is checkpointed
(``checkpoints.py``), so a job killed mid-run resumes from its last complete epoch and ends with
the same numbers as an uninterrupted run. With early stopping on, training stops once validation
loss has not improved for ``patience`` epochs and the model returned is the best epoch's.
"""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from astrotune.checkpoints import (load_checkpoint, restore_best_weights, save_best_weights,
                                   save_checkpoint)
from astrotune.data.balance import balancing_plan
from astrotune.models.augment import AugmentationSettings
from astrotune.models.heads import HeadSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlyStopping:
    """Config section ``training.early_stopping``: stop when validation loss has not improved by
    more than ``min_delta`` for ``patience`` epochs (0: off), then restore the best epoch."""

    patience: int = 0
    min_delta: float = 0.0


@dataclass(frozen=True)
class TrainingSettings:
    """How a model is trained (config section ``training`` plus the seed)."""

    weights: str = "none"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    center_crop: int = 0
    lr_min: float = 0.0
    lr_decay_rate: float = 0.96
    lr_decay_steps: int | None = None
    optimizer: str = "adam"
    weight_decay: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    balancing: str = "class_weights"
    augmentation: AugmentationSettings = field(default_factory=AugmentationSettings)
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    head: HeadSettings = field(default_factory=HeadSettings)
    reinitialise: bool = False
    tensorboard: bool = False
    seed: int = 42

    @classmethod
    def from_config(cls, section, seed):
        """Settings from the validated ``training`` config section and the study's seed."""
        section = dict(section)
        return cls(**section | {"augmentation": AugmentationSettings(**section.get("augmentation", {})),
                                "early_stopping": EarlyStopping(**section.get("early_stopping", {})),
                                "head": HeadSettings.from_config(section.get("head")),
                                "seed": seed})


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


def compiled_model(arch, layers, n_classes, input_shape, n_train, settings, jit_compile=False):
    """Build the classifier with its last ``layers`` base layers trainable (re-initialised when
    ``settings.reinitialise``), compiled with the configured optimizer and schedule (``optim.py``)."""
    from astrotune.models.augment import augmentation_block
    from astrotune.models.trainable import set_trainable_last_layers
    from astrotune.models.zoo import build_classifier
    from astrotune.optim import build_optimizer

    augmentation = augmentation_block(settings.augmentation, settings.seed)
    model, base = build_classifier(arch, n_classes, input_shape, settings.weights, augmentation, settings.head,
                                   reinitialise=layers if settings.reinitialise else 0,
                                   center_crop=settings.center_crop)
    set_trainable_last_layers(model, base, layers)
    # XLA compilation of these large graphs costs more than it saves on small data (3x slower on CPU);
    # performance.xla turns it on for GPU runs.
    compile_classifier(model, build_optimizer(settings, n_train), jit_compile)
    return model


def compile_classifier(model, optimizer, jit_compile=False):
    """Compile for training with categorical cross-entropy and accuracy, and build the optimizer on
    ``model``'s trainable variables unless it is built (a suffix shares its classifier's).

    The accuracy metric and the optimizer's variables are created here, eagerly: Keras would create
    them inside the first traced training step, and tf.function then traces the whole step a second
    time (the first epoch of a DenseNet121 suffix of 45 layers at 512 px: 7.4 s with it, 4.5 s without).
    """
    import keras

    model.compile(optimizer=optimizer, loss="categorical_crossentropy",
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], jit_compile=jit_compile)
    if not optimizer.built:
        optimizer.build(model.trainable_variables)


def reseed_random_layers(model, seed, epoch):
    """Set every random layer's generator (augmentation, dropout) from (seed, epoch, layer).

    Keras does not save seed generator states with a model, so without this a resumed job would
    augment differently from an uninterrupted one.
    """
    import keras

    from astrotune.models.trainable import layers_within

    for index, layer in enumerate(layers_within(model)):
        for generator in [value for value in vars(layer).values() if isinstance(value, keras.random.SeedGenerator)]:
            value = int(np.random.default_rng([seed, epoch, index]).integers(2**31))
            generator.state.assign(np.array([value, 0], dtype=generator.state.dtype))


def epoch_batches(source, onehot, indices, epoch, settings):
    """The shuffled batches of one epoch over ``indices`` (repeats allowed), fixed by (seed, epoch).

    ``source`` is a ``pipeline.Rows`` of the images (possibly streamed); only each batch's rows are copied.
    """
    from astrotune.data.pipeline import epoch_dataset, epoch_order

    return epoch_dataset(source, epoch_order(indices, settings.seed, epoch), onehot, settings.batch_size)


def cached_training(model, arch, features, used_rows, layers, settings, performance):
    """A ``features.CachedTraining`` on the cache file ``features`` for the rows ``used_rows``, or
    None (full training; the log says why)."""
    from astrotune.features import CacheKey, CachedTraining, cache_possible, open_cache

    if not performance.feature_cache or features is None:
        return None
    possible, reason = cache_possible(arch, settings.augmentation)
    if not possible:
        log.info("feature cache off: %s; training the full model", reason)
        return None
    key = CacheKey(features.dataset_sha256, arch, features.layers, settings.weights, settings.seed,
                   settings.augmentation.dihedral_only, performance.feature_dtype)
    try:
        cached = CachedTraining(model, open_cache(features.path, key), layers, settings,
                                performance.memory_budget_mb, used_rows)
    except ValueError as err:
        log.info("feature cache %s not used: %s; training the full model", features.path, err)
        return None
    log.info("training the suffix after base layer %d on cached tensors %s%s%s", cached.split.cut, features.path,
             " (a dihedral view per image per epoch)" if cached.views else "",
             f"; the frozen layers from the cache cut at base layer {cached.cache_cut} ran once"
             if cached.split.cut > cached.cache_cut else "")
    return cached


def model_summary(model, arch, layers, settings, state):
    """Parameter and layer counts of a trained model and how its training ended, for the tables."""
    from astrotune.models.trainable import count_params
    from astrotune.models.zoo import ARCHITECTURES

    trainable, non_trainable, total = count_params(model)
    return {"arch": arch, "layers": layers, "trainable_params": trainable,
            "non_trainable_params": non_trainable, "total_params": total,
            "total_layers": ARCHITECTURES[arch].n_layers, "weights": settings.weights,
            "reinitialise": settings.reinitialise,
            "epochs": settings.epochs, "epochs_run": len(state.history), "best_epoch": state.best_epoch,
            "restored_best": bool(settings.early_stopping.patience and state.best_epoch),
            "balancing": settings.balancing, "seed": settings.seed}


def _improved(state, val_loss, settings):
    return val_loss < state.best_val_loss - settings.early_stopping.min_delta


def _should_stop(state, settings):
    patience = settings.early_stopping.patience
    return bool(patience) and len(state.history) - state.best_epoch >= patience


def train(images, labels, train_rows, val_rows, n_classes, arch, layers, settings, checkpoint_dir,
          fingerprint, features=None, performance=None):
    """Train (or resume) a model on rows of a packed data set.

    Args:
        images, labels: the whole packed data set (N, H, W, 3) uint8 and (N,) int.
        train_rows, val_rows: row indices of the training and validation images.
        n_classes: number of classes.
        arch, layers: architecture and number of trainable last base layers.
        settings: TrainingSettings.
        checkpoint_dir: where per-epoch checkpoints live.
        fingerprint: ``checkpoints.training_fingerprint`` of this training.
        features: optional ``features.CacheFile`` (the schedule's feature cache); used when exact.
        performance: ``pipeline.PerformanceSettings`` (feature cache, memory budget, GPU switches).

    Returns:
        (model, history DataFrame with one row per epoch run, final TrainingState). With early
        stopping the model carries the weights of the best epoch.
    """
    import keras

    from astrotune.data.pipeline import PerformanceSettings, Rows, configure_accelerators, epoch_dataset

    performance = performance or PerformanceSettings()
    jit_compile = configure_accelerators(performance)
    make_deterministic(settings.seed)
    indices, class_weight = balancing_plan(train_rows, labels[train_rows], n_classes, settings.balancing,
                                           settings.seed)
    source = images if isinstance(images, Rows) else Rows([images])
    model = compiled_model(arch, layers, n_classes, source.row_shapes()[0], len(indices), settings, jit_compile)
    state = load_checkpoint(checkpoint_dir, fingerprint, model)
    onehot = keras.utils.to_categorical(labels, n_classes)
    cached = cached_training(model, arch, features, np.concatenate([indices, val_rows]), layers, settings,
                             performance)
    val_data = (epoch_dataset(source, val_rows, onehot, settings.batch_size) if cached is None
                else cached.eval_data(val_rows, onehot))
    callbacks = ([keras.callbacks.TensorBoard(str(Path(checkpoint_dir).parent / "tensorboard"))]
                 if settings.tensorboard else [])
    for epoch in range(len(state.history), settings.epochs):
        if state.stopped:
            break
        # Only the random layers' generators are reseeded per epoch: changing TensorFlow's global seed
        # (keras.utils.set_random_seed) makes tf.function retrace the training and validation steps: a
        # DenseNet121 epoch on 12 images of 32 px took 4.1 s with the retrace, 0.19 s without.
        reseed_random_layers(model, settings.seed, epoch)
        started = time.perf_counter()
        fitted, data = ((model, epoch_batches(source, onehot, indices, epoch, settings)) if cached is None
                        else (cached.suffix, cached.epoch_data(indices, onehot, epoch)))
        result = fitted.fit(data, initial_epoch=epoch, epochs=epoch + 1, validation_data=val_data,
                            class_weight=class_weight, shuffle=False, verbose=2, callbacks=callbacks)
        metrics = {name: float(values[-1]) for name, values in result.history.items()}
        state.history.append({"epoch": epoch + 1, **metrics, "seconds": round(time.perf_counter() - started, 3)})
        if _improved(state, metrics["val_loss"], settings):
            state.best_epoch, state.best_val_loss = epoch + 1, metrics["val_loss"]
            if settings.early_stopping.patience:
                save_best_weights(checkpoint_dir, model)
        state.stopped = _should_stop(state, settings)
        if state.stopped:
            log.info("early stopping after epoch %d: best validation loss %.4f at epoch %d",
                     epoch + 1, state.best_val_loss, state.best_epoch)
        save_checkpoint(checkpoint_dir, model, state, fingerprint)
    if settings.early_stopping.patience and state.best_epoch:
        restore_best_weights(checkpoint_dir, model)
        log.info("restored the weights of epoch %d (validation loss %.4f)", state.best_epoch, state.best_val_loss)
    return model, pd.DataFrame(state.history), state
