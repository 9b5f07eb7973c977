"""astrotune: layer-wise fine-tuning of ImageNet CNNs on astronomical images."""

__version__ = "0.1.0"
