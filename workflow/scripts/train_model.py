"""Snakemake adapter: train one (architecture, trainable layers) model, resuming from checkpoints,
then predict its validation (and test) images, plain and with test-time augmentation."""

import json
import os

import pandas as pd

os.environ["KERAS_HOME"] = os.path.abspath(snakemake.params.keras_home)

import h5py  # noqa: E402

from astrotune.checkpoints import remove_checkpoints, training_fingerprint  # noqa: E402
from astrotune.data.pipeline import PerformanceSettings, open_rows  # noqa: E402
from astrotune.data.store import read_dataset  # noqa: E402
from astrotune.data.subsets import read_split, subset_indices  # noqa: E402
from astrotune.evaluate import VIEWS, predictions_table  # noqa: E402
from astrotune.features import CacheFile  # noqa: E402
from astrotune.io import atomic_path, sha256_file  # noqa: E402
from astrotune.logs import rule_logging  # noqa: E402
from astrotune.models.metadata import attach_metadata  # noqa: E402
from astrotune.models.zoo import save_model  # noqa: E402
from astrotune.train import TrainingSettings, model_summary, train, use_threads  # noqa: E402

with rule_logging(snakemake.log[0]):
    use_threads(snakemake.threads)
    performance = PerformanceSettings(**snakemake.params.performance,
                                      memory_budget_mb=snakemake.config["performance"]["memory_budget_mb"])
    dataset = read_dataset(snakemake.input.dataset, with_images=False)
    # Held in memory under the budget, else streamed batch by batch (the file stays open until exit).
    images = open_rows(h5py.File(snakemake.input.dataset, "r"), ["images"], performance.memory_budget_mb,
                       source=snakemake.input.dataset)
    split = read_split(snakemake.input.split)
    rows = {subset: subset_indices(dataset, split, subset, snakemake.input.split)
            for subset in ("train", "val", "test")}
    settings = TrainingSettings.from_config(snakemake.params.training, seed=snakemake.params.seed)
    arch, layers = snakemake.wildcards.arch, int(snakemake.wildcards.layers)
    checkpoint_dir = snakemake.params.checkpoint_dir
    dataset_sha256 = sha256_file(snakemake.input.dataset)  # hashed once: Galaxy10's file is GBs
    features = [CacheFile(path, dataset_sha256, snakemake.params.feature_layers) for path in snakemake.input.features]
    model, history, state = train(
        images, dataset.labels, rows["train"], rows["val"],
        n_classes=len(dataset.class_names), arch=arch, layers=layers, settings=settings,
        checkpoint_dir=checkpoint_dir,
        fingerprint=training_fingerprint(dataset_sha256, snakemake.input.split, arch, layers, settings),
        features=features[0] if features else None, performance=performance,
    )
    predictions = pd.concat([
        predictions_table(model, images.take(rows[subset])[0], dataset.ids[rows[subset]],
                          dataset.labels[rows[subset]], subset, dataset.class_names, view)
        for subset in ("val", "test") if len(rows[subset]) for view in VIEWS])
    attach_metadata(model, dataset.provenance, dataset.class_names)
    save_model(model, snakemake.output.model)
    with atomic_path(snakemake.output.history) as tmp:
        history.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.predictions) as tmp:
        predictions.to_csv(tmp, index=False)
    summary = model_summary(model, arch, layers, settings, state) | {"class_names": dataset.class_names,
                                                                     "schedule": snakemake.params.schedule}
    with atomic_path(snakemake.output.summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    remove_checkpoints(checkpoint_dir)
