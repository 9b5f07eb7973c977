"""Snakemake adapter: per-architecture summaries -> paper Tables 2 and 3 beside the paper's values."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

from pathlib import Path

import pandas as pd

from astrotune.logs import rule_logging
from astrotune.reporting.paper_tables import DIFFERS, table2, table3, write_table

with rule_logging(snakemake.log[0]) as log:
    summaries = pd.concat([pd.read_csv(path) for path in snakemake.input], ignore_index=True)
    for name, table, checks in (("table2", table2(summaries), ["layers_check", "parameters_check"]),
                                ("table3", table3(summaries), ["check"])):
        for row in table[(table[checks] == DIFFERS).any(axis=1)].itertuples():
            log.warning("%s %s differs from the paper: %s", name, row.arch, row.note)
        write_table(table, Path(snakemake.output[name]).with_suffix(""))
