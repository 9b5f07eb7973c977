"""Snakemake adapter: Grad-CAM and saliency grids of every trained model on seeded validation images."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

import json

import numpy as np

from astrotune.data.hdf5_checks import read_rows
from astrotune.data.store import packed_images
from astrotune.data.subsets import read_split, subset_indices
from astrotune.evaluation.explain import explain_models, select_examples
from astrotune.io import atomic_path
from astrotune.logs import rule_logging
from astrotune.reporting.plots import explanation_grid
from astrotune.training.runtime import use_threads

with rule_logging(snakemake.log[0]):
    use_threads(snakemake.threads)
    # Only the explained images are read from the packed file, never the whole set.
    with packed_images(snakemake.input.dataset) as (dataset, packed):
        val = subset_indices(dataset, read_split(snakemake.input.split), "val", snakemake.input.split)
        chosen = val[select_examples(dataset.labels[val], len(dataset.class_names),
                                     snakemake.params.images_per_class, snakemake.params.seed)]
        images = np.stack([read_rows(snakemake.input.dataset, packed, row, row + 1)[0] for row in chosen])
    labels = [f"{arch} L{layers}" for arch, layers in snakemake.params.jobs]
    explanations = explain_models(
        dict(zip(labels, snakemake.input.models)), images,
        {label: snakemake.params.feature_maps.get(arch) for label, (arch, _) in zip(labels, snakemake.params.jobs)})
    captions = [f"{dataset.ids[i]} ({dataset.class_names[dataset.labels[i]]})" for i in chosen]
    explained = {label: [dataset.class_names[c] for c in e["classes"]] for label, e in explanations.items()}
    explanation_grid(images, {label: e["gradcam"] for label, e in explanations.items()}, captions,
                     ("original", "Grad-CAM", "overlay"), "Grad-CAM", snakemake.output.gradcam, explained)
    explanation_grid(images, {label: e["saliency"] for label, e in explanations.items()}, captions,
                     ("original", "saliency", "overlay"), "Gradient saliency", snakemake.output.saliency, explained)
    record = {"ids": [str(dataset.ids[i]) for i in chosen],
              "true_class": [dataset.class_names[dataset.labels[i]] for i in chosen],
              "models": {label: {"feature_layer": e["layer"],
                                 "explained_class": explained[label]}
                         for label, e in explanations.items()}}
    with atomic_path(snakemake.output.record) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
