"""Register astrotune's custom Keras layers and optimizers as soon as Keras is imported, without
importing it.

Keras finds a custom class in a saved ``.keras`` file only if its module ran its
``@register_keras_serializable`` decorators first. ``import astrotune`` calls
:func:`register_when_keras_loads`: if Keras is already imported, every module in LAYER_MODULES is
imported now; otherwise a one-shot import hook (``sys.meta_path``) imports them right after Keras
finishes loading. ``import astrotune`` therefore stays free of Keras (the Snakefile imports it at
parse time), and ``keras.saving.load_model`` finds every layer in those modules.
"""

import importlib
import importlib.abc
import importlib.util
import sys

LAYER_MODULES = ("astrotune.models.layers", "astrotune.models.block_optimizers")


def register_layers():
    """Import every module that defines serialisable layers or optimizers (their decorators register them)."""
    for name in LAYER_MODULES:
        importlib.import_module(name)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of ``keras`` to register layers once it has run.

    It stays installed until Keras is actually executed, so a mere ``importlib.util.find_spec("keras")``
    elsewhere does not use it up.
    """

    def __init__(self):
        self._searching = False

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras" or self._searching:
            return None
        self._searching = True
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            self._searching = False
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_then_register(module):
            execute(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register_layers()

        spec.loader.exec_module = exec_then_register
        return spec


def register_when_keras_loads():
    """Register the layers now if Keras is loaded, else right after Keras is first imported."""
    if "keras" in sys.modules:
        register_layers()
    elif not any(isinstance(finder, _AfterKerasImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())
