"""Snakemake adapter: trainable-parameter counts of each architecture at every trainable-layer count."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

from pathlib import Path

from astrotune.io import atomic_path
from astrotune.logs import rule_logging
from astrotune.models.heads import HeadSettings
from astrotune.reporting.paper_tables import architecture_summary

with rule_logging(snakemake.log[0]) as log:
    for path in snakemake.output.summaries:  # results/<dataset>/architectures/<arch>.csv
        arch = Path(path).stem
        summary = architecture_summary(arch, snakemake.params.schedules[arch], snakemake.params.n_classes,
                                       snakemake.params.input_shape, HeadSettings.from_config(snakemake.params.heads[arch]))
        log.info("%s: %d layers, %d parameters", arch, summary["total_layers"].iloc[0], summary["total_params"].iloc[0])
        with atomic_path(path) as tmp:
            summary.to_csv(tmp, index=False)
