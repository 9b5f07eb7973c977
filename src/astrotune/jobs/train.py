"""One training job of the workflow, from its input files to its output files.

``run_training_job`` reads the packed data set and its split, trains (or resumes) the model with
``loop.train``, predicts its validation and test rows plainly and (unless switched off) with
test-time augmentation, and writes the model, history, predictions and summary atomically. The
Snakemake script only passes the rule's paths and settings.
"""

import json
from dataclasses import dataclass

import h5py
import pandas as pd

from astrotune.data.pipeline import streamed_rows
from astrotune.data.store import read_dataset
from astrotune.data.subsets import read_split, subset_indices
from astrotune.evaluation.metrics import VIEWS, predictions_table
from astrotune.io import atomic_path
from astrotune.jobs.digest import dataset_digest
from astrotune.models.cut import unwrapped_classifier
from astrotune.models.metadata import attach_metadata
from astrotune.models.zoo import save_model
from astrotune.training.checkpoints import remove_checkpoints, training_fingerprint
from astrotune.training.feature_cache import CacheFile
from astrotune.training.loop import model_summary, train

SUBSETS = ("train", "val", "test")


@dataclass(frozen=True)
class JobOutputs:
    """Where a training job writes: the model, its history, predictions and summary."""

    model: str
    history: str
    predictions: str
    summary: str


def run_training_job(dataset_path, split_path, arch, layers, settings, performance, checkpoint_dir, outputs,
                     feature_paths=(), feature_layers=None, schedule="", feature_seed=None, test_time_augmentation=True):
    """Train one (architecture, layers) model on a packed data set and write its outputs.

    Args:
        dataset_path, split_path: the packed HDF5 data set and its split CSV.
        arch, layers: architecture and trainable last base layers.
        settings: ``settings.TrainingSettings``; performance: ``settings.PerformanceSettings``.
        checkpoint_dir: per-epoch checkpoints (removed once the outputs are written).
        outputs: ``JobOutputs``.
        feature_paths: the schedule's feature cache file, if any (at most one).
        feature_layers: the trainable-layer count of that cache's cut.
        feature_seed: the seed that cache was computed with (the study's), if not ``settings.seed``.
        schedule: how the layer count was asked for (``L<N>``, ``frozen <p>%``, ``scratch``).
        test_time_augmentation: also predict the mean over each image's 8 dihedral views (view ``tta``).
    """
    dataset = read_dataset(dataset_path, with_images=False)
    # Nothing is read yet: training on images loads them (under the memory budget) or streams them;
    # training on cached tensors reads only the rows predicted below (the file stays open until exit).
    images = streamed_rows(h5py.File(dataset_path, "r"), ["images"], source=dataset_path)
    split = read_split(split_path)
    rows = {subset: subset_indices(dataset, split, subset, split_path) for subset in SUBSETS}
    dataset_sha256 = dataset_digest(dataset_path)  # hashed once per file (a sidecar): Galaxy10's file is GBs
    features = [CacheFile(path, dataset_sha256, feature_layers, feature_seed) for path in feature_paths]
    model, history, state = train(
        images, dataset.labels, rows["train"], rows["val"], n_classes=len(dataset.class_names), arch=arch,
        layers=layers, settings=settings, checkpoint_dir=checkpoint_dir,
        fingerprint=training_fingerprint(dataset_sha256, split_path, arch, layers, settings),
        features=features[0] if features else None, performance=performance)
    views = VIEWS if test_time_augmentation else ("plain",)
    tables = []
    for subset in ("val", "test"):
        if len(rows[subset]):
            subset_images = images.take(rows[subset])[0]
            tables += [predictions_table(model, subset_images, dataset.ids[rows[subset]], dataset.labels[rows[subset]],
                                         subset, dataset.class_names, view) for view in views]
    predictions = pd.concat(tables)
    # Saved with its base called directly (training.batchnorm frozen wraps it for fit only); the
    # same predictions, and the layout evaluation and explanation expect.
    saved = unwrapped_classifier(model)
    attach_metadata(saved, dataset.provenance, dataset.class_names)
    save_model(saved, outputs.model)
    with atomic_path(outputs.history) as tmp:
        history.to_csv(tmp, index=False)
    with atomic_path(outputs.predictions) as tmp:
        predictions.to_csv(tmp, index=False)
    summary = model_summary(model, arch, layers, settings, state) | {"class_names": dataset.class_names,
                                                                     "schedule": schedule}
    with atomic_path(outputs.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    remove_checkpoints(checkpoint_dir)
