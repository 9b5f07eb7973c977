"""``training.batchnorm``: a pretrained base in ``frozen`` mode runs in inference mode inside ``fit``
(moving statistics kept, Dropout off, gamma/beta still trained), in ``train`` mode it follows ``fit``;
the counts do not depend on the mode; a frozen EfficientNet prefix is cacheable; the cut and the
saved model handle the wrapper."""

from dataclasses import replace

import numpy as np
import pytest

from astrotune.models.augment import AugmentationSettings
from astrotune.training.settings import TrainingSettings

SIDE, N_CLASSES, LAYERS = 32, 3, 9


def _pretrained_weights(arch, path):
    """A weights file for ``arch``'s base with non-trivial BatchNorm moving statistics, standing in
    for ImageNet weights (a file makes the base pretrained: called in the mode training.batchnorm says)."""
    import keras

    from astrotune.models.zoo import build_base

    keras.utils.set_random_seed(0)
    base = build_base(arch, (SIDE, SIDE, 3), "none")
    rng = np.random.default_rng(0)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.5, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    base.save_weights(path)
    return str(path)


@pytest.fixture(scope="module")
def compact_weights(tmp_path_factory):
    return _pretrained_weights("CompactCNN", tmp_path_factory.mktemp("weights") / "compact.weights.h5")


def _batchnorm_values(base):
    import keras

    return {layer.name: {weight.path.split("/")[-1]: weight.numpy().copy() for weight in layer.weights}
            for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)}


def _fit_one_step(mode, weights):
    """The CompactCNN classifier (last LAYERS base layers trainable) and its BatchNorm values before and
    after one training step."""
    from astrotune.models.cut import find_base
    from astrotune.training.compile import compiled_model
    from astrotune.training.runtime import make_deterministic

    settings = TrainingSettings(weights=weights, batchnorm=mode, learning_rate=0.05, seed=1)
    make_deterministic(1)
    model = compiled_model("CompactCNN", LAYERS, N_CLASSES, (SIDE, SIDE, 3), 8, settings)
    base = find_base(model)
    before = _batchnorm_values(base)
    rng = np.random.default_rng(1)
    model.fit(rng.uniform(0, 255, (8, SIDE, SIDE, 3)).astype("float32"), np.eye(N_CLASSES)[rng.integers(0, 3, 8)],
              batch_size=8, epochs=1, verbose=0)
    return model, base, before, _batchnorm_values(base)


def _trainable_batchnorm(base):
    return [layer.name for layer in base.layers[len(base.layers) - LAYERS:] if layer.name in _batchnorm_values(base)]


@pytest.mark.parametrize("mode", ["frozen", "train"])
def test_moving_statistics_of_trainable_batchnorm_follow_the_mode(mode, compact_weights):
    model, base, before, after = _fit_one_step(mode, compact_weights)
    trainable = _trainable_batchnorm(base)
    assert trainable, "the last layers hold BatchNorm layers"
    for name in before:
        moved = {key: not np.array_equal(before[name][key], after[name][key]) for key in before[name]}
        if name in trainable:
            assert moved["gamma"] and moved["beta"], name  # gamma and beta train in both modes
            assert moved["moving_mean"] == moved["moving_variance"] == (mode == "train"), (name, moved)
        else:
            assert not any(moved.values()), (name, moved)  # frozen layers keep everything


def test_counts_do_not_depend_on_the_mode(compact_weights):
    from astrotune.models.trainable import count_params

    frozen, frozen_base, _, _ = _fit_one_step("frozen", compact_weights)
    train, train_base, _, _ = _fit_one_step("train", compact_weights)
    assert count_params(frozen) == count_params(train)
    assert len(frozen_base.layers) == len(train_base.layers)
    assert len(frozen.trainable_weights) == len(train.trainable_weights)


