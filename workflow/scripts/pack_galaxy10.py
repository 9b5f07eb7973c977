"""Rule pack_galaxy10: Galaxy10 HDF5 -> the project's packed data set."""

from astrotune.logs import rule_logging
from astrotune.sky.galaxy10 import pack_galaxy10

with rule_logging(snakemake.log[0]):
    pack_galaxy10(
        snakemake.input[0],
        snakemake.output[0],
        variant=snakemake.params.variant,
        classes=snakemake.params.classes,
        image_size=snakemake.params.image_size,
        n_per_class=snakemake.params.n_per_class,
        seed=snakemake.params.seed,
        sha256=snakemake.params.sha256,
        config_hash=snakemake.params.config_hash,
        max_pixels=snakemake.params.max_pixels,
    )
