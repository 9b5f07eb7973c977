"""Snakemake adapter: per-model metrics -> accuracy summary, DVC metrics, paper Tables 4 and 5."""

import json
from pathlib import Path


from astrotune.io import atomic_path
from astrotune.logs import rule_logging
from astrotune.results import collect_metrics
from astrotune.tables import table4, table5, write_table

with rule_logging(snakemake.log[0]):
    results = collect_metrics(snakemake.input.metrics)
    with atomic_path(snakemake.output.summary) as tmp:
        results.to_csv(tmp, index=False)
    accuracy = {arch: {f"L{row.layers}": row.accuracy for row in group.itertuples()}
                for arch, group in results.groupby("arch")}
    with atomic_path(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps(accuracy, indent=1, sort_keys=True))
    write_table(table4(results), Path(snakemake.output.table4).with_suffix(""))
    write_table(table5(results), Path(snakemake.output.table5).with_suffix(""))
