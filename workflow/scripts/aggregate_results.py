"""Snakemake adapter: per-model metrics -> accuracy summary, DVC metrics, Tables 4 and 5; models are chosen
on the validation score of config ``tables.selection_metric``."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

import json
from pathlib import Path

from astrotune.evaluation.uncertainty import compare_prediction_files
from astrotune.io import atomic_path
from astrotune.logs import rule_logging
from astrotune.reporting.paper_tables import table4, table5, write_table
from astrotune.reporting.results import accuracy_metrics, cache_counts, cache_refused, collect_metrics, select_best

with rule_logging(snakemake.log[0]) as log:
    metric = snakemake.params.selection_metric
    results = collect_metrics(snakemake.input.metrics)
    log.info("feature cache: %s", cache_counts(results))
    for row in results[cache_refused(results)].itertuples():
        log.warning("%s L%d (seed %s) trained the full model: feature cache %s", row.arch, row.layers, row.seed,
                    row.cache)
    with atomic_path(snakemake.output.summary) as tmp:
        results.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps(accuracy_metrics(results, metric), indent=1, sort_keys=True))
    predictions = dict(zip(zip(snakemake.params.archs, snakemake.params.layers), snakemake.input.predictions))
    chosen = select_best(results, metric)
    log.info("chosen on val %s: %s", metric, chosen["layers"].to_dict())
    comparison = compare_prediction_files(
        {arch: predictions[arch, int(chosen.loc[arch, "layers"])] for arch in chosen.index}, subset="val",
        **snakemake.params.uncertainty, seed=snakemake.params.seed, score=metric)
    compare = snakemake.params.paper_comparison
    write_table(table4(results, compare, metric), Path(snakemake.output.table4).with_suffix(""))
    write_table(table5(results, compare, comparison, metric), Path(snakemake.output.table5).with_suffix(""))
