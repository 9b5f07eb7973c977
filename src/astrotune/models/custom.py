"""Architectures defined here rather than in keras.applications, built like its no-top bases.

Each builder takes ``input_shape`` and returns a functional ``keras.Model`` whose last layer is a
global average pooling, so "the last N layers" and the softmax head work as for the ImageNet zoo.
"""


def compact_cnn(input_shape, widths=(32, 64, 128, 256), convs_per_block=2):
    """A compact VGG-style CNN for small astronomical cutouts (tens of pixels per object).

    Blocks of ``convs_per_block`` x [3x3 convolution (no bias), BatchNorm, ReLU] followed by 2x2 max
    pooling, doubling the width per block, then global average pooling. It keeps full resolution
    in its first block, where a point source's profile and colour live, and has about 1.2 M
    parameters, so it trains from scratch on a few thousand images on a CPU.

    Args:
        input_shape: (height, width, channels); preprocessed input (scaled to -1..1).
        widths: filters per block.
        convs_per_block: convolutions per block.
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    for block, filters in enumerate(widths, start=1):
        for conv in range(1, convs_per_block + 1):
            name = f"block{block}_conv{conv}"
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
            x = keras.layers.ReLU(name=f"{name}_relu")(x)
        x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, outputs, name="compact_cnn")


BUILDERS = {"CompactCNN": compact_cnn}
