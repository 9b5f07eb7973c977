"""Precise BatchNorm statistics for a base trained from random weights (PreciseBN, Wu & Johnson 2021).

A BatchNorm layer's moving mean and variance trail its batch statistics by an exponential average:
after a short training run from random weights they still mix in the statistics of early, very
different weights, and a model that scores well on its training batches can predict one class in
inference mode. ``recalibrate_batchnorm`` replaces them with the plain average of the batch
statistics of the final weights over a pass of training images, changing no other weight.
"""


def batchnorm_layers(model):
    """Every BatchNormalization layer of ``model``, nested models included, in order."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(batchnorm_layers(layer))
    return found


def recalibrate_batchnorm(model, batches):
    """Set each trainable BatchNorm layer's moving statistics to the mean of its batch statistics.

    Args:
        model: a Keras model; it is called on every batch in training mode (its weights other than
            the moving statistics are not changed; Dropout and augmentation layers act as in training).
        batches: iterable of float or uint8 image batches (the training images, in a fixed order).

    Returns:
        Number of batches used.
    """
    layers = [layer for layer in batchnorm_layers(model) if layer.trainable]
    momenta = [layer.momentum for layer in layers]
    used = 0
    try:
        for used, batch in enumerate(batches, start=1):
            for layer in layers:  # moving <- moving * (k-1)/k + batch / k: the running mean of k batches
                layer.momentum = (used - 1) / used
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return used
