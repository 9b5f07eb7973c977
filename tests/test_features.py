"""Feature cache: training the suffix on cached tensors ends where full training ends; the dihedral
cache holds the 8 views; a cache of other inputs is refused; random prefixes fall back."""

import logging
from dataclasses import replace

import h5py
import numpy as np
import pandas as pd
import pytest

from astrotune.data.store import PackedDataset, write_dataset
from astrotune.errors import InputError
from astrotune.io import sha256_file
from astrotune.models.augment import AugmentationSettings
from astrotune.training.feature_cache import CacheFile, cache_key, cache_possible, compute_features, open_cache
from astrotune.training.loop import train
from astrotune.training.settings import TrainingSettings

ARCH, N_CLASSES, DEEPEST, LAYERS = "CompactCNN", 3, 9, 5


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, N_CLASSES, 36)
    images = (rng.integers(0, 120, (36, 16, 16, 3)) + 60 * labels[:, None, None, None]).astype("uint8")
    folder = tmp_path_factory.mktemp("features")
    write_dataset(folder / "dataset.h5", PackedDataset(images, labels, np.array([f"o{i}" for i in range(36)], dtype=object),
                                                      np.full(36, np.nan), np.full(36, np.nan), ["A", "B", "C"]))
    return {"images": images, "labels": labels, "train": np.arange(24), "val": np.arange(24, 36), "folder": folder}


def _train(problem, tmp_path, settings, features=None, performance=None):
    return train(problem["images"], problem["labels"], problem["train"], problem["val"], N_CLASSES, ARCH, LAYERS,
                 settings, tmp_path / "checkpoint", "fingerprint", features=features, performance=performance)


# In memory, the frozen layers between the cache cut (9 layers) and the job's cut (5) run once before
# training; under a tiny budget the cache is streamed and those layers run in every epoch.
@pytest.mark.parametrize("budget_mb, log_line", [
    (2048, "the frozen layers from the cache cut at base layer 21 ran once"),
    (0.01, "their output (0 MB) exceeds the in-memory budget")])
def test_cached_training_equals_full_training(problem, tmp_path, caplog, budget_mb, log_line):
    from astrotune.training.settings import ExactSpeedups, PerformanceSettings

    settings = TrainingSettings(epochs=2, batch_size=8, learning_rate=0.01, balancing="class_weights", seed=3)
    dataset = problem["folder"] / "dataset.h5"
    cache = tmp_path / "L9.h5"
    compute_features(dataset, cache, ARCH, DEEPEST, settings)
    with h5py.File(cache, "r") as h5:
        assert h5["tensor_0"].shape[:2] == (1, 36)
    full_model, full_history, _ = _train(problem, tmp_path / "full", settings)
    with caplog.at_level(logging.INFO):
        cached_model, cached_history, _ = _train(problem, tmp_path / "cached", settings,
                                                 CacheFile(str(cache), sha256_file(dataset), DEEPEST),
                                                 PerformanceSettings(ExactSpeedups(memory_budget_mb=budget_mb)))
    assert "training the suffix after base layer" in caplog.text and log_line in caplog.text
    assert list(cached_history.columns) == list(full_history.columns)
    np.testing.assert_array_equal(cached_history["val_accuracy"], full_history["val_accuracy"])
    for column in ("loss", "val_loss"):
        np.testing.assert_allclose(cached_history[column], full_history[column], rtol=1e-4)
    # Adam turns float-rounding differences of near-zero gradients into up to one step (lr 0.01)
    # per update; allow 1/50 of that.
    for full, cached in zip(full_model.weights, cached_model.weights, strict=True):
        np.testing.assert_allclose(cached.numpy(), full.numpy(), rtol=1e-3, atol=2e-4, err_msg=full.path)
    # The trained weights are in the full classifier: it predicts from images as before.
    images = problem["images"][problem["val"]]
    np.testing.assert_allclose(cached_model.predict(images, verbose=0), full_model.predict(images, verbose=0),
                               atol=1e-4)


