"""astrotune: layer-wise fine-tuning of ImageNet CNNs on astronomical images."""

from astrotune.models.registration import register_when_keras_loads

__version__ = "0.1.0"

register_when_keras_loads()
