"""Blocks of a base: the derivation from layer names (the static table against every architecture's
build is checked in test_models.py), ``blocks`` steps and their errors, the per-block learning-rate
factors."""

import pytest

from astrotune.models.heads import HeadSettings
from astrotune.models.schedules import BLOCK_STARTS, architecture_steps, block_starts

keras = pytest.importorskip("keras")

from astrotune.models.blocks import block_first_layers, block_lr_factors, derive_block_starts  # noqa: E402
from astrotune.models.zoo import build_base, build_classifier  # noqa: E402


def test_block_table_shifts_by_one_without_the_pooling_layer():
    base = build_base("VGG16", (32, 32, 3), "none", pooling=None)
    assert derive_block_starts("VGG16", base) == block_starts("VGG16", HeadSettings(cbam=True)) == (4, 8, 12, 15, 19)
    assert block_starts("VGG16") == BLOCK_STARTS["VGG16"] == (5, 9, 13, 16, 20)


def test_a_rule_that_no_longer_fits_the_build_fails():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, name="block1_conv1")(inputs)
    x = keras.layers.Conv2D(2, 3, name="block2_conv1")(x)
    x = keras.layers.Conv2D(2, 3, name="block1_conv2")(x)
    with pytest.raises(ValueError, match="block block1 of .* are not consecutive"):
        block_first_layers("VGG11", keras.Model(inputs, x))
    with pytest.raises(ValueError, match="no layer of .* is named like a block"):
        block_first_layers("ResNet50", keras.Model(inputs, x))


def test_blocks_steps_train_the_layers_of_the_top_blocks():
    steps = architecture_steps("ResNet50", {"blocks": [0, 1, 2, 17], "layers": [3]}, {"weights": "imagenet"})
    assert [(s.layers, s.schedule) for s in steps] == [(3, "L3"), (0, "blocks 0"), (11, "blocks 1"),
                                                       (21, "blocks 2"), (176, "blocks 17")]
    cbam = architecture_steps("VGG16", {"blocks": [1, 5], "head": {"cbam": True}}, {"weights": "none"})
    assert [s.layers for s in cbam] == [4, 19]


@pytest.mark.parametrize("entry, message", [
    ({"blocks": [6]}, r"architectures.VGG16.blocks: 6 blocks requested but VGG16 has 5 blocks \(allowed 0..5\)"),
    ({"blocks": [1.5]}, "1.5 blocks requested"),
    ({"blocks": [1], "layers": [5]}, "L5 and blocks 1 both train the last 5 layers and would write the same L5"),
    ({"blocks": [5], "from_scratch": True}, "blocks 5 and scratch both train the last 20 layers"),
])
def test_bad_blocks_name_the_architecture(entry, message):
    with pytest.raises(ValueError, match=message):
        architecture_steps("VGG16", entry, {"weights": "none"})


def test_learning_rate_factors_decay_per_block_below_the_head():
    model, base = build_classifier("VGG11", 3, (32, 32, 3), "none", head=HeadSettings(dense=[4]))
    factors = dict(zip((variable.path for variable in model.trainable_variables),
                       block_lr_factors(model, base, "VGG11", 0.5)))
    assert {path: factor for path, factor in factors.items() if "conv" not in path} == {
        "head_dense1/kernel": 1.0, "head_dense1/bias": 1.0, "predictions/kernel": 1.0, "predictions/bias": 1.0}
    assert [factors[f"{name}/kernel"] for name in ("block5_conv2", "block5_conv1", "block4_conv1", "block3_conv1",
                                                   "block2_conv1", "block1_conv1")] == [0.5, 0.5, 0.25, 0.125,
                                                                                        0.0625, 0.03125]