def test_dihedral_cache_holds_eight_views_and_trains(problem, tmp_path, caplog):
    from astrotune.models.augment import dihedral_views
    from astrotune.models.cut import prefix_outputs
    from astrotune.training.feature_cache import prefix_model

    settings = TrainingSettings(epochs=1, batch_size=8, augmentation=AugmentationSettings(dihedral=True), seed=3)
    dataset = problem["folder"] / "dataset.h5"
    cache = tmp_path / "L9.h5"
    from astrotune.training.settings import NumericSwitches, PerformanceSettings

    compute_features(dataset, cache, ARCH, DEEPEST, settings,
                     PerformanceSettings(numeric=NumericSwitches(feature_dtype="float16")))
    _, split = prefix_model(ARCH, N_CLASSES, (16, 16, 3), DEEPEST, settings)
    with h5py.File(cache, "r") as h5:
        cached = h5["tensor_0"][:, :4]
        assert cached.shape[0] == 8 and cached.dtype == np.float16
    for view, images in enumerate(dihedral_views(problem["images"][:4].astype("float32"))):
        np.testing.assert_allclose(cached[view], prefix_outputs(split.prefix, images)[0], rtol=1e-2, atol=1e-2)

    with caplog.at_level(logging.INFO):
        train(problem["images"], problem["labels"], problem["train"], problem["val"], N_CLASSES, ARCH, LAYERS,
              settings, tmp_path / "checkpoint", "fp", features=CacheFile(str(cache), sha256_file(dataset), DEEPEST),
              performance=PerformanceSettings(numeric=NumericSwitches(feature_dtype="float16")))
    assert "a dihedral view per image per epoch" in caplog.text


def test_cache_of_other_inputs_is_refused_and_random_prefixes_fall_back(problem, tmp_path, caplog):
    settings = TrainingSettings(epochs=1, batch_size=8, seed=3)
    dataset = problem["folder"] / "dataset.h5"
    cache = tmp_path / "L9.h5"
    compute_features(dataset, cache, ARCH, DEEPEST, settings)
    key = cache_key("0" * 64, ARCH, DEEPEST, TrainingSettings(seed=4), "float32")
    with pytest.raises(InputError, match=r"L9.h5: .*differs in: dataset_sha256, seed\)"):
        open_cache(cache, key)
    with pytest.raises(InputError, match=r"differs in: keras\)"):
        open_cache(cache, replace(cache_key(sha256_file(dataset), ARCH, DEEPEST, settings, "float32"), keras="9.9"))
    assert cache_possible("EfficientNetB2", AugmentationSettings())[0] is False
    assert "has Dropout layers in its frozen prefix" in cache_possible("EfficientNetB2", AugmentationSettings())[1]
    assert not cache_possible(ARCH, AugmentationSettings(dihedral=True, zoom=0.1))[0]
    assert cache_possible(ARCH, AugmentationSettings(dihedral=True))[0]
    rotate = TrainingSettings(epochs=1, batch_size=8, augmentation=AugmentationSettings(rotate=True), seed=3)
    with caplog.at_level(logging.INFO):
        _train(problem, tmp_path, rotate, CacheFile(str(cache), sha256_file(dataset), DEEPEST))
    assert "not used: augmentation other than the dihedral group" in caplog.text
    # A cache of another seed's random weights is refused by the key.
    caplog.clear()
    other_seed = TrainingSettings(epochs=1, batch_size=8, seed=4)
    with caplog.at_level(logging.INFO):
        _train(problem, tmp_path / "other", other_seed, CacheFile(str(cache), sha256_file(dataset), DEEPEST))
    assert "differs in: seed" in caplog.text and "training the full model" in caplog.text
    # The key matches but the job's prefix does not (a centre crop before the base): the digest refuses it.
    caplog.clear()
    cropped = TrainingSettings(epochs=1, batch_size=8, seed=3, center_crop=12)
    with caplog.at_level(logging.INFO):
        _train(problem, tmp_path / "cropped", cropped, CacheFile(str(cache), sha256_file(dataset), DEEPEST))
    assert "the model's prefix (layers, weights or Keras version) differs" in caplog.text
    assert "training the full model" in caplog.text


