"""The architecture zoo: keras.applications bases (and compact ones of our own, ``models/custom.py``)
with augmentation and preprocessing inside and a softmax head; loading and saving classifiers.

The builders import Keras when called; what the workflow knows about an architecture without
building it is in ``schedules.ARCHITECTURES``.

ImageNet weights come from the real Keras path (``weights="imagenet"``): Keras downloads the
no-top weight file once into ``$KERAS_HOME/models/`` (``KERAS_HOME`` is read when Keras is first
imported) and reuses it from there offline when its hash matches.
"""

import os
from pathlib import Path

from astrotune.models.schedules import ARCHITECTURES

MOBILENET_V2_ROWS = (96, 128, 160, 192, 224)


def build_base(arch, input_shape, weights, pooling="avg"):
    """``<arch>(include_top=False, pooling=pooling)`` with the requested weights.

    Args:
        arch: a key of ARCHITECTURES.
        input_shape: (height, width, 3); must be at least the architecture's min_size.
        weights: ``imagenet``, ``none``, or a path to a weights file for the base (loaded with
            ``load_weights`` after building with ``weights=None``; EfficientNetB* then lack the
            ImageNet Normalization layer).
        pooling: ``avg`` (the base ends with global average pooling) or None (it ends with its
            last feature map and has one layer fewer).
    """
    from keras import applications

    spec = ARCHITECTURES[arch]
    if spec.custom:
        from astrotune.models.custom import BUILDERS

        if weights == "imagenet":
            raise ValueError(f"{arch} has no ImageNet weights; use training.weights none or a weights file")
        base = BUILDERS[arch](tuple(input_shape), pooling=pooling)
        if weights != "none":
            base.load_weights(weights)
        return base
    constructor = getattr(applications, spec.name)
    if weights == "imagenet":
        return constructor(include_top=False, pooling=pooling, weights="imagenet", input_shape=tuple(input_shape))
    base = constructor(include_top=False, pooling=pooling, weights=None, input_shape=tuple(input_shape))
    if weights != "none":
        base.load_weights(weights)
    return base


def _speed_up_batchnorm_statistics(base, momentum=0.99):
    """Cap BatchNorm momentum (MobileNetV2 uses 0.999) so a randomly initialised base's moving
    statistics converge within a few epochs instead of thousands of steps."""
    import keras

    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(layer.momentum, momentum)


