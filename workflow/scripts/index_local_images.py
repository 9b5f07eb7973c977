"""Rule index_local_images: a folder or CSV list of JPEG/PNG files -> the cutout manifest."""

from pathlib import Path

from astrotune.logs import rule_logging
from astrotune.sky.local_images import index_local_images

with rule_logging(snakemake.log[0]):
    index_local_images(
        snakemake.output[0],
        snakemake.params.classes,
        folder=snakemake.params.folder,
        manifest=snakemake.input.source if snakemake.params.from_manifest else None,
        id_column=snakemake.params.id_column,
        allowed_roots=list(snakemake.params.allowed_roots),
        max_file_mb=snakemake.params.max_file_mb,
        max_pixels=snakemake.params.max_pixels,
        report=Path(snakemake.log[0]).with_suffix(".rejected.txt"),
    )