def test_a_run_of_another_seed_shares_the_study_seeds_cache_of_a_pretrained_prefix(problem, tmp_path):
    """``n_seeds``: the cache is computed with the study's seed; a run of another training seed given it
    (``CacheFile.seed``) trains on it when the prefix is loaded weights and ends where its own full training
    ends; a random prefix (weights none) is the seed's own, and the prefix digest refuses the cache."""
    import keras

    from astrotune.models.zoo import build_base

    keras.utils.set_random_seed(0)
    weights = tmp_path / "compact.weights.h5"
    build_base(ARCH, (16, 16, 3), "none").save_weights(weights)
    study = TrainingSettings(weights=str(weights), epochs=2, batch_size=8, learning_rate=0.01, seed=3)
    dataset = problem["folder"] / "dataset.h5"
    compute_features(dataset, tmp_path / "L9.h5", ARCH, DEEPEST, study)
    replicate = replace(study, seed=4)
    _, full_history, _ = _train(problem, tmp_path / "full", replicate)
    _, cached_history, state = _train(problem, tmp_path / "cached", replicate,
                                      CacheFile(str(tmp_path / "L9.h5"), sha256_file(dataset), DEEPEST, seed=3))
    assert state.cache == "used"
    np.testing.assert_array_equal(cached_history["val_accuracy"], full_history["val_accuracy"])
    np.testing.assert_allclose(cached_history["val_loss"], full_history["val_loss"], rtol=1e-4)
    random_prefix = TrainingSettings(epochs=1, batch_size=8, seed=3)
    compute_features(dataset, tmp_path / "random.h5", ARCH, DEEPEST, random_prefix)
    _, _, refused = _train(problem, tmp_path / "random", replace(random_prefix, seed=4),
                           CacheFile(str(tmp_path / "random.h5"), sha256_file(dataset), DEEPEST, seed=3))
    assert refused.cache.startswith("refused: ") and "the model's prefix" in refused.cache


def test_refused_cache_is_recorded_and_fails_the_job_when_required(problem, tmp_path):
    """A cache the job cannot use is named in its state (and so in summary.json and the metrics JSON);
    ``performance.require_cache`` turns the refusal into a failed job."""
    from astrotune.training.settings import ExactSpeedups, PerformanceSettings

    settings = TrainingSettings(epochs=1, batch_size=8, seed=3)
    dataset = problem["folder"] / "dataset.h5"
    cache = tmp_path / "L9.h5"
    compute_features(dataset, cache, ARCH, DEEPEST, settings)
    features = CacheFile(str(cache), sha256_file(dataset), DEEPEST)
    other_seed = replace(settings, seed=4)
    _, _, state = _train(problem, tmp_path / "refused", other_seed, features)
    assert state.cache.startswith("refused: ") and "differs in: seed" in state.cache
    with pytest.raises(InputError, match=r"performance.require_cache: feature cache .*L9.h5 refused \(.*differs in: seed"):
        _train(problem, tmp_path / "required", other_seed, features,
               PerformanceSettings(ExactSpeedups(require_cache=True)))


def test_dataset_is_hashed_once_per_file(problem, tmp_path, monkeypatch):
    import shutil

    import astrotune.jobs.digest as digest

    dataset = tmp_path / "dataset.h5"
    shutil.copy(problem["folder"] / "dataset.h5", dataset)
    hashed = []
    monkeypatch.setattr(digest, "sha256_file", lambda path: hashed.append(path) or sha256_file(path))
    first = digest.dataset_digest(dataset)
    assert first == sha256_file(dataset) and digest.dataset_digest(dataset) == first
    assert len(hashed) == 1 and digest.sidecar_path(dataset).is_file()
    with h5py.File(dataset, "a") as h5:  # packing again writes another file
        h5.attrs["note"] = "repacked"
    assert digest.dataset_digest(dataset) == sha256_file(dataset) != first
    assert len(hashed) == 2