def build_classifier(arch, n_classes, input_shape, weights, augmentation=None, head=None, reinitialise=0,
                     center_crop=0, batchnorm="frozen"):
    """Input -> [augmentation] -> [CenterCrop] -> [Resizing] -> preprocessing -> base -> head -> softmax.

    A pretrained base runs as ``batchnorm`` says (config ``training.batchnorm``). ``frozen`` (the
    Keras fine-tuning recipe): the base sits in a ``layers.InferenceMode`` wrapper that calls it
    with ``training=False`` inside ``fit`` too, so every BatchNorm layer keeps its ImageNet moving
    statistics (gamma and beta of trainable ones still train) and Dropout is off. ``train``: the
    base is called with ``training=False``, but Keras 3.15 passes ``fit``'s ``training=True`` on to
    the nested base, so its *trainable* BatchNorm layers learn batch statistics in ``fit`` (frozen
    ones keep the ImageNet statistics) and Dropout inside it is active. A randomly initialised base
    (``weights="none"``) or one with re-initialised layers runs with ``training=None`` in either
    mode, so its trainable BatchNorm layers learn statistics from the data (frozen ones stay in
    inference mode). Layer and parameter counts do not depend on the mode.

    Inputs smaller than the architecture's min_size (Xception 71, InceptionResNetV2 75) are
    upsampled to min_size by a Resizing layer before the base; layer and parameter counts of
    the base do not depend on the input size.

    Args:
        arch: a key of ARCHITECTURES.
        n_classes: units of the softmax head.
        input_shape: (height, width, 3) of the packed images.
        weights: ``imagenet``, ``none`` or a weights file (see build_base).
        augmentation: optional block from ``augment.augmentation_block``, active only in training.
        center_crop: side of the central square the network sees (0: the whole image). Cropping
            inside the model keeps the saved model's input the packed image, and lets augmentation
            shift real sky into the crop instead of filling borders.
        head: ``heads.HeadSettings`` (None: global average pooling + Dense softmax). A CBAM head
            takes the base's feature map, so the base is built without its pooling layer.
        reinitialise: number of trailing base layers whose loaded weights are replaced by a fresh
            random initialisation (``trainable.reinitialise_last_layers``).
        batchnorm: ``frozen`` or ``train`` (see above).

    Returns:
        (model, base): the functional classifier and its base.
    """
    import keras

    from astrotune.models.heads import HeadSettings, apply_head
    from astrotune.models.layers import ImagenetPreprocessing, InferenceMode
    from astrotune.models.trainable import reinitialise_last_layers

    head = head or HeadSettings()
    pooling = None if head.needs_feature_map else "avg"
    spec = ARCHITECTURES[arch]
    height, width, channels = input_shape
    if center_crop:
        if center_crop > min(height, width):
            raise ValueError(f"training.center_crop: {center_crop} is larger than the {height}x{width} images")
        height = width = center_crop
    base_shape = (max(height, spec.min_size), max(width, spec.min_size), channels)
    base = build_base(arch, base_shape, weights, pooling)
    if reinitialise and weights != "none":
        reinitialise_last_layers(base, build_base(arch, base_shape, "none", pooling), reinitialise)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if augmentation is not None:
        x = augmentation(x)
    if center_crop:
        x = keras.layers.CenterCrop(center_crop, center_crop, name="center_crop")(x)
    if base_shape != (height, width, channels):
        x = keras.layers.Resizing(base_shape[0], base_shape[1], name="resize_to_min")(x)
    if spec.preprocessing != "none":
        x = ImagenetPreprocessing(spec.preprocessing, name="preprocess")(x)
    randomly_initialised = weights == "none" or reinitialise > 0
    if randomly_initialised:
        _speed_up_batchnorm_statistics(base)
    if batchnorm not in ("frozen", "train"):
        raise ValueError(f"training.batchnorm {batchnorm!r} is not one of frozen, train")
    if randomly_initialised:
        x = base(x, training=None)
    elif batchnorm == "frozen":
        x = InferenceMode(base, name=f"{base.name}_inference")(x)
    else:
        x = base(x, training=False)
    outputs = apply_head(x, n_classes, head)
    return keras.Model(inputs, outputs, name=f"{arch}_classifier"), base


def load_model(path):
    """Load a classifier saved as ``.keras`` (safe mode on; registers the preprocessing layer)."""
    import keras

    from astrotune.models.registration import register_layers

    register_layers()  # ImagenetPreprocessing, CBAM, ..., the per-block optimizers

    model = keras.saving.load_model(path)
    model.jit_compile = False  # as in training: XLA compilation of these graphs costs more than it saves
    return model


def save_model(model, path):
    """Save a ``.keras`` model atomically."""
    save_atomically(model.save, path)


def save_atomically(save, path):
    """Call ``save(partial)`` on a partial file beside ``path``, then move it into place; the partial
    file keeps ``path``'s suffix, which Keras reads to choose the format (``.keras``, ``.weights.h5``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial_{path.name}")
    save(partial)
    partial.replace(path)


def fetch_imagenet_weights(arch, input_shape=None):
    """Let Keras fetch (or find) the no-top ImageNet weights of ``arch`` in ``$KERAS_HOME/models``.

    Args:
        arch: a key of ARCHITECTURES.
        input_shape: the training input shape; only MobileNetV2 keeps per-size weight files
            (sides 96-224; any other side uses the 224 file).

    Returns:
        List with the path of the weight file Keras uses.
    """
    spec = ARCHITECTURES[arch]
    side = 224 if input_shape is None else max(input_shape[0], spec.min_size)
    build_base(arch, (side, side, 3), "imagenet")
    square = input_shape is None or input_shape[0] == input_shape[1]
    rows = side if square and side in MOBILENET_V2_ROWS else 224
    keras_home = Path(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")))
    path = keras_home / "models" / spec.imagenet_file.format(rows=rows)
    if not path.is_file():
        raise FileNotFoundError(f"{arch}: Keras loaded ImageNet weights but {path} does not exist")
    return [str(path)]
