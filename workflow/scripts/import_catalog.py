"""Snakemake adapter: a user's catalog CSV -> validated catalog CSV (ra/dec in degrees)."""

from pathlib import Path

from astrotune.logs import rule_logging
from astrotune.sky.catalog import import_catalog

with rule_logging(snakemake.log[0]):
    import_catalog(snakemake.input.catalog, snakemake.output.catalog, list(snakemake.params.classes),
                   report=Path(snakemake.log[0]).with_suffix(".bad_rows.txt"))
