"""Rule download_galaxy10: fetch the Galaxy10 HDF5 file with resume and SHA256 check."""

from astrotune.logs import rule_logging
from astrotune.sky.file_download import download_file
from astrotune.sky.http import RetryPolicy

with rule_logging(snakemake.log[0]):
    download_file(
        snakemake.params.url,
        snakemake.output[0],
        snakemake.params.sha256,
        max_bytes=snakemake.params.max_bytes,
        policy=RetryPolicy(retries=snakemake.params.retries, backoff_s=2.0,
                           deadline_s=snakemake.params.deadline_s, stall_s=snakemake.params.stall_s),
    )
