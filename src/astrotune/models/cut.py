"""Split a classifier from ``zoo.build_classifier`` at a base layer into a frozen prefix and a suffix.

The cut at base layer index ``k`` puts ``base.layers[:k]`` (and everything before the base) into the
prefix and ``base.layers[k:]`` (and the head) into the suffix. The tensors crossing the cut are the
outputs of prefix layers that suffix layers read: one in a plain chain, several where a residual or
dense connection spans the cut (up to 2 in ResNet50 and DenseNet121, 3 in EfficientNetB2, 10 in
NASNetMobile). Both parts are built from the classifier's own layers, so they share its weights:
training the suffix trains the full model.

The prefix always runs in inference mode. Feeding the suffix with prefix outputs is therefore exact
when the full model's prefix is deterministic during training too: its layers are frozen (a frozen
BatchNorm runs in inference mode) and none of them draws random numbers. Keras 3.15 passes the
``training`` flag of ``fit`` to every layer of a nested model, overriding the ``training=False`` the
base was called with, so a Dropout layer in the prefix (EfficientNet blocks) is active in training
and such a prefix cannot be cached, unless the base sits in a ``layers.InferenceMode`` wrapper
(``training.batchnorm: frozen`` on a pretrained base): the cut sees through the wrapper and wraps the
suffix's part of the base the same way.
"""

from dataclasses import dataclass

import numpy as np

AUGMENTATION_LAYER = "augmentation"


@dataclass
class Split:
    """A classifier cut into two weight-sharing models.

    Attributes:
        cut: index of the first base layer in the suffix (``len(base.layers) - trainable layers``).
        prefix: image -> list of crossing tensors (inference mode, augmentation left out).
        suffix: list of crossing tensors -> class probabilities, called like the full model's base
            (in an InferenceMode wrapper when the classifier's base is in one).
        names: the crossing tensors' names (``layer`` or ``layer:index``), in input order.
    """

    cut: int
    prefix: object
    suffix: object
    names: list


def find_base(model):
    """The base inside a classifier: its only nested model apart from the augmentation block (held
    directly, or inside a ``layers.InferenceMode`` wrapper)."""
    return _unwrapped(_base_holder(model))


def _unwrapped(layer):
    return getattr(layer, "layer", layer) if _is_inference_wrapper(layer) else layer


def _is_inference_wrapper(layer):
    return type(layer).__name__ == "InferenceMode"


def _base_holder(model):
    """The classifier's layer that holds the base: the base itself or its InferenceMode wrapper."""
    import keras

    nested = [layer for layer in model.layers
              if isinstance(_unwrapped(layer), keras.Model) and layer.name != AUGMENTATION_LAYER]
    if len(nested) != 1:
        raise ValueError(f"{model.name}: expected one nested base model, found {len(nested)}")
    return nested[0]


def base_in_inference_mode(model):
    """Whether the classifier runs its base in inference mode inside ``fit`` (``training.batchnorm``
    frozen on a pretrained base)."""
    return _is_inference_wrapper(_base_holder(model))


def base_call_training(model, base):
    """The ``training`` argument the classifier passes to its base (None, True or False)."""
    if base_in_inference_mode(model):
        return False
    for node in base._inbound_nodes:
        if node.arguments is not None:
            return node.arguments.kwargs.get("training")
    raise ValueError(f"{model.name}: its base {base.name} is never called")


def _chain(model, base):
    """The classifier's layers before and after the base; the classifier must be a simple chain."""
    layers = model.layers[1:]
    for layer in layers:
        if len(layer._inbound_nodes) < 1 or len(layer._inbound_nodes[0].input_tensors) != 1:
            raise ValueError(f"{model.name}: layer {layer.name} is not part of a single-input chain; "
                             "cannot cut this classifier")
    index = layers.index(_base_holder(model))
    return layers[:index], layers[index + 1:]


def _producer(tensor):
    return tensor._keras_history.operation


def crossing_tensors(base, cut):
    """The outputs of ``base.layers[:cut]`` that ``base.layers[cut:]`` (or the base output) read.

    Returns:
        List of (name, KerasTensor) in the order of their producing layer.
    """
    layers = base.layers
    if not 1 <= cut <= len(layers):
        raise ValueError(f"{base.name}: cut {cut} outside 1..{len(layers)}")
    position = {id(layer): i for i, layer in enumerate(layers)}
    readers = [tensor for layer in layers[cut:] for tensor in layer._inbound_nodes[0].input_tensors]
    readers += list(base.outputs)
    found = {}
    for tensor in readers:
        producer = _producer(tensor)
        if position[id(producer)] < cut and id(tensor) not in found:
            history = tensor._keras_history
            name = producer.name if len(producer._inbound_nodes[0].output_tensors) == 1 \
                else f"{producer.name}:{history.tensor_index}"
            found[id(tensor)] = (position[id(producer)], history.tensor_index, name, tensor)
    return [(name, tensor) for _, _, name, tensor in sorted(found.values(), key=lambda item: item[:2])]


def prefix_is_deterministic(model, cut):
    """Whether the prefix at ``cut`` computes the same tensors in training as in inference.

    True when no prefix layer has a random seed generator (Dropout, random preprocessing), or only
    base layers do and the base runs in inference mode (``layers.InferenceMode``). The augmentation
    sub-layer is left out of the prefix and handled by the caller.
    """
    layers = _prefix_layers(model, cut)
    if base_in_inference_mode(model):
        layers = layers[:len(layers) - cut]
    return not any(_is_random(layer) for layer in layers)


