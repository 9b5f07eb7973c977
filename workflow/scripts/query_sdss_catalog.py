"""Snakemake adapter: SDSS SQL query through astroquery -> seeded catalog CSV + SQL + provenance JSON."""


from astrotune.config import network_settings
from astrotune.logs import rule_logging
from astrotune.sky.sdss_query import query_catalog, save_catalog

with rule_logging(snakemake.log[0]):
    # What to query comes from params (a rerun trigger); the time limit from the config (never a trigger).
    sdss = dict(snakemake.params.sdss) | network_settings(snakemake.config, "sdss")
    catalog, provenance = query_catalog(sdss, list(snakemake.params.classes), snakemake.params.seed)
    save_catalog(catalog, provenance, snakemake.output.catalog, snakemake.output.sql,
                 snakemake.output.provenance)
