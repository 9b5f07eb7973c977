"""Snakemake adapter: the unsupervised baseline (backbone embeddings, PCA, k-means, Hungarian matching)."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

import json
import os

os.environ.setdefault("KERAS_HOME", os.path.abspath(snakemake.params.keras_home))

from astrotune.data.hdf5_checks import hdf5_errors  # noqa: E402
from astrotune.data.store import packed_images  # noqa: E402
from astrotune.evaluation.uncertainty import accuracy_interval  # noqa: E402
from astrotune.evaluation.unsupervised import benchmark_row, cluster_embeddings, embed  # noqa: E402
from astrotune.io import atomic_path  # noqa: E402
from astrotune.logs import rule_logging  # noqa: E402
from astrotune.reporting.paper_tables import write_table  # noqa: E402
from astrotune.training.runtime import make_deterministic, use_threads  # noqa: E402

with rule_logging(snakemake.log[0]) as log:
    use_threads(snakemake.threads)
    settings, seed = snakemake.params.settings, snakemake.params.seed
    make_deterministic(seed)
    # Read in batches from the packed file: a Galaxy10-sized set (3.5 GB) is never held whole.
    with packed_images(snakemake.input.dataset) as (dataset, images), hdf5_errors(snakemake.input.dataset, "images"):
        embeddings = embed(images, settings["backbone"], snakemake.params.weights)
    result = cluster_embeddings(embeddings, dataset.labels, len(dataset.class_names), settings["variance"],
                                settings["n_init"], seed)
    interval = accuracy_interval(dataset.labels, result.pop("predicted"), **snakemake.params.uncertainty, seed=seed)
    log.info("k-means accuracy %.4f with %d PCA components", result["accuracy"], result["n_components"])
    row = benchmark_row(result, settings["backbone"], snakemake.params.weights, interval)
    write_table(row, snakemake.output.table.removesuffix(".html"))
    with atomic_path(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps(result | {"backbone": settings["backbone"], "weights": snakemake.params.weights,
                                            "accuracy_ci": interval, "class_names": dataset.class_names},
                                  indent=1))
