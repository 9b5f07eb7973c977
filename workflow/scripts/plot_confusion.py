"""Snakemake adapter: confusion-matrix figure (counts and row-normalised) of one trained model."""

import json

from astrotune.logs import rule_logging
from astrotune.reporting.plots import confusion_matrices

with rule_logging(snakemake.log[0]):
    metrics = json.loads(open(snakemake.input.metrics).read())
    confusion_matrices(metrics, f"{snakemake.wildcards.arch}, {snakemake.wildcards.layers} trainable layers",
                       snakemake.output.figure)
