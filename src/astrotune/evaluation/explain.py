"""Where a classifier looks: Grad-CAM heatmaps and gradient saliency maps.

Grad-CAM (Selvaraju et al. 2017) weights the channels of a convolutional feature map by the mean
gradient of the class score over each channel, sums them and keeps the positive part. The feature
map is found automatically: the last layer (not a padding layer) with a 4-D output larger than
1x1, searched from the output backwards and inside nested models (the keras.applications base of a zoo classifier), since a
1x1 map (ResNet50 on 32 px inputs) cannot localise anything. A layer can also be named.
Saliency is the largest absolute gradient of the class score over the input's colour channels.
"""

import numpy as np

from astrotune.errors import InputError


def find_feature_layer(model, name=None):
    """The layer whose output Grad-CAM uses, and the (possibly nested) model that owns it.

    Args:
        model: a Keras classifier; a zoo classifier holds its base as a nested model.
        name: a layer name to use instead of the automatic choice.

    Returns:
        (owner, layer): ``owner`` is ``model`` or one of its nested models.
    """
    import keras

    for owner, layer in reversed(list(_walk(model))):
        if name is not None:
            if layer.name == name:
                return owner, layer
        elif not isinstance(layer, (keras.Model, keras.layers.ZeroPadding2D)) and _is_feature_map(layer):
            return owner, layer
    if name is not None:
        raise InputError("explain.feature_maps", f"{model.name} has no layer named {name!r}")
    raise InputError("explain.feature_maps", f"{model.name} has no 4-D feature map larger than 1x1; name one")


def _walk(model):
    """(owner, layer) pairs of ``model`` in order, nested models expanded after themselves."""
    import keras

    for layer in model.layers:
        yield model, layer
        if isinstance(layer, keras.Model):
            yield from _walk(layer)


def _is_feature_map(layer):
    shape = getattr(layer, "output", None)
    shape = getattr(shape, "shape", None)
    return shape is not None and len(shape) == 4 and (shape[1] or 0) > 1 and (shape[2] or 0) > 1


class GradCam:
    """Grad-CAM and saliency maps of one classifier.

    Args:
        model: a Keras classifier (a chain of layers, such as the zoo's; or any functional model
            whose feature layer is one of its own layers).
        layer_name: the feature layer to use (default: found by :func:`find_feature_layer`).
    """

    def __init__(self, model, layer_name=None):
        import keras

        self.model = model
        owner, layer = find_feature_layer(model, layer_name)
        self.layer_name = layer.name
        if owner is model:
            self._both = keras.Model(model.inputs, [layer.output, model.output])
            self._nested = None
        else:
            if owner not in model.layers:
                raise InputError("explain.feature_maps", f"{layer.name} is nested more than one level deep")
            self._nested = (owner, keras.Model(owner.inputs, [layer.output, owner.output]))

    def _forward(self, x):
        """(feature map, class probabilities) of a float batch."""
        if self._nested is None:
            return self._both(x, training=False)
        import keras

        owner, both = self._nested
        features = None
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if layer is owner:
                features, x = both(x, training=False)
            else:
                x = layer(x)
        return features, x

    def heatmaps(self, images, classes=None):
        """Grad-CAM heatmaps in 0..1 at the images' resolution, and the explained classes.

        Args:
            images: (N, H, W, 3) uint8 or float batch.
            classes: class index per image (default: the predicted class).

        Returns:
            (heatmaps (N, H, W) float32, classes (N,) int)
        """
        import tensorflow as tf

        x = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
        with tf.GradientTape() as tape:
            features, probabilities = self._forward(x)
            classes = _classes(probabilities, classes)
            score = tf.gather(probabilities, classes, axis=1, batch_dims=1)
        gradients = tape.gradient(score, features)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[..., None]
        cam = tf.image.resize(cam, x.shape[1:3], method="bilinear")[..., 0].numpy()
        return _normalise(cam), classes

    def saliency(self, images, classes=None):
        """Gradient saliency maps in 0..1 (max |d score / d pixel| over channels) and the classes."""
        import tensorflow as tf

        x = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
        with tf.GradientTape() as tape:
            tape.watch(x)
            _, probabilities = self._forward(x)
            classes = _classes(probabilities, classes)
            score = tf.gather(probabilities, classes, axis=1, batch_dims=1)
        gradients = tape.gradient(score, x)
        return _normalise(tf.reduce_max(tf.abs(gradients), axis=-1).numpy()), classes


def _classes(probabilities, classes):
    if classes is None:
        return np.argmax(np.asarray(probabilities), axis=1)
    return np.asarray(classes, dtype=np.int64)


def _normalise(maps):
    """Scale each map to 0..1 by its maximum (an all-zero map stays zero)."""
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1), 0).astype(np.float32)


def select_examples(labels, n_classes, per_class, seed):
    """Positions of up to ``per_class`` examples of every class, drawn with ``seed``, grouped by class."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(n_classes):
        members = np.flatnonzero(np.asarray(labels) == label)
        chosen += sorted(rng.choice(members, size=min(per_class, len(members)), replace=False).tolist())
    return np.array(chosen, dtype=np.int64)


def explain_models(model_paths, images, layer_names=None):
    """Grad-CAM and saliency maps of the same images for several saved models.

    Args:
        model_paths: dict row label -> ``.keras`` path.
        images: (N, H, W, 3) uint8.
        layer_names: dict row label -> feature layer name (None: automatic).

    Returns:
        dict row label -> {"gradcam", "saliency", "classes", "layer"}.
    """
    from astrotune.models.zoo import load_model

    explanations = {}
    for label, path in model_paths.items():
        explainer = GradCam(load_model(path), (layer_names or {}).get(label))
        heatmaps, classes = explainer.heatmaps(images)
        saliency, _ = explainer.saliency(images, classes)
        explanations[label] = {"gradcam": heatmaps, "saliency": saliency, "classes": classes,
                               "layer": explainer.layer_name}
    return explanations
