"""Helpers the tests share to look inside models (not used by the package)."""


def eager_outputs(prefix, images):
    """A prefix's crossing tensors without tracing (as ``cut.prefix_outputs``): for a few images,
    where tracing a large prefix would cost seconds."""
    outputs = prefix(images, training=False)
    return [output.numpy() for output in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def learning_rate_at(optimizer):
    """The learning rate the optimizer uses at its current iteration (a float)."""
    rate = optimizer.learning_rate
    return float(rate.numpy() if hasattr(rate, "numpy") else rate)


def cbam_param_count(channels, reduction, kernel_size=7):
    """Parameters of a CBAM block on ``channels`` channels (shared MLP with biases + spatial conv)."""
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden + hidden + channels + 2 * kernel_size**2 + 1
