"""Snakemake adapter: one shard of the catalog -> SkyServer cutouts + the shard's manifest."""


from astrotune.config import network_settings
from astrotune.logs import rule_logging
from astrotune.sky.catalog import read_catalog
from astrotune.sky.skyserver import CutoutSettings, download_shard

with rule_logging(snakemake.log[0]):
    # What to download comes from params (a rerun trigger); how politely, from the config (never a trigger).
    cutouts = dict(snakemake.params.cutouts) | network_settings(snakemake.config, "cutouts")
    download_shard(
        read_catalog(snakemake.input.catalog, list(snakemake.params.classes)),
        manifest_path=snakemake.output.manifest,
        images_dir=snakemake.params.images,
        settings=CutoutSettings.from_config(cutouts),
        shard=int(snakemake.wildcards.shard),
        shards=cutouts["shards"],
        max_failed_fraction=snakemake.params.max_failed_fraction,
    )
