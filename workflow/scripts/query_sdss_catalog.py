"""Snakemake adapter: SDSS SQL query through astroquery -> seeded catalog CSV + SQL + provenance JSON."""


from astrotune.logs import rule_logging
from astrotune.sky.sdss_query import query_catalog, save_catalog

with rule_logging(snakemake.log[0]):
    catalog, provenance = query_catalog(dict(snakemake.params.sdss), list(snakemake.params.classes),
                                        snakemake.params.seed)
    save_catalog(catalog, provenance, snakemake.output.catalog, snakemake.output.sql,
                 snakemake.output.provenance)
