"""Snakemake adapter: pretrain one architecture's whole base on the pretraining source data set (after
checking it shares no object with the study's data set) and save its weights, metrics and provenance."""

import os

from job_env import gpu_job, resolve_memory_budget

gpu_job()  # a GPU job: TensorFlow takes GPU memory as it grows
resolve_memory_budget(snakemake)  # performance.memory_budget_mb auto: a quarter of this job's mem_mb
os.environ["KERAS_HOME"] = os.path.abspath(snakemake.params.keras_home)

from astrotune.jobs.pretrain import PretrainOutputs, run_pretraining  # noqa: E402
from astrotune.logs import rule_logging  # noqa: E402
from astrotune.training.runtime import use_threads  # noqa: E402
from astrotune.training.settings import PerformanceSettings, TrainingSettings  # noqa: E402

with rule_logging(snakemake.log[0]) as log:
    use_threads(snakemake.threads)
    # run_pretraining refuses a source sharing objects with the study's data set before it trains.
    metrics = run_pretraining(
        snakemake.input.dataset, snakemake.input.split, snakemake.input.target, snakemake.wildcards.arch,
        int(snakemake.params.layers), TrainingSettings.from_config(snakemake.params.training, seed=snakemake.params.seed),
        PerformanceSettings.from_config(snakemake.config["performance"]), snakemake.params.checkpoint_dir,
        PretrainOutputs(snakemake.output.weights, snakemake.output.metrics, snakemake.output.provenance,
                        snakemake.output.history),
        dict(snakemake.params.provenance))
    log.info("pretrained %s on %s: validation accuracy %s (majority class %s)", snakemake.wildcards.arch,
             metrics["source"], metrics["val"]["accuracy"], metrics["val"]["majority"])
