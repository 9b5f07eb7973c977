"""Where a classifier looks: Grad-CAM heatmaps and gradient saliency maps.

Grad-CAM (Selvaraju et al. 2017) weights the channels of a convolutional feature map by the mean
gradient of the class score over each channel, sums them and keeps the positive part. The feature
map is found automatically: the last layer (not a padding layer) with a 4-D output larger than
1x1 at which the classifier can be cut in two, searched from the output backwards and inside nested
models (the keras.applications base of a zoo classifier), since a 1x1 map (ResNet50 on 32 px inputs)
cannot localise anything, and a layer that later layers bypass (NASNet's cells also read the cell
before the last) cannot be differentiated alone. A layer can also be named.
Saliency is the largest absolute gradient of the class score over the input's colour channels.
"""

import numpy as np

from astrotune import backend
from astrotune.errors import InputError
from astrotune.models.cut import crossing_tensors


def find_feature_layer(model, name=None):
    """The layer whose output Grad-CAM uses, and the (possibly nested) model that owns it: the first
    of the candidate layers that splits the classifier (see the module docstring)."""
    for owner, layer in _feature_layer_candidates(model, name):
        if name is not None or _is_cut(owner, layer):
            return owner, layer
    raise InputError("explain.feature_maps", f"{model.name} has no 4-D feature map larger than 1x1 that the output "
                                             "depends on alone; name one")


def _feature_layer_candidates(model, name=None):
    """(owner, layer) pairs Grad-CAM could use, last first: the layer named ``name``, or every layer
    (not a padding layer or a nested model) with a 4-D output larger than 1x1.

    Raises:
        InputError: no layer is named ``name``.
    """
    import keras

    found = False
    for owner, layer in reversed(list(_walk(model))):
        if name is not None:
            if layer.name == name:
                found = True
                yield owner, layer
        elif not isinstance(layer, (keras.Model, keras.layers.ZeroPadding2D)) and _is_feature_map(layer):
            yield owner, layer
    if name is not None and not found:
        raise InputError("explain.feature_maps", f"{model.name} has no layer named {name!r}")


def _is_cut(owner, layer):
    """Whether ``layer``'s output is the only tensor that ``owner``'s later layers read from before it."""
    crossing = crossing_tensors(owner, owner.layers.index(layer) + 1)
    return len(crossing) == 1 and crossing[0][1] is layer.output


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
    """Grad-CAM and saliency maps of one classifier, on any Keras backend.

    The classifier is run in two parts, images -> feature map -> probabilities, so that the class
    score can be differentiated with respect to the feature map (``backend.gradient``).

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
        if owner is not model and owner not in model.layers:
            raise InputError("explain.feature_maps", f"{layer.name} is nested more than one level deep")
        if not _is_cut(owner, layer):
            raise InputError("explain.feature_maps", f"{owner.name}'s output depends on more than {layer.name}'s "
                                                     "output; name another feature layer")
        self._owner_head = keras.Model(layer.output, owner.output)
        self._owner = owner
        self._owner_features = keras.Model(owner.inputs, layer.output)

    def _outer_layers(self):
        """The model's layers before and after the feature map's owner (empty when the model owns it)."""
        import keras

        if self._owner is self.model:
            return [], []
        layers = [layer for layer in self.model.layers if not isinstance(layer, keras.layers.InputLayer)]
        index = layers.index(self._owner)
        return layers[:index], layers[index + 1:]

    def features(self, x):
        """The feature map of a float batch."""
        before, _ = self._outer_layers()
        for layer in before:
            x = layer(x, training=False)
        return self._owner_features(x, training=False)

    def head(self, features):
        """Class probabilities from a feature map."""
        _, after = self._outer_layers()
        x = self._owner_head(features, training=False)
        for layer in after:
            x = layer(x, training=False)
        return x

    def heatmaps(self, images, classes=None):
        """Grad-CAM heatmaps in 0..1 at the images' resolution, and the explained classes.

        Args:
            images: (N, H, W, 3) uint8 or float batch.
            classes: class index per image (default: the predicted class).

        Returns:
            (heatmaps (N, H, W) float32, classes (N,) int)
        """
        from keras import ops

        x = np.asarray(images, dtype=np.float32)
        features = ops.convert_to_numpy(self.features(x))
        classes = _classes(ops.convert_to_numpy(self.head(features)), classes)
        gradients = backend.gradient(lambda f: _score(self.head(f), classes), features)
        weights = gradients.mean(axis=(1, 2), keepdims=True)
        cam = np.maximum((weights * features).sum(axis=-1), 0)[..., None]
        cam = _bilinear_resize(cam[..., 0], x.shape[1:3])
        return _normalise(cam), classes

    def saliency(self, images, classes=None):
        """Gradient saliency maps in 0..1 (max |d score / d pixel| over channels) and the classes."""
        from keras import ops

        x = np.asarray(images, dtype=np.float32)
        classes = _classes(ops.convert_to_numpy(self.head(self.features(x))), classes)
        gradients = backend.gradient(lambda value: _score(self.head(self.features(value)), classes), x)
        return _normalise(np.abs(gradients).max(axis=-1)), classes


def _bilinear_resize(maps, size):
    """(N, h, w) maps resized to ``size`` by bilinear interpolation with half-pixel centres (as
    ``tf.image.resize``), in NumPy so that every backend gives the same maps."""
    def weights(n_in, n_out):
        centres = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, (centres - low).astype(np.float32)

    (y0, y1, fy), (x0, x1, fx) = weights(maps.shape[1], size[0]), weights(maps.shape[2], size[1])
    rows = maps[:, y0] * (1 - fy)[None, :, None] + maps[:, y1] * fy[None, :, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


def _score(probabilities, classes):
    """Each image's probability of its explained class."""
    from keras import ops

    return ops.take_along_axis(probabilities, ops.convert_to_tensor(classes[:, None]), axis=1)


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
