"""Snakemake adapter: trainable-parameter counts of one architecture at every trainable-layer count."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

from astrotune.io import atomic_path
from astrotune.logs import rule_logging
from astrotune.models.heads import HeadSettings
from astrotune.reporting.paper_tables import architecture_summary

with rule_logging(snakemake.log[0]) as log:
    summary = architecture_summary(snakemake.wildcards.arch, snakemake.params.schedule,
                                   snakemake.params.n_classes, snakemake.params.input_shape,
                                   HeadSettings.from_config(snakemake.params.head))
    log.info("%s: %d layers, %d parameters", snakemake.wildcards.arch,
             summary["total_layers"].iloc[0], summary["total_params"].iloc[0])
    with atomic_path(snakemake.output[0]) as tmp:
        summary.to_csv(tmp, index=False)