def test_cached_job_reads_images_only_for_what_it_evaluates(problem, tmp_path, monkeypatch):
    """A training job on cached tensors reads the images of its validation and test rows (to predict
    them), never the training images; its summary says the cache was used. Without test-time
    augmentation it predicts each image once (view ``plain`` only)."""
    import json

    import astrotune.data.pipeline as pipeline
    from astrotune.jobs.train import JobOutputs, run_training_job
    from astrotune.training.settings import PerformanceSettings

    settings = TrainingSettings(epochs=1, batch_size=8, seed=3)
    dataset = problem["folder"] / "dataset.h5"
    cache = tmp_path / "L9.h5"
    compute_features(dataset, cache, ARCH, DEEPEST, settings)
    split = tmp_path / "split.csv"
    subsets = ["train"] * 24 + ["val"] * 6 + ["test"] * 6
    split.write_text("id,subset\n" + "".join(f"o{i},{subset}\n" for i, subset in enumerate(subsets)))
    read = []
    real_take = pipeline.Rows.take

    def recording_take(self, rows, views=None):
        if images(self):
            read.extend(np.asarray(rows).tolist())
        return real_take(self, rows, views)

    def images(rows):
        return any(getattr(array, "name", "") == "/images" for array in rows.arrays)

    real_within_budget = pipeline.within_budget
    monkeypatch.setattr(pipeline.Rows, "take", recording_take)
    monkeypatch.setattr(pipeline, "within_budget", lambda rows, *args: pytest.fail("images loaded") if images(rows)
                        else real_within_budget(rows, *args))
    outputs = JobOutputs(*[str(tmp_path / name) for name in ("model.keras", "history.csv", "predictions.csv",
                                                               "summary.json")])
    run_training_job(dataset, split, ARCH, LAYERS, settings, PerformanceSettings(), tmp_path / "checkpoint", outputs,
                     feature_paths=[str(cache)], feature_layers=DEEPEST, test_time_augmentation=False)
    assert sorted(read) == list(range(24, 36))
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert set(predictions["view"]) == {"plain"} and sorted(predictions["subset"].value_counts()) == [6, 6]
    assert json.loads((tmp_path / "summary.json").read_text())["cache"] == "used"


def test_dihedral_training_with_and_without_the_cache_is_the_same(problem, tmp_path):
    """The view of each image in each epoch comes from one (seed, epoch, position) draw on both paths."""
    settings = TrainingSettings(epochs=2, batch_size=8, learning_rate=0.01, balancing="class_weights", seed=3,
                                augmentation=AugmentationSettings(dihedral=True))
    dataset = problem["folder"] / "dataset.h5"
    cache = tmp_path / "L9.h5"
    compute_features(dataset, cache, ARCH, DEEPEST, settings)
    full_model, full_history, full_state = _train(problem, tmp_path / "full", settings)
    cached_model, cached_history, cached_state = _train(problem, tmp_path / "cached", settings,
                                                        CacheFile(str(cache), sha256_file(dataset), DEEPEST))
    assert (full_state.cache, cached_state.cache) == ("none (no feature cache for this job)", "used")
    np.testing.assert_array_equal(cached_history["accuracy"], full_history["accuracy"])
    np.testing.assert_array_equal(cached_history["val_accuracy"], full_history["val_accuracy"])
    for column in ("loss", "val_loss"):
        np.testing.assert_allclose(cached_history[column], full_history[column], rtol=1e-4)
    for full, cached in zip(full_model.weights, cached_model.weights, strict=True):
        np.testing.assert_allclose(cached.numpy(), full.numpy(), rtol=1e-3, atol=2e-4, err_msg=full.path)


def test_library_versions_are_those_keras_reports_and_known_without_keras():
    """The cache rule's ``versions`` parameter (parse time, no Keras import) equals what a job puts in
    its CacheKey, so an upgrade changes the parameter and Snakemake reruns the cache."""
    import subprocess
    import sys

    import keras
    import tensorflow as tf

    from astrotune.training.runtime import library_versions

    assert library_versions() == {"keras": keras.version(), "tensorflow": tf.__version__,
                                  "backend": keras.backend.backend()}
    script = ("import sys; from astrotune.training.runtime import library_versions; v = library_versions(); "
              "assert 'keras' not in sys.modules; print(v)")
    parse_time = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert parse_time.strip() == str(library_versions())