def _prefix_layers(model, cut):
    """The layers the prefix at ``cut`` runs: those before the base but the augmentation block, then
    ``base.layers[:cut]``."""
    base = find_base(model)
    before, _ = _chain(model, base)
    return [layer for layer in before if layer.name != AUGMENTATION_LAYER] + base.layers[:cut]


def _is_random(layer):
    import keras

    if hasattr(layer, "seed_generator"):
        return True
    return isinstance(layer, keras.Model) and any(_is_random(inner) for inner in layer.layers)


def prefix_weights_are_frozen(model, cut):
    """Whether every weight-bearing base layer before ``cut`` is frozen, and so are the layers
    before the base."""
    base = find_base(model)
    before, _ = _chain(model, base)
    return not any(layer.trainable and layer.weights for layer in [*before, *base.layers[:cut]])


def prefix_digest(model, cut):
    """SHA-256 of everything the prefix at ``cut`` computes with: each prefix layer's class, config
    (without name and trainable flag) and weights, and the Keras and backend versions.

    Two models with equal digests compute the same crossing tensors from the same images, so a
    feature cache is checked against a job's model in milliseconds instead of running the prefix.
    """
    import hashlib
    import json

    import keras

    digest = hashlib.sha256(f"keras {keras.version()} {keras.backend.backend()}".encode())
    for layer in _prefix_layers(model, cut):
        config = {key: value for key, value in layer.get_config().items() if key not in ("name", "trainable")}
        digest.update(f"{type(layer).__name__} {json.dumps(config, sort_keys=True, default=str)}".encode())
        for weight in layer.weights:
            value = np.asarray(weight.value)
            digest.update(f"{value.dtype.str}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def split_classifier(model, cut):
    """Cut ``model`` (from ``zoo.build_classifier``) before base layer ``cut``.

    Args:
        model: the classifier; its base is its only nested model.
        cut: index of the first base layer in the suffix, ``1..len(base.layers)``; the number of
            trainable layers N corresponds to ``len(base.layers) - N``.

    Returns:
        Split: the prefix (images -> crossing tensors, inference mode) and the suffix (crossing
        tensors -> probabilities, with the base's own ``training`` argument), sharing the model's
        weights.
    """
    import keras

    base = find_base(model)
    before, after = _chain(model, base)
    crossing = crossing_tensors(base, cut)
    names = [name for name, _ in crossing]
    tensors = [tensor for _, tensor in crossing]

    base_prefix = keras.Model(base.inputs, tensors, name=f"{base.name}_prefix_{cut}")
    image = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype, name="image")
    x = image
    for layer in before:
        if layer.name != AUGMENTATION_LAYER:
            x = layer(x, training=False)
    prefix_outputs = base_prefix(x, training=False)
    prefix = keras.Model(image, _as_list(prefix_outputs), name=f"{model.name}_prefix_{cut}")

    inputs = [keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=f"cut_{i}")
              for i, tensor in enumerate(tensors)]
    if cut == len(base.layers):  # nothing of the base is left: the suffix is the head
        y = inputs[0]
    else:
        base_suffix = keras.Model(tensors, base.outputs[0], name=f"{base.name}_suffix_{cut}")
        suffix_inputs = inputs if len(inputs) > 1 else inputs[0]
        if base_in_inference_mode(model):
            from astrotune.models.layers import InferenceMode

            y = InferenceMode(base_suffix, name=f"{base.name}_suffix_{cut}_inference")(suffix_inputs)
        else:
            y = base_suffix(suffix_inputs, training=base_call_training(model, base))
    for layer in after:
        y = layer(y)
    suffix = keras.Model(model_input(inputs), y, name=f"{model.name}_suffix_{cut}")
    return Split(cut=cut, prefix=prefix, suffix=suffix, names=names)


def prefix_outputs(prefix, images):
    """The crossing tensors of ``images`` (one batch) as a list of arrays, one per tensor.

    Runs the traced graph (``predict_on_batch``): an eager call of a large base keeps every
    intermediate tensor alive and needed 24 GB for 32 DenseNet121 images of 512 px.
    """
    return [np.asarray(output) for output in _as_list(prefix.predict_on_batch(images))]


def middle_model(model, from_cut, to_cut):
    """The frozen base layers between two cuts: crossing tensors at ``from_cut`` -> those at ``to_cut``.

    Feeds a suffix at ``to_cut`` from a feature cache at ``from_cut`` (``from_cut < to_cut``); shares
    the model's weights.
    """
    import keras

    base = find_base(model)
    inputs = [tensor for _, tensor in crossing_tensors(base, from_cut)]
    # A tensor crossing both cuts (a skip connection over the middle) passes through; Keras cannot
    # take a model input as an output directly.
    outputs = [keras.layers.Identity()(tensor) if any(tensor is given for given in inputs) else tensor
               for _, tensor in crossing_tensors(base, to_cut)]
    return keras.Model(model_input(inputs), outputs, name=f"{base.name}_middle_{from_cut}_{to_cut}")


def model_input(tensors):
    """What the suffix takes: the tensor itself when one crosses the cut, else a tuple of them."""
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def unwrapped_classifier(model):
    """The classifier with its base called directly (``training=False``) instead of through an
    InferenceMode wrapper, sharing the weights; ``model`` itself when its base is not wrapped.

    In inference both compute the same; the saved ``.keras`` model is this one, so evaluation,
    explanation and prediction see the classifier's usual layout (base one level deep).
    """
    import keras

    if not base_in_inference_mode(model):
        return model
    holder = _base_holder(model)
    x = inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype, name="image")
    for layer in model.layers[1:]:
        x = _unwrapped(layer)(x, training=False) if layer is holder else layer(x)
    return keras.Model(inputs, x, name=model.name)
