"""PreciseBN: a pretrained base's moving statistics become the average batch statistics of its final weights."""

import numpy as np

from astrotune.training.precise_batchnorm import batchnorm_layers, recalibrate_batchnorm


def _model():
    import keras

    inputs = keras.Input((4, 4, 2))
    inner = keras.Sequential([keras.layers.Conv2D(3, 1, name="conv"), keras.layers.BatchNormalization(name="bn_in")],
                             name="base")
    x = keras.layers.BatchNormalization(name="bn_frozen", trainable=False)(inner(inputs))
    return keras.Model(inputs, x), inner


def test_moving_statistics_become_the_mean_of_the_batch_statistics():
    model, inner = _model()
    batches = [np.random.default_rng(seed).normal(seed, 1 + seed, (8, 4, 4, 2)).astype(np.float32) for seed in range(3)]
    kernel = inner.get_layer("conv").get_weights()
    frozen = model.get_layer("bn_frozen").get_weights()
    assert [layer.name for layer in batchnorm_layers(model)] == ["bn_in", "bn_frozen"]

    assert recalibrate_batchnorm(model, iter(batches)) == 3

    features = [np.asarray(inner.get_layer("conv")(batch)) for batch in batches]
    bn = inner.get_layer("bn_in")
    np.testing.assert_allclose(np.asarray(bn.moving_mean), np.mean([f.mean(axis=(0, 1, 2)) for f in features], axis=0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), np.mean([f.var(axis=(0, 1, 2)) for f in features], axis=0),
                               rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.99  # restored
    assert all(np.array_equal(a, b) for a, b in zip(inner.get_layer("conv").get_weights(), kernel))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_layer("bn_frozen").get_weights(), frozen))
