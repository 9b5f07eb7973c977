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


def set_threads(n_threads):
    """Limit the backend's compute threads to the job's (call before the backend runs an op)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(n_threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(n_threads)
    # JAX sizes its CPU thread pool from XLA_FLAGS when it starts; the workflow leaves it to XLA.


def deterministic_ops(on):
    """Ask the backend for deterministic kernels (``on``) or leave them free (XLA on TensorFlow).

    JAX on a CPU is deterministic; on a GPU it needs ``XLA_FLAGS=--xla_gpu_deterministic_ops=true``
    before it starts, which ``choose`` sets.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework import config as tf_config

        if on:
            tf.config.experimental.enable_op_determinism()
        else:
            tf_config.disable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(on, warn_only=True)


def gpu_present():
    """Whether the backend sees a GPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    import torch

    return torch.cuda.is_available()


def batch_feed(load, n_batches, specs, streamed):
    """What Keras' ``fit``, ``evaluate`` and ``predict`` read batch by batch: ``load(i)`` gives batch
    ``i`` as NumPy arrays ``(*x, y)``.

    Args:
        load: batch index -> tuple of arrays, the inputs then the labels.
        n_batches: batches in one pass.
        specs: (shape without the batch axis, dtype) of each array ``load`` returns.
        streamed: the rows are read from a file: keep few batches in flight.

    On TensorFlow a ``tf.data`` pipeline loads batches in parallel (at most 4 in flight when
    streamed); on JAX and PyTorch a ``keras.utils.PyDataset`` loads them one at a time.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        def load_tensors(batch):
            outputs = tf.numpy_function(load, [batch], [tf.as_dtype(dtype) for _, dtype in specs], stateful=False)
            for output, (shape, _) in zip(outputs, specs):
                output.set_shape((None, *shape))
            return (outputs[0] if len(outputs) == 2 else tuple(outputs[:-1])), outputs[-1]

        in_flight = 2 if streamed else tf.data.AUTOTUNE
        return (tf.data.Dataset.range(n_batches)
                .map(load_tensors, num_parallel_calls=in_flight, deterministic=True)
                .prefetch(in_flight))
    return _Batches(load, n_batches)


class _Batches:
    """A ``keras.utils.PyDataset`` over ``load`` (created lazily so that importing this module never
    imports Keras)."""

    def __new__(cls, load, n_batches):
        import keras

        class Batches(keras.utils.PyDataset):
            def __len__(self):
                return n_batches

            def __getitem__(self, index):
                if not 0 <= index < n_batches:
                    raise IndexError(index)
                arrays = load(index)
                return (arrays[0] if len(arrays) == 2 else tuple(arrays[:-1])), arrays[-1]

        return Batches()
