"""Which layers of a built classifier train and how they start: freezing all but the last N base
layers, re-initialising them, the weights training changes, parameter counts (the plan of which N to
train is ``schedules.py``).
"""

import math


def layers_within(layer):
    """``layer`` and every layer nested in it (functional models, Sequential blocks)."""
    yield layer
    for inner in getattr(layer, "layers", ()):
        yield from layers_within(inner)


def changing_weights(model):
    """The weights training can change, in ``model.weights`` order: the trainable ones and the
    non-trainable ones of layers that train (BatchNorm moving statistics). A frozen layer's weights
    stay as built."""
    changing = {id(variable) for variable in model.trainable_variables}
    for layer in layers_within(model):
        if layer.trainable and not hasattr(layer, "layers"):
            changing.update(id(variable) for variable in layer.non_trainable_weights)
    return [variable for variable in model.weights if id(variable) in changing]


def set_trainable_last_layers(model, base, n):
    """Freeze the base except its last ``n`` layers; everything outside the base stays trainable.

    The pooling layer is the base's last layer and counts as one; BatchNorm gamma/beta train
    when their layer is among the last ``n``. Whether those trainable BatchNorm layers also update
    their moving statistics in ``fit`` is ``training.batchnorm``'s choice (``zoo.build_classifier``);
    frozen ones never do. The caller must (re)compile the model afterwards.

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


def reinitialise_last_layers(base, fresh, n):
    """Replace the weights of ``base``'s last ``n`` layers by those of ``fresh``, a randomly
    initialised build of the same architecture (kernels, biases, BatchNorm gamma/beta and moving
    statistics alike). Layers are matched from the end, so an extra input layer of the pretrained
    build (EfficientNet's ImageNet normalisation) does not shift them."""
    if not 0 <= n <= min(len(base.layers), len(fresh.layers)):
        raise ValueError(f"{base.name}: cannot re-initialise {n} of {len(base.layers)} layers")
    for layer, new in zip(base.layers[len(base.layers) - n:], fresh.layers[len(fresh.layers) - n:]):
        if layer.__class__ is not new.__class__:
            raise ValueError(f"{base.name}: layer {layer.name} does not match {new.name} of the fresh build")
        if layer.weights:
            layer.set_weights(new.get_weights())


def count_params(model):
    """(trainable, non_trainable, total) parameter counts as Keras reports them."""
    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    non_trainable = sum(math.prod(weight.shape) for weight in model.non_trainable_weights)
    return int(trainable), int(non_trainable), int(trainable + non_trainable)
