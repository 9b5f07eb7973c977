"""Snakemake adapter: run an architecture's frozen prefix once over the packed data set and cache the
tensors crossing its deepest cut."""

import os

from job_env import gpu_job, resolve_memory_budget

gpu_job()  # a GPU job: TensorFlow takes GPU memory as it grows
resolve_memory_budget(snakemake)  # performance.memory_budget_mb auto: a quarter of this job's mem_mb
os.environ["KERAS_HOME"] = os.path.abspath(snakemake.params.keras_home)

from astrotune.jobs.digest import dataset_digest  # noqa: E402
from astrotune.logs import rule_logging  # noqa: E402
from astrotune.training.feature_cache import compute_features  # noqa: E402
from astrotune.training.runtime import use_threads  # noqa: E402
from astrotune.training.settings import PerformanceSettings, TrainingSettings  # noqa: E402

with rule_logging(snakemake.log[0]):
    use_threads(snakemake.threads)
    settings = TrainingSettings.from_config(snakemake.params.training, seed=snakemake.params.seed)
    # The same performance switches as the training jobs: the prefix is built under their dtype policy.
    performance = PerformanceSettings.from_config(snakemake.config["performance"])
    compute_features(snakemake.input.dataset, snakemake.output.features, snakemake.wildcards.arch,
                     int(snakemake.wildcards.layers), settings, performance,
                     dataset_sha256=dataset_digest(snakemake.input.dataset))
