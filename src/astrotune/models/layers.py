"""Serialisable ImageNet preprocessing layer, so `.keras` files load with ``safe_mode`` on."""

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
