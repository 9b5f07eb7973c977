"""Which layers train: the last N layers of the base plus the head; parameter counts."""

import math


def set_trainable_last_layers(model, base, n):
    """Freeze the base except its last ``n`` layers; everything outside the base stays trainable.

    The pooling layer is the base's last layer and counts as one; BatchNorm gamma/beta train
    when their layer is among the last ``n`` (their moving statistics never do, and the base is
    called with ``training=False``). The caller must (re)compile the model afterwards.

    Args:
        model: classifier from ``zoo.build_classifier``.
        base: its keras.applications base.
        n: number of trailing base layers to train, ``0..len(base.layers)``.
    """
    layers = base.layers
    if not 0 <= n <= len(layers):
        raise ValueError(f"{base.name}: {n} trainable layers requested but the base has {len(layers)} layers")
    for layer in model.layers:
        layer.trainable = True
    first = len(layers) - n
    for index, layer in enumerate(layers):
        layer.trainable = index >= first


def count_params(model):
    """(trainable, non_trainable, total) parameter counts as Keras reports them."""
    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    non_trainable = sum(math.prod(weight.shape) for weight in model.non_trainable_weights)
    return int(trainable), int(non_trainable), int(trainable + non_trainable)
