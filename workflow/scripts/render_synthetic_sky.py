"""Snakemake adapter: render the synthetic sky (JPEG cutouts + manifest)."""

from astrotune.logs import rule_logging
from astrotune.sky.synthetic import render_synthetic_sky

with rule_logging(snakemake.log[0]):
    render_synthetic_sky(snakemake.output.manifest, dict(snakemake.params.settings),
                         list(snakemake.params.classes), snakemake.params.seed)
