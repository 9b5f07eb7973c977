"""Trainable-layer schedules: frozen fractions, from scratch, re-initialisation, config parsing."""

import numpy as np
import pytest

from astrotune.models.schedules import architecture_steps, layers_for_fraction
from astrotune.models.trainable import set_trainable_last_layers
from astrotune.models.zoo import build_base, build_classifier

FRACTIONS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_layers_for_fraction_rounds_half_up():
    assert [layers_for_fraction(f, 428) for f in FRACTIONS] == [428, 342, 257, 171, 86, 0]
    assert [layers_for_fraction(f, 15) for f in FRACTIONS] == [15, 12, 9, 6, 3, 0]
    with pytest.raises(ValueError):
        layers_for_fraction(1.2, 10)


def test_steps_from_the_config_forms():
    training = {"weights": "imagenet", "head": {"dense": [8]}}
    legacy = architecture_steps("VGG16", [0, 3], training)
    assert [(s.layers, s.schedule, s.weights, s.reinitialise) for s in legacy] == [(0, "L0", "imagenet", False),
                                                                                   (3, "L3", "imagenet", False)]
    steps = architecture_steps("VGG11", {"frozen_fractions": [0.2, 1.0], "reinitialise": True,
                                         "head": {"cbam": True}}, training)
    # with a CBAM head the base has no pooling layer: 14 layers
    assert [(s.layers, s.schedule) for s in steps] == [(11, "frozen 20%"), (0, "frozen 100%")]
    assert steps[0].head == {"dense": [8], "cbam": True}
    scratch = architecture_steps("AvgPoolCNN", {"from_scratch": True}, training)
    assert [(s.layers, s.weights) for s in scratch] == [(19, "none")]
    assert scratch[0].training_section({"epochs": 3})["weights"] == "none"


@pytest.mark.parametrize("entry, message", [
    ({"layers": [15], "from_scratch": True}, "both train the last 15 layers"),
    ({"layers": [16]}, "has 15 layers"),
    ({"weights": "none"}, "no layers, blocks, frozen_fractions or from_scratch"),
])
def test_bad_schedules_name_the_architecture(entry, message):
    with pytest.raises(ValueError, match=message):
        architecture_steps("VGG11", entry, {"weights": "none"})


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_frozen_fraction_trains_and_reinitialises_the_last_layers(fraction, tmp_path):
    """Per fraction: the first layers keep the loaded weights and are frozen, the rest train from
    a fresh random initialisation."""
    import keras

    keras.utils.set_random_seed(1)
    pretrained = build_base("VGG11", (32, 32, 3), "none")
    weights_file = tmp_path / "pretrained.weights.h5"
    pretrained.save_weights(weights_file)
    n_layers = len(pretrained.layers)
    n = layers_for_fraction(fraction, n_layers)
    keras.utils.set_random_seed(2)
    model, base = build_classifier("VGG11", 4, (32, 32, 3), str(weights_file), reinitialise=n)
    set_trainable_last_layers(model, base, n)
    for index, (layer, loaded) in enumerate(zip(base.layers, pretrained.layers)):
        trained = index >= n_layers - n
        assert layer.trainable == trained
        if layer.weights:
            assert _same(layer.get_weights(), loaded.get_weights()) != trained, layer.name
    assert model.get_layer("predictions").trainable


def test_frozen_layers_keep_and_reinitialised_layers_learn_batchnorm_statistics(tmp_path):
    """With the last 6 AvgPoolCNN layers (block 4) re-initialised and trained, a training step moves
    their BatchNorm statistics and leaves the frozen block 1's loaded ones alone."""
    weights_file = tmp_path / "base.weights.h5"
    build_base("AvgPoolCNN", (32, 32, 3), "none").save_weights(weights_file)
    model, base = build_classifier("AvgPoolCNN", 3, (32, 32, 3), str(weights_file), reinitialise=6)
    set_trainable_last_layers(model, base, 6)
    frozen, trained = base.get_layer("block1_conv1_bn"), base.get_layer("block4_conv1_bn")
    before = [layer.moving_mean.numpy().copy() for layer in (frozen, trained)]
    model(np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("float32"), training=True)
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), before[0])
    assert not np.allclose(trained.moving_mean.numpy(), before[1])
