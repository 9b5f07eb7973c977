"""Snakemake adapter: metrics of one trained model from its validation (and test) predictions."""

import json

import pandas as pd

from astrotune.evaluate import subset_metrics
from astrotune.io import atomic_path
from astrotune.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    summary = json.loads(open(snakemake.input.summary).read())
    predictions = pd.read_csv(snakemake.input.predictions)
    result = summary | subset_metrics(predictions, summary["class_names"], snakemake.params.top_k)
    for subset in ("val", "val_tta", "test", "test_tta"):
        if subset in result:
            log.info("%s accuracy %.4f", subset, result[subset]["accuracy"])
    with atomic_path(snakemake.output.metrics) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
