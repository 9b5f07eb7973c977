"""What differs between Keras backends (TensorFlow, JAX, PyTorch): one function per need, one branch
per backend. Everything else in the package uses ``keras.ops`` and Keras APIs only.

The backend is chosen before Keras is first imported, by ``KERAS_BACKEND`` (the workflow sets it
from ``performance.backend``); ``name()`` says which one this process runs.
"""

import os

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")


def name():
    """The Keras backend of this process."""
    import keras

    return keras.backend.backend()


def choose(configured):
    """Set ``KERAS_BACKEND`` for this process and its children before Keras is imported.

    Args:
        configured: ``performance.backend``: one of BACKENDS, or ``auto`` (``KERAS_BACKEND`` when set,
            else TensorFlow).

    Returns:
        The backend that will run.
    """
    chosen = os.environ.get("KERAS_BACKEND", "tensorflow") if configured == "auto" else configured
    if chosen not in BACKENDS:
        raise ValueError(f"performance.backend: {chosen!r} is not one of {', '.join(BACKENDS)} (or auto)")
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


def versions():
    """Versions that decide a backend's numbers: Keras, the backend's name and its library's version."""
    import importlib.metadata

    import keras

    backend = keras.backend.backend()
    return {"keras": keras.__version__, "backend": backend, backend: importlib.metadata.version(backend)}


def gradient(fn, x):
    """d sum(fn(x)) / dx as a NumPy array, for a float32 array ``x``."""
    import keras

    backend = keras.backend.backend()
    x = np.asarray(x, dtype=np.float32)
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = keras.ops.sum(fn(x))
        return keras.ops.convert_to_numpy(tape.gradient(total, x))
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda value: keras.ops.sum(fn(value)))(jax.numpy.asarray(x)))
    if backend == "torch":
        x = keras.ops.convert_to_tensor(x)
        x.requires_grad_(True)
        keras.ops.sum(fn(x)).backward()
        return x.grad.detach().cpu().numpy()
    raise ValueError(f"no gradient for the Keras backend {backend!r}")
