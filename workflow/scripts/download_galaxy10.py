"""Rule download_galaxy10: fetch the Galaxy10 HDF5 file with resume and SHA256 check."""

from astrotune.config import network_settings
from astrotune.logs import rule_logging
from astrotune.sky.file_download import download_file

with rule_logging(snakemake.log[0]):
    network = network_settings(snakemake.config, "galaxy10")  # how patiently: not a rerun trigger
    download_file(
        snakemake.params.url,
        snakemake.output[0],
        snakemake.params.sha256,
        timeout=network["timeout_s"],
        retries=network["retries"],
    )
