"""Architectures defined here rather than in keras.applications, built like its no-top bases.

Each builder takes ``input_shape`` and ``pooling`` and returns a functional ``keras.Model`` whose
last layer is a global average pooling (``pooling="avg"``), so "the last N layers" and the heads
work as for the ImageNet zoo; ``pooling=None`` ends at the last feature map (for a CBAM head).
"""


def compact_cnn(input_shape, pooling="avg", widths=(32, 64, 128, 256), convs_per_block=2):
    """A compact VGG-style CNN for small astronomical cutouts (tens of pixels per object).

    Blocks of ``convs_per_block`` x [3x3 convolution (no bias), BatchNorm, ReLU] followed by 2x2 max
    pooling, doubling the width per block, then global average pooling. It keeps full resolution
    in its first block, where a point source's profile and colour live, and has about 1.2 M
    parameters, so it trains from scratch on a few thousand images on a CPU.

    Args:
        input_shape: (height, width, channels); preprocessed input (scaled to -1..1).
        pooling: ``avg`` or None.
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
    return keras.Model(inputs, _pool(x, pooling), name="compact_cnn")


def _pool(x, pooling):
    """Global average pooling named like keras.applications' (``avg_pool``), or the feature map."""
    import keras

    if pooling not in ("avg", None):
        raise ValueError(f"pooling {pooling!r} is not 'avg' or None")
    return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x) if pooling == "avg" else x


# VGG11 ("configuration A" of Simonyan & Zisserman): convolutions per block, max pooling after each.
VGG11_BLOCKS = (1, 1, 2, 2, 2)


def vgg11_32(input_shape, pooling="avg", filters=32, init_stddev=0.1):
    """VGG11's convolutional part with a constant width of 32 channels (Alberghi et al. 2024, 4.1).

    Eight 3x3 convolutions (stride 1, "same" padding, ReLU, no BatchNorm, as in VGG11) in five
    blocks of 1, 1, 2, 2, 2, each block closed by 2x2 max pooling, then global average pooling.
    Kernels are drawn from N(0, 0.01) (variance 1e-2, "as in the original VGG paper"), biases are
    zero. VGG11's fully connected layers (4096, 4096) are a head setting (``head.dense``);
    torchvision's 7x7 adaptive pooling before them is replaced by global average pooling here.

    Args:
        input_shape: (height, width, channels), at least 32 pixels a side.
        pooling: ``avg`` or None.
        filters: channels of every convolution.
        init_stddev: standard deviation of the kernels' normal initialiser.
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    for block, n_convs in enumerate(VGG11_BLOCKS, start=1):
        for conv in range(1, n_convs + 1):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                    kernel_initializer=keras.initializers.RandomNormal(stddev=init_stddev),
                                    name=f"block{block}_conv{conv}")(x)
        x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    return keras.Model(inputs, _pool(x, pooling), name="vgg11_32")


# Blocks of the early-average-pooling CNN: convolutions per block, each block closed by max pooling.
AVGPOOL_CNN_BLOCKS = (1, 1, 2, 2)


def avgpool_cnn(input_shape, pooling="avg", filters=32, initial_pool=2):
    """The custom CNN of Alberghi et al. (2024, 4.4 and Figure A.3): an initial average pooling,
    then 3x3 convolutions of a constant 32 channels, each followed by ReLU and BatchNorm.

    The initial ``initial_pool`` x ``initial_pool`` average pooling smooths detector noise and
    halves the resolution, so a shorter network still covers the galaxy. The paper gives the
    figure, not a layer list; this reading has six convolutions (one fewer block than VGG11's
    eight, "slightly shorter") in blocks of 1, 1, 2, 2, each block closed by 2x2 max pooling, then
    global average pooling. Its dense layers (ReLU + BatchNorm) are a head setting
    (``head.dense`` with ``head.batchnorm: true``).

    Args:
        input_shape: (height, width, channels), at least 32 pixels a side.
        pooling: ``avg`` or None.
        filters: channels of every convolution.
        initial_pool: pool size of the first (average) pooling layer.
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape))
    x = keras.layers.AveragePooling2D(initial_pool, name="initial_avg_pool")(inputs)
    for block, n_convs in enumerate(AVGPOOL_CNN_BLOCKS, start=1):
        for conv in range(1, n_convs + 1):
            name = f"block{block}_conv{conv}"
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
            x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
    return keras.Model(inputs, _pool(x, pooling), name="avgpool_cnn")


BUILDERS = {"CompactCNN": compact_cnn, "VGG11": vgg11_32, "AvgPoolCNN": avgpool_cnn}
