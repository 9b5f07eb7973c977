"""Train a classifier's suffix on a feature cache (``feature_cache.py``) instead of the whole model.
"""

import json
import logging

import numpy as np

from astrotune.training.compile import compile_classifier
from astrotune.training.feature_cache import N_VIEWS, images_per_call, tensor_names

log = logging.getLogger(__name__)


class CachedTraining:
    """Train a classifier's suffix on a feature cache; its weights are the classifier's.

    When the job trains fewer layers than the cache's cut leaves, the frozen base layers between
    the two cuts are run once over the rows the job uses (``cut.middle_model``), not in every
    epoch, as long as their output fits the memory budget; the suffix then starts at the job's own
    cut.

    Args:
        model: the compiled classifier of the training job (fresh or resumed).
        h5: the open cache (``open_cache``).
        layers: the job's trainable-layer count (at most the cache's).
        settings: train.TrainingSettings.
        budget_mb: in-memory budget; larger caches are streamed.
        used_rows: every row the job trains or validates on (repeats allowed).
        jit_compile: as the classifier was compiled.

    Raises:
        ValueError: the cache cannot serve this model (the message says why; train falls back).
    """

    def __init__(self, model, h5, layers, settings, budget_mb, used_rows, jit_compile=False):
        from astrotune.data.pipeline import open_rows
        from astrotune.models.cut import (
            find_base,
            prefix_digest,
            prefix_is_deterministic,
            prefix_weights_are_frozen,
            split_classifier,
        )

        base = find_base(model)
        cut, own_cut = int(h5.attrs["cut"]), len(base.layers) - layers
        if cut > own_cut:
            raise ValueError(f"the cache cut ({len(base.layers) - cut} trainable layers) is shallower than {layers}")
        if not prefix_weights_are_frozen(model, cut) or not prefix_is_deterministic(model, cut):
            raise ValueError("the prefix before the cache cut is not frozen and deterministic")
        if prefix_digest(model, cut) != h5.attrs["prefix_digest"]:
            raise ValueError("the model's prefix (layers, weights or Keras version) differs from the one the "
                             "cache was computed with")
        self.settings = settings
        self.cache_cut = cut
        self.views = bool(json.loads(h5.attrs["key"])["dihedral"])
        self.rows = open_rows(h5, tensor_names(h5), budget_mb, views=True, source=h5.filename)
        self.used = None  # the rows held in self.rows, once the job's rows are advanced (else all)
        if own_cut > cut and prefix_is_deterministic(model, own_cut):
            cut = self._advance(model, cut, own_cut, np.unique(used_rows), budget_mb)
        self.split = split_classifier(model, cut)
        self.suffix = self.split.suffix
        # One optimizer for both models, built on the classifier's variable order (``compiled_model``),
        # so the optimizer state saved with the classifier's checkpoints resumes the suffix's training.
        compile_classifier(self.suffix, model.optimizer, jit_compile)

    def _advance(self, model, cut, own_cut, rows, budget_mb):
        """Run the frozen layers between ``cut`` and ``own_cut`` once over ``rows`` (all views);
        returns the cut the suffix starts at (``cut`` itself when the result would exceed the budget)."""
        from astrotune.data.pipeline import MB, Rows
        from astrotune.models.cut import middle_model, model_input, prefix_outputs

        middle = middle_model(model, cut, own_cut)
        shapes = [tuple(output.shape[1:]) for output in middle.outputs]
        n_views = N_VIEWS if self.views else 1
        nbytes = n_views * len(rows) * sum(int(np.prod(shape)) for shape in shapes) * 4
        if nbytes > budget_mb * MB:
            log.info("running the frozen layers between the cache cut and this job's cut in every epoch: "
                     "their output (%.0f MB) exceeds the in-memory budget", nbytes / MB)
            return cut
        arrays = [np.empty((n_views, len(rows), *shape), dtype="float32") for shape in shapes]
        batch = images_per_call(self.rows.row_shapes())
        for view in range(n_views):
            for start in range(0, len(rows), batch):
                part = rows[start:start + batch]
                inputs = [array.astype("float32") for array in self.rows.take(part, np.full(len(part), view))]
                for array, output in zip(arrays, prefix_outputs(middle, model_input(inputs))):
                    array[view, start:start + len(part)] = output
        self.rows, self.used = Rows(arrays, views=True), rows
        return own_cut

    def _indexed(self, rows, onehot):
        """``rows`` as positions in self.rows, and the one-hot labels by position."""
        if self.used is None:
            return rows, onehot
        return np.searchsorted(self.used, rows), onehot[self.used]

    def epoch_data(self, indices, onehot, epoch):
        """The epoch's batches: the rows of ``indices`` permuted by (seed, epoch), with a dihedral view
        per position drawn from (seed, epoch) when the cache holds views."""
        from astrotune.data.pipeline import epoch_dataset, epoch_order, epoch_views

        order = epoch_order(indices, self.settings.seed, epoch)
        views = epoch_views(len(order), self.settings.seed, epoch, N_VIEWS) if self.views else None
        return epoch_dataset(self.rows, *self._indexed(order, onehot), self.settings.batch_size, views=views)

    def eval_data(self, rows, onehot):
        """Batches of ``rows`` in order, untransformed (validation)."""
        from astrotune.data.pipeline import epoch_dataset

        return epoch_dataset(self.rows, *self._indexed(np.asarray(rows), onehot), self.settings.batch_size)
