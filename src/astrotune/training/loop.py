"""Train one (architecture, trainable layers) model: balanced, augmented, early-stopped, resumable.

The shuffle of epoch ``e`` is drawn from ``(seed, e)`` alone and every epoch is checkpointed
(``checkpoints.py``), so a job killed mid-run resumes from its last complete epoch and ends with
the same numbers as an uninterrupted run. With early stopping on, training stops once validation
loss has not improved for ``patience`` epochs and the model returned is the best epoch's.
"""

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from astrotune import backend
from astrotune.data.balance import balancing_plan
from astrotune.errors import InputError
from astrotune.training.checkpoints import (
    checkpoint_identity,
    load_checkpoint,
    restore_best_weights,
    save_best_weights,
    save_checkpoint,
)
from astrotune.training.compile import compiled_model, reseed_random_layers
from astrotune.training.runtime import configure_accelerators, make_deterministic
from astrotune.training.settings import PerformanceSettings

log = logging.getLogger(__name__)


def epoch_batches(source, onehot, indices, epoch, settings):
    """The shuffled batches of one epoch over ``indices`` (repeats allowed), fixed by (seed, epoch).

    With dihedral augmentation each position's view is drawn from (seed, epoch, position) as the
    cached path draws it (``pipeline.epoch_views``), so both train on the same images.
    ``source`` is a ``pipeline.Rows`` of the images (possibly streamed); only each batch's rows are copied.
    """
    from astrotune.data.pipeline import epoch_dataset, epoch_order, epoch_views
    from astrotune.training.feature_cache import N_VIEWS

    order = epoch_order(indices, settings.seed, epoch)
    views = epoch_views(len(order), settings.seed, epoch, N_VIEWS) if settings.augmentation.dihedral else None
    return epoch_dataset(source, order, onehot, settings.batch_size, views=views)


def cached_training(model, arch, features, used_rows, layers, settings, performance, jit_compile=False):
    """A ``cached.CachedTraining`` on the cache file ``features`` for the rows ``used_rows``, or None
    (full training), and the cache status: ``used``, or why not (also logged).

    Raises:
        InputError: ``performance.require_cache`` is set and the job was given a cache it cannot use.
    """
    from astrotune.training.cached import CachedTraining
    from astrotune.training.feature_cache import cache_key, cache_possible, open_cache

    if not performance.exact.feature_cache:
        return None, "off (performance.feature_cache is false)"
    if features is None:
        return None, "none (no feature cache for this job)"
    possible, reason = cache_possible(arch, settings.augmentation, settings.batchnorm, settings.pretrained)
    try:
        if not possible:
            raise ValueError(reason)
        built_with = settings if features.seed is None else replace(settings, seed=features.seed)
        key = cache_key(features.dataset_sha256, arch, features.layers, built_with, performance.numeric.feature_dtype)
        cached = CachedTraining(model, open_cache(features.path, key), layers, settings,
                                performance.exact.memory_budget_mb, used_rows, jit_compile)
    except ValueError as err:
        if performance.exact.require_cache:
            raise InputError("performance.require_cache",
                             f"feature cache {features.path} refused ({err}); this job would train the full "
                             "model") from err
        log.warning("feature cache %s not used: %s; training the full model", features.path, err)
        return None, f"refused: {err}"
    log.info("training the suffix after base layer %d on cached tensors %s%s%s", cached.split.cut, features.path,
             " (a dihedral view per image per epoch)" if cached.views else "",
             f"; the frozen layers from the cache cut at base layer {cached.cache_cut} ran once"
             if cached.split.cut > cached.cache_cut else "")
    return cached, "used"


def model_summary(model, arch, layers, settings, state):
    """Parameter and layer counts of a trained model and how its training ended, for the tables."""
    from astrotune.models.schedules import ARCHITECTURES
    from astrotune.models.trainable import count_params

    trainable, non_trainable, total = count_params(model)
    return {"arch": arch, "layers": layers, "trainable_params": trainable,
            "non_trainable_params": non_trainable, "total_params": total,
            "total_layers": ARCHITECTURES[arch].n_layers, "weights": settings.weights,
            "reinitialise": settings.reinitialise,
            "epochs": settings.epochs, "epochs_run": len(state.history), "best_epoch": state.best_epoch,
            "restored_best": bool(settings.early_stopping.patience and state.best_epoch),
            "balancing": settings.balancing, "seed": settings.seed, "cache": state.cache,
            "libraries": backend.versions()}


def _improved(state, val_loss, settings):
    return val_loss < state.best_val_loss - settings.early_stopping.min_delta


def _should_stop(state, settings):
    patience = settings.early_stopping.patience
    return bool(patience) and len(state.history) - state.best_epoch >= patience


def train(images, labels, train_rows, val_rows, n_classes, arch, layers, settings, checkpoint_dir,
          fingerprint, features=None, performance=None):
    """Train (or resume) a model on rows of a packed data set.

    Args:
        images, labels: the whole packed data set (N, H, W, 3) uint8 (an array, or a
            ``pipeline.Rows``, which may stream from the file: it is read only if the full model
            trains, and then held in memory under ``performance.exact.memory_budget_mb``) and (N,) int.
        train_rows, val_rows: row indices of the training and validation images; ``val_rows`` None
            validates nothing during training (no early stopping then; the history has no ``val_*``).
        n_classes: number of classes.
        arch, layers: architecture and number of trainable last base layers.
        settings: TrainingSettings.
        checkpoint_dir: where per-epoch checkpoints live.
        fingerprint: ``checkpoints.training_fingerprint`` of this training (a checkpoint must also
            match the model's weights as built, the library versions and the numeric switches).
        features: optional ``features.CacheFile`` (the schedule's feature cache); used when exact.
        performance: ``settings.PerformanceSettings`` (feature cache, memory budget, GPU switches).

    Returns:
        (model, history DataFrame with one row per epoch run, final TrainingState). With early
        stopping the model carries the weights of the best epoch.
    """
    import keras

    from astrotune.data.pipeline import Rows, epoch_dataset, within_budget

    if val_rows is None and settings.early_stopping.patience:
        raise ValueError("early stopping needs validation rows")
    performance = performance or PerformanceSettings()
    jit_compile = configure_accelerators(performance.numeric)
    make_deterministic(settings.seed, ops=not jit_compile)
    indices, class_weight = balancing_plan(train_rows, labels[train_rows], n_classes, settings.balancing,
                                           settings.seed)
    source = images if isinstance(images, Rows) else Rows([images])
    model = compiled_model(arch, layers, n_classes, source.row_shapes()[0], len(indices), settings, jit_compile)
    fingerprint = checkpoint_identity(fingerprint, model, performance.numeric, jit_compile)  # weights as built
    state = load_checkpoint(checkpoint_dir, fingerprint, model)
    onehot = keras.utils.to_categorical(labels, n_classes)
    validated = np.asarray([] if val_rows is None else val_rows, dtype=np.int64)
    cached, state.cache = cached_training(model, arch, features, np.concatenate([indices, validated]), layers,
                                          settings, performance, jit_compile)
    if cached is None:  # images are read only when the model trains on them
        source = within_budget(source, performance.exact.memory_budget_mb)
    if val_rows is None:
        val_data = None
    elif cached is None:
        val_data = epoch_dataset(source, val_rows, onehot, settings.batch_size)
    else:
        val_data = cached.eval_data(val_rows, onehot)
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
        if val_data is not None and _improved(state, metrics["val_loss"], settings):
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
