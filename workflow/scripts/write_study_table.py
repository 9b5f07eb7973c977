"""Snakemake adapter: per-model metrics and histories -> the study's table in another paper's form."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

from pathlib import Path

from astrotune.logs import rule_logging
from astrotune.reporting.paper_tables import write_table
from astrotune.reporting.study_tables import load_models, study_table

with rule_logging(snakemake.log[0]) as log:
    models = load_models(snakemake.input.metrics, snakemake.input.histories)
    table = study_table(snakemake.params.form, models, snakemake.params.selection_metric)
    log.info("%s: %d rows from %d models", snakemake.params.form, len(table), len(models))
    write_table(table, Path(snakemake.output.html).with_suffix(""))
