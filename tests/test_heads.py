"""Heads: CBAM as a serialisable layer (safe-mode reload, parameter formula), Dense hidden layers."""

import numpy as np
import pytest

from astrotune.models.heads import HeadSettings
from astrotune.models.zoo import build_classifier, load_model, save_model

from model_helpers import cbam_param_count


@pytest.mark.parametrize("reduction", [4, 16])
def test_cbam_parameters_match_the_formula(reduction):
    import keras

    from astrotune.models.layers import CBAM

    inputs = keras.Input((6, 6, 64))
    layer = CBAM(reduction)
    keras.Model(inputs, layer(inputs))
    hidden = 64 // reduction
    assert layer.count_params() == cbam_param_count(64, reduction) == 2 * 64 * hidden + hidden + 64 + 2 * 49 + 1


def test_cbam_head_model_reloads_in_safe_mode_and_predicts_identically(tmp_path):
    import keras

    head = HeadSettings(cbam=True, cbam_reduction=8, dense=(32,), l2=0.01, dropout=0.4, batchnorm=True)
    model, base = build_classifier("CompactCNN", 5, (32, 32, 3), "none", head=head)
    assert len(base.layers) == 29  # CompactCNN's 30 layers without its pooling layer
    names = [layer.name for layer in model.layers]
    assert names[names.index("compact_cnn") + 1:] == ["cbam", "head_pool", "head_dense1", "head_bn1",
                                                      "head_dropout1", "predictions"]
    assert model.get_layer("cbam").count_params() == cbam_param_count(256, 8)
    assert model.get_layer("head_dense1").kernel_regularizer.l2 == pytest.approx(0.01)
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype(np.uint8)
    expected = model.predict(images, verbose=0)
    save_model(model, tmp_path / "cbam.keras")
    reloaded = keras.saving.load_model(tmp_path / "cbam.keras", safe_mode=True)
    assert reloaded.count_params() == model.count_params()
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0), expected)
    np.testing.assert_array_equal(load_model(tmp_path / "cbam.keras").predict(images, verbose=0), expected)


def test_cbam_attends_per_channel_and_per_position():
    import keras

    from astrotune.models.layers import CBAM

    inputs = keras.Input((4, 4, 8))
    layer = CBAM(2)
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 8)).astype("float32")
    out = model.predict(x, verbose=0)
    ratio = out / x
    assert np.all((ratio > 0) & (ratio < 1))  # two sigmoid gates in (0, 1)
    assert np.ptp(ratio[0, :, :, 0]) > 0 and np.ptp(ratio[0, 0, 0, :]) > 0


def test_default_head_is_gap_and_dense():
    model, base = build_classifier("CompactCNN", 3, (32, 32, 3), "none")
    assert base.layers[-1].name == "avg_pool" and model.layers[-1].name == "predictions"
    assert model.count_params() == base.count_params() + (256 + 1) * 3
