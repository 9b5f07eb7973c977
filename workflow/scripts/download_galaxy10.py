"""Rule download_galaxy10: fetch the Galaxy10 HDF5 file with resume and SHA256 check."""

from astrotune.config import network_settings
from astrotune.logs import rule_logging
from astrotune.sky.file_download import download_file
from astrotune.sky.galaxy10 import download_cap
from astrotune.sky.http import RetryPolicy

with rule_logging(snakemake.log[0]):
    network = network_settings(snakemake.config, "galaxy10")  # how patiently: not a rerun trigger
    download_file(
        snakemake.params.url,
        snakemake.output[0],
        snakemake.params.sha256,
        max_bytes=download_cap(snakemake.config["galaxy10"]),
        policy=RetryPolicy(retries=network["retries"], backoff_s=2.0, deadline_s=network["deadline_s"],
                           stall_s=network["timeout_s"]),
    )
