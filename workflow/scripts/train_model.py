"""Snakemake adapter: train one (architecture, trainable layers) model, resuming from checkpoints,
then predict its validation (and test) images, plain and with test-time augmentation."""

import os

from job_env import gpu_job, resolve_memory_budget

gpu_job()  # a GPU job: TensorFlow takes GPU memory as it grows
resolve_memory_budget(snakemake)  # performance.memory_budget_mb auto: a quarter of this job's mem_mb
os.environ["KERAS_HOME"] = os.path.abspath(snakemake.params.keras_home)

from astrotune.jobs.train import JobOutputs, run_training_job  # noqa: E402
from astrotune.logs import rule_logging  # noqa: E402
from astrotune.training.runtime import use_threads  # noqa: E402
from astrotune.training.settings import PerformanceSettings, TrainingSettings  # noqa: E402

with rule_logging(snakemake.log[0]):
    use_threads(snakemake.threads)
    run_training_job(
        snakemake.input.dataset, snakemake.input.split, snakemake.wildcards.arch, int(snakemake.wildcards.layers),
        TrainingSettings.from_config(snakemake.params.training, seed=snakemake.params.seed),
        PerformanceSettings.from_config(snakemake.config["performance"]),
        snakemake.params.checkpoint_dir,
        JobOutputs(snakemake.output.model, snakemake.output.history, snakemake.output.predictions,
                   snakemake.output.summary),
        feature_paths=list(snakemake.input.features), feature_layers=snakemake.params.feature_layers,
        schedule=snakemake.params.schedule, test_time_augmentation=snakemake.params.test_time_augmentation,
        # The cache rule computes with the study's seed; a run of another training seed shares that cache.
        feature_seed=snakemake.config["seed"])
