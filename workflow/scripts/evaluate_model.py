"""Snakemake adapter: metrics of one trained model from its validation (and test) predictions."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

import json

import pandas as pd

from astrotune.evaluation.metrics import score_intervals, subset_metrics
from astrotune.io import atomic_path
from astrotune.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    summary = json.loads(open(snakemake.input.summary).read())
    predictions = pd.read_csv(snakemake.input.predictions)
    # Whether training used its feature cache ("used", or why not), as the training job recorded it.
    summary["cache"] = summary.get("cache", "not recorded")
    log.info("feature cache: %s", summary["cache"])
    # Where the base's initial weights came from (imagenet, random, pretrained on <source>, file <path>).
    summary["weights_origin"] = snakemake.params.weights_origin
    result = summary | subset_metrics(predictions, summary["class_names"], snakemake.params.top_k)
    for subset, intervals in score_intervals(predictions, **snakemake.params.uncertainty,
                                             seed=snakemake.params.seed).items():
        result[subset] |= intervals
        for name, interval in intervals.items():
            score = name.removesuffix("_ci")
            log.info("%s %s %.4f (%.0f%% CI %.4f-%.4f)", subset, score.replace("_", " "), interval[score],
                     100 * interval["confidence"], interval["ci_low"], interval["ci_high"])
    with atomic_path(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
