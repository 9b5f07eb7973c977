"""Snakemake adapter: cutout manifests -> packed HDF5 data set + list of skipped objects."""


from astrotune.data.pack import pack
from astrotune.logs import rule_logging

with rule_logging(snakemake.log[0]):
    pack(
        snakemake.input.manifests,
        snakemake.output.dataset,
        snakemake.output.skipped,
        classes=list(snakemake.params.classes),
        image_size=snakemake.params.image_size,
        max_failed_fraction=snakemake.params.max_failed_fraction,
        provenance=dict(snakemake.params.provenance),
        max_pixels=snakemake.params.max_pixels,
        threads=snakemake.threads,
    )