def test_frozen_efficientnet_has_no_active_dropout_and_its_prefix_is_cacheable(tmp_path):
    """EfficientNetB2's Dropout is off in every block in frozen mode, so its prefix is deterministic
    and cacheable; in train mode a forward pass in training differs from inference."""
    from astrotune.models.cut import prefix_is_deterministic, split_classifier
    from astrotune.models.trainable import set_trainable_last_layers
    from astrotune.models.zoo import build_classifier
    from astrotune.training.feature_cache import cache_possible

    weights = _pretrained_weights("EfficientNetB2", tmp_path / "b2.weights.h5")
    images = np.random.default_rng(2).uniform(0, 255, (4, SIDE, SIDE, 3)).astype("float32")
    for mode in ("frozen", "train"):
        model, base = build_classifier("EfficientNetB2", N_CLASSES, (SIDE, SIDE, 3), weights, batchnorm=mode)
        set_trainable_last_layers(model, base, 10)
        training, inference = model(images, training=True).numpy(), model(images, training=False).numpy()
        cut = len(base.layers) - 10
        assert prefix_is_deterministic(model, cut) == (mode == "frozen")
        assert cache_possible("EfficientNetB2", AugmentationSettings(), mode, pretrained=True)[0] == (mode == "frozen")
        if mode == "frozen":
            np.testing.assert_array_equal(training, inference)
            split = split_classifier(model, cut)
            suffix_training = split.suffix(split.prefix(images, training=False), training=True).numpy()
            np.testing.assert_allclose(suffix_training, inference, atol=1e-5)
        else:
            assert np.abs(training - inference).max() > 1e-4
    assert not cache_possible("EfficientNetB2", AugmentationSettings(), "frozen", pretrained=False)[0]


def test_frozen_mode_cached_training_equals_full_training_and_saves_a_plain_model(compact_weights, tmp_path):
    import h5py

    from astrotune.data.store import PackedDataset, write_dataset
    from astrotune.io import sha256_file
    from astrotune.models.cut import base_in_inference_mode, unwrapped_classifier
    from astrotune.models.zoo import load_model, save_model
    from astrotune.training.feature_cache import CacheFile, compute_features
    from astrotune.training.loop import train

    rng = np.random.default_rng(3)
    labels = rng.integers(0, N_CLASSES, 24)
    images = (rng.integers(0, 120, (24, SIDE, SIDE, 3)) + 60 * labels[:, None, None, None]).astype("uint8")
    dataset = tmp_path / "dataset.h5"
    write_dataset(dataset, PackedDataset(images, labels, np.array([f"o{i}" for i in range(24)], dtype=object),
                                         np.full(24, np.nan), np.full(24, np.nan), ["A", "B", "C"]))
    settings = TrainingSettings(weights=compact_weights, epochs=2, batch_size=8, learning_rate=0.01, seed=3)
    compute_features(dataset, tmp_path / "cache.h5", "CompactCNN", LAYERS, settings)
    with h5py.File(tmp_path / "cache.h5") as h5:
        cut = int(h5.attrs["cut"])
    runs = {}
    for name, features in (("full", None), ("cached", CacheFile(str(tmp_path / "cache.h5"), sha256_file(dataset), LAYERS))):
        runs[name] = train(images, labels, np.arange(16), np.arange(16, 24), N_CLASSES, "CompactCNN", 5,
                           settings, tmp_path / name, "fp", features=features)
    assert runs["cached"][2].cache == "used" and cut > 0
    np.testing.assert_allclose(runs["cached"][1]["val_loss"], runs["full"][1]["val_loss"], rtol=1e-4)
    for full, cached in zip(runs["full"][0].weights, runs["cached"][0].weights, strict=True):
        np.testing.assert_allclose(cached.numpy(), full.numpy(), rtol=1e-3, atol=2e-4, err_msg=full.path)
    model = runs["full"][0]
    assert base_in_inference_mode(model)
    # Saved with the wrapper it loads (registered layer); the job saves the plain layout.
    save_model(model, tmp_path / "wrapped.keras")
    plain = unwrapped_classifier(model)
    assert not base_in_inference_mode(plain)
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(load_model(tmp_path / "wrapped.keras").predict(images, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(plain.predict(images, verbose=0), expected, atol=1e-6)


def test_settings_default_to_frozen():
    assert TrainingSettings().batchnorm == "frozen"
    assert replace(TrainingSettings(), batchnorm="train").batchnorm == "train"
