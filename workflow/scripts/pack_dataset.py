"""Snakemake adapter: cutout manifests -> packed HDF5 data set + list of skipped objects."""


from astrotune.data.pack import pack
from astrotune.data.store import write_dataset
from astrotune.io import atomic_path
from astrotune.logs import rule_logging

with rule_logging(snakemake.log[0]):
    dataset, skipped = pack(
        snakemake.input.manifests,
        classes=list(snakemake.params.classes),
        image_size=snakemake.params.image_size,
        max_failed_fraction=snakemake.params.max_failed_fraction,
        provenance=dict(snakemake.params.provenance),
    )
    with atomic_path(snakemake.output.skipped) as tmp:
        skipped.to_csv(tmp, index=False)
    write_dataset(snakemake.output.dataset, dataset)
