"""Serialisable custom layers (ImageNet preprocessing, augmentation, a base held in inference mode),
so `.keras` files load with ``safe_mode`` on."""

import keras
from keras import ops

# keras.applications.imagenet_utils constants (RGB order except caffe, which works in BGR)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
MODES = ("caffe", "torch", "tf")


@keras.saving.register_keras_serializable(package="astrotune")
class ImagenetPreprocessing(keras.layers.Layer):
    """The ``preprocess_input`` of keras.applications for RGB images in 0..255, as a layer.

    Args:
        mode: ``caffe`` (RGB->BGR, minus the ImageNet mean), ``torch`` (0..1, minus mean, over std)
            or ``tf`` (scaled to -1..1).
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"preprocessing mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, self.compute_dtype)
        if self.mode == "torch":
            mean = ops.convert_to_tensor(TORCH_MEAN, self.compute_dtype)
            std = ops.convert_to_tensor(TORCH_STD, self.compute_dtype)
            return (x / 255.0 - mean) / std
        return x / 127.5 - 1.0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"mode": self.mode}


@keras.saving.register_keras_serializable(package="astrotune")
class RandomDihedral(keras.layers.Layer):
    """One of the 8 symmetries of the square (90-degree rotations and flips) per image, in training.

    Any element of the dihedral group is an optional transpose followed by optional vertical and
    horizontal flips, so three fair coins per image pick it uniformly. Square images only; at
    inference the layer is the identity.

    Args:
        seed: seed of the layer's random generator (its state is saved with the model).
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        coins = keras.random.randint((ops.shape(inputs)[0], 3), 0, 2, seed=self.seed_generator)

        def where(column, transformed, x):
            return ops.where(ops.reshape(coins[:, column] > 0, (-1, 1, 1, 1)), transformed, x)

        x = where(0, ops.transpose(inputs, (0, 2, 1, 3)), inputs)
        x = where(1, ops.flip(x, axis=1), x)
        return where(2, ops.flip(x, axis=2), x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"seed": self.seed}


@keras.saving.register_keras_serializable(package="astrotune")
class RandomChannelGain(keras.layers.Layer):
    """Multiply each colour channel of each image by its own factor in ``1 +- gain``, in training.

    Models the band-to-band calibration and stretch differences between survey fields; values are
    clipped to 0..255. At inference the layer is the identity.

    Args:
        gain: half-width of the uniform factor range (0.1 means factors in 0.9..1.1).
        seed: seed of the layer's random generator.
    """

    def __init__(self, gain, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.gain = gain
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or not self.gain:
            return inputs
        x = ops.cast(inputs, self.compute_dtype)
        shape = (ops.shape(x)[0], 1, 1, ops.shape(x)[-1])
        factors = keras.random.uniform(shape, 1 - self.gain, 1 + self.gain, seed=self.seed_generator)
        return ops.clip(x * factors, 0.0, 255.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"gain": self.gain, "seed": self.seed}


@keras.saving.register_keras_serializable(package="astrotune")
class CBAM(keras.layers.Layer):
    """Convolutional Block Attention Module (Woo et al. 2018) on a (B, H, W, C) feature map.

    Channel attention: the spatially average- and max-pooled descriptors pass through one shared
    MLP (C -> C // reduction, ReLU -> C), are added and squashed by a sigmoid, and scale the
    channels. Spatial attention: the channel-wise mean and max of the result, stacked, pass through
    a ``kernel_size`` x ``kernel_size`` convolution with a sigmoid and scale every position.
    Parameters: ``2 * C * (C // reduction) + C // reduction + C`` (MLP with biases) plus
    ``2 * kernel_size**2 + 1`` (the convolution).

    Args:
        reduction: reduction ratio r of the shared MLP's hidden layer.
        kernel_size: side of the spatial attention convolution (7 in the CBAM paper).
    """

    def __init__(self, reduction=16, kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.reduction = reduction
        self.kernel_size = kernel_size

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.reduction)
        self.mlp_hidden = keras.layers.Dense(hidden, activation="relu", name="mlp_hidden")
        self.mlp_output = keras.layers.Dense(channels, name="mlp_output")
        self.spatial = keras.layers.Conv2D(1, self.kernel_size, padding="same", activation="sigmoid",
                                           name="spatial_conv")
        self.mlp_hidden.build((None, channels))
        self.mlp_output.build((None, hidden))
        self.spatial.build(tuple(input_shape[:-1]) + (2,))

    def call(self, inputs):
        average = ops.mean(inputs, axis=(1, 2))
        maximum = ops.max(inputs, axis=(1, 2))
        channel = ops.sigmoid(self.mlp_output(self.mlp_hidden(average)) + self.mlp_output(self.mlp_hidden(maximum)))
        x = inputs * ops.expand_dims(ops.expand_dims(channel, 1), 1)
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        return x * self.spatial(pooled)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"reduction": self.reduction, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="astrotune")
class InferenceMode(keras.layers.Wrapper):
    """Runs the wrapped layer (a pretrained base) in inference mode always, inside ``fit`` too.

    A functional model passes ``fit``'s ``training=True`` to every nested layer whose ``call`` takes
    ``training``, overriding the ``training=False`` a base was called with; this wrapper's ``call``
    takes no ``training`` and calls its layer with an explicit ``training=False``. BatchNorm layers
    then use and keep their moving statistics and Dropout is off, while the trainable weights
    (BatchNorm gamma and beta included) still receive gradients. ``cut.split_classifier`` unwraps it.
    """

    def call(self, inputs):
        return self.layer(inputs, training=False)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    @property
    def layers(self):
        """The wrapped layer, so walks over nested layers (``trainable.layers_within``) reach it."""
        return [self.layer]
