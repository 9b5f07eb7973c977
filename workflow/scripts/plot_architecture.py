"""Snakemake adapter: one architecture's accuracy-vs-layers figure and training curves."""

import pandas as pd

from astrotune.logs import rule_logging
from astrotune.reporting.plots import accuracy_vs_layers, training_curves
from astrotune.reporting.results import collect_metrics

with rule_logging(snakemake.log[0]):
    arch = snakemake.wildcards.arch
    results = collect_metrics(snakemake.input.metrics)
    accuracy_vs_layers(results, arch, snakemake.output.accuracy)
    histories = {layers: pd.read_csv(path)
                 for layers, path in zip(snakemake.params.layers, snakemake.input.histories)}
    training_curves(histories, arch, snakemake.output.curves)
