"""Mixed precision (``mixed_float16``), tested on the CPU by setting the policy directly (Keras runs
float16 there): a cached job uses its cache, resumes after a SIGKILL from its checkpoint and ends
with the history of an uninterrupted run; the softmax is float32; the cache job and the training
job build under the same policy, and ``performance.xla`` reaches the cached path."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from astrotune.data.store import PackedDataset, write_dataset
from astrotune.io import sha256_file
from astrotune.models.augment import AugmentationSettings
from astrotune.training.checkpoints import STATE_FILE
from astrotune.training.feature_cache import CacheFile, compute_features
from astrotune.training.loop import train
from astrotune.training.settings import NumericSwitches, PerformanceSettings, TrainingSettings

ARCH, N_CLASSES, DEEPEST, LAYERS = "CompactCNN", 3, 9, 5
SETTINGS = TrainingSettings(epochs=3, batch_size=8, learning_rate=0.01, seed=5,
                            augmentation=AugmentationSettings(dihedral=True))


@pytest.fixture(scope="module")
def mixed_policy():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, N_CLASSES, 36)
    images = (rng.integers(0, 120, (36, 16, 16, 3)) + 60 * labels[:, None, None, None]).astype("uint8")
    folder = tmp_path_factory.mktemp("mixed")
    write_dataset(folder / "dataset.h5", PackedDataset(images, labels, np.array([f"o{i}" for i in range(36)], dtype=object),
                                                      np.full(36, np.nan), np.full(36, np.nan), ["A", "B", "C"]))
    return {"images": images, "labels": labels, "folder": folder}


def run(folder, checkpoint, performance=None):
    """The cached training job of this module on the packed data set in ``folder``."""
    from astrotune.data.store import read_dataset

    data = read_dataset(f"{folder}/dataset.h5")
    cache = CacheFile(f"{folder}/L{DEEPEST}.h5", sha256_file(f"{folder}/dataset.h5"), DEEPEST)
    return train(data.images, data.labels, np.arange(24), np.arange(24, 36), N_CLASSES, ARCH, LAYERS, SETTINGS,
                 checkpoint, "fingerprint", features=cache, performance=performance)


@pytest.fixture(scope="module")
def uninterrupted(mixed_policy, problem, tmp_path_factory):
    folder = problem["folder"]
    compute_features(folder / "dataset.h5", folder / f"L{DEEPEST}.h5", ARCH, DEEPEST, SETTINGS)
    return run(folder, tmp_path_factory.mktemp("uninterrupted") / "checkpoint")


CHILD = textwrap.dedent("""
    import os, signal, sys
    import keras
    keras.mixed_precision.set_global_policy("mixed_float16")
    sys.path.insert(0, {tests!r})
    import test_mixed_precision
    import astrotune.training.loop as loop

    real_save = loop.save_checkpoint
    def save_then_die(checkpoint_dir, model, state, fingerprint):
        real_save(checkpoint_dir, model, state, fingerprint)
        os.kill(os.getpid(), signal.SIGKILL)
    loop.save_checkpoint = save_then_die
    test_mixed_precision.run({folder!r}, {checkpoint!r})
""")


def test_cached_mixed_precision_job_resumes_after_sigkill(uninterrupted, problem, tmp_path, caplog):
    import keras

    model, history, state = uninterrupted
    assert state.cache == "used"
    assert keras.config.dtype_policy().name == "mixed_float16"
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert model.get_layer("predictions").dtype_policy.compute_dtype == "float32"
    assert model.output.dtype == "float32" and model.predict(problem["images"][:4], verbose=0).dtype == np.float32

    checkpoint = tmp_path / "checkpoint"
    script = CHILD.format(tests=os.path.dirname(__file__), folder=str(problem["folder"]), checkpoint=str(checkpoint))
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert len(json.loads((checkpoint / STATE_FILE).read_text())["state"]["history"]) == 1
    with caplog.at_level(logging.INFO):
        resumed_model, resumed, resumed_state = run(problem["folder"], checkpoint)
    assert "resuming after epoch 1" in caplog.text and "starting fresh" not in caplog.text
    assert resumed_state.cache == "used"
    assert resumed.drop(columns="seconds").equals(history.drop(columns="seconds"))
    for got, expected in zip(resumed_model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_cache_job_and_training_job_apply_the_same_precision_and_xla_reaches_the_cached_path(
        problem, tmp_path, monkeypatch):
    """With a GPU (the device check alone is replaced), ``performance.mixed_precision`` is applied by
    the cache job and the training job alike, so the training job's prefix matches the cache's
    digest; ``performance.xla`` compiles the suffix the cached path trains."""
    import keras
    import tensorflow as tf

    import astrotune.training.cached
    import astrotune.training.runtime

    monkeypatch.setattr(astrotune.training.runtime, "gpu_present", lambda: True)
    suffixes = []
    real_compile = astrotune.training.cached.compile_classifier
    monkeypatch.setattr(astrotune.training.cached, "compile_classifier",
                        lambda model, optimizer, jit_compile=False: suffixes.append(model)
                        or real_compile(model, optimizer, jit_compile))
    performance = PerformanceSettings(numeric=NumericSwitches(mixed_precision=True, xla=True))
    folder = tmp_path
    write_dataset(folder / "dataset.h5", PackedDataset(problem["images"], problem["labels"],
                                                      np.array([f"o{i}" for i in range(36)], dtype=object),
                                                      np.full(36, np.nan), np.full(36, np.nan), ["A", "B", "C"]))
    previous = keras.config.dtype_policy()
    try:
        keras.mixed_precision.set_global_policy("float32")  # a fresh cache job
        compute_features(folder / "dataset.h5", folder / f"L{DEEPEST}.h5", ARCH, DEEPEST, SETTINGS, performance)
        keras.mixed_precision.set_global_policy("float32")  # a fresh training job
        model, _, state = run(folder, tmp_path / "checkpoint", performance)
    finally:
        keras.mixed_precision.set_global_policy(previous)
        tf.config.experimental.enable_op_determinism()  # XLA turned it off; the other tests need it
    assert state.cache == "used"
    assert model.dtype_policy.name == "mixed_float16"
    assert [suffix.jit_compile for suffix in suffixes] == [True]


def test_cached_mixed_precision_steps_are_traced_once(uninterrupted, problem, tmp_path, monkeypatch):
    """The LossScaleOptimizer's variables exist before the first step (created inside it, they make
    tf.function trace the step twice)."""
    import astrotune.training.cached as cached

    traced = []

    class Counting(cached.CachedTraining):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name in ("train_step", "test_step"):
                step = getattr(self.suffix, name)
                setattr(self.suffix, name, lambda data, step=step, name=name: traced.append(name) or step(data))

    monkeypatch.setattr(cached, "CachedTraining", Counting)
    _, history, state = run(problem["folder"], tmp_path / "checkpoint")
    assert state.cache == "used" and len(history) == SETTINGS.epochs
    assert traced == ["train_step", "test_step"]
