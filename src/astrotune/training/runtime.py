"""Process-wide set-up of a training or inference job: threads, determinism, precision and XLA, and
the library versions that are part of a cache's and a checkpoint's identity.
"""

import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version

log = logging.getLogger(__name__)


def use_threads(n_threads):
    """Limit the backend to the job's threads (call before any op runs)."""
    from astrotune import backend

    backend.set_threads(n_threads)


def make_deterministic(seed, ops=True):
    """Seed Python, NumPy and the backend, and ask the backend for deterministic kernels (``ops``).

    ``ops=False`` (XLA on) leaves TensorFlow's kernels free: Keras silently compiles nothing with
    XLA while op determinism is on, so ``performance.xla`` had no effect.
    """
    import keras

    from astrotune import backend

    keras.utils.set_random_seed(seed)
    backend.deterministic_ops(ops)
    if not ops:
        log.info("XLA on: op determinism off (Keras compiles nothing with XLA while it is on); "
                 "runs with the same seed may differ in the last digits")


def gpu_present():
    """Whether the backend sees a GPU."""
    from astrotune import backend

    return backend.gpu_present()


def configure_accelerators(numeric):
    """Apply mixed precision and XLA when a GPU is present; returns the ``jit_compile`` to use.

    Every job that builds a model the training uses (``cache_features`` and ``train_model``) calls
    this with the config's ``performance`` switches, so both build under the same dtype policy. On
    CPU both stay off (XLA measured 3x slower here; float16 compute is emulated) and the log says so;
    the dtype policy is then left as it is (tests set it directly).
    """
    import keras

    wanted = numeric.mixed_precision or numeric.xla
    if not gpu_present():
        if wanted:
            log.info("no GPU: mixed precision and XLA stay off")
        return False
    if numeric.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
        log.info("mixed precision on (mixed_float16)")
    return bool(numeric.xla)


def dtype_policy():
    """The name of Keras' global dtype policy (``float32``, ``mixed_float16``, ...)."""
    import keras

    return keras.config.dtype_policy().name


def _installed(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


def library_versions():
    """Versions of Keras and TensorFlow and the Keras backend, without importing Keras.

    The backend is Keras' own answer once Keras is imported, else ``KERAS_BACKEND`` (default
    ``tensorflow``), so the workflow can use this at parse time.
    """
    if "keras" in sys.modules:
        backend = sys.modules["keras"].backend.backend()
    else:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return {"keras": _installed("keras"), "tensorflow": _installed("tensorflow"), "backend": backend}
