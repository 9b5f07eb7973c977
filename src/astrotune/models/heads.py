"""Classifier heads between a base network and the softmax: GAP + Dense by default, optionally
CBAM attention on the base's feature map and Dense hidden layers with L2, BatchNorm and dropout."""

from dataclasses import dataclass


@dataclass(frozen=True)
class HeadSettings:
    """Config section ``training.head`` (or an architecture's ``head``).

    Attributes:
        cbam: put a CBAM block on the base's last feature map before global average pooling (the
            base is then built without its pooling layer, so it has one layer fewer).
        cbam_reduction: reduction ratio of CBAM's shared MLP.
        dense: units of the hidden Dense layers (ReLU) between pooling and the softmax.
        l2: L2 penalty on the hidden layers' kernels (0 for none).
        dropout: dropout rate after every hidden layer (0 for none).
        batchnorm: BatchNorm after every hidden layer's ReLU.
    """

    cbam: bool = False
    cbam_reduction: int = 16
    dense: tuple = ()
    l2: float = 0.0
    dropout: float = 0.0
    batchnorm: bool = False

    @classmethod
    def from_config(cls, section):
        """Settings from a validated ``head`` config section (None or {} for the default head)."""
        section = dict(section or {})
        return cls(**section | {"dense": tuple(section.get("dense", ()))})

    @property
    def needs_feature_map(self):
        """True when the head works on the spatial feature map, so the base must not pool."""
        return self.cbam


def apply_head(features, n_classes, settings):
    """Head layers on the base's output ``features``; returns the softmax output tensor.

    The softmax layer computes in float32 under any dtype policy (mixed precision included).

    Args:
        features: (B, C) pooled features, or (B, H, W, C) when ``settings.needs_feature_map``.
        n_classes: units of the softmax layer.
        settings: HeadSettings.
    """
    import keras

    from astrotune.models.layers import CBAM

    x = features
    if settings.cbam:
        x = CBAM(settings.cbam_reduction, name="cbam")(x)
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    regularizer = keras.regularizers.L2(settings.l2) if settings.l2 else None
    for index, units in enumerate(settings.dense, start=1):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer, name=f"head_dense{index}")(x)
        if settings.batchnorm:
            x = keras.layers.BatchNormalization(name=f"head_bn{index}")(x)
        if settings.dropout:
            x = keras.layers.Dropout(settings.dropout, name=f"head_dropout{index}")(x)
    # float32 whatever the dtype policy: under mixed_float16 a float16 softmax rounds probabilities
    # near 0 and 1, and the loss is computed from them.
    return keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="predictions")(x)
