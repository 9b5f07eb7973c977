"""Snakemake adapter: packed data set -> stratified split CSV (id, subset)."""

from astrotune.data.split import stratified_split
from astrotune.data.store import read_dataset
from astrotune.io import atomic_path
from astrotune.logs import rule_logging

with rule_logging(snakemake.log[0]) as log:
    # Every image block is decoded once here, so a damaged chunk is named now, not inside a training job.
    dataset = read_dataset(snakemake.input.dataset, with_images=False, verify=True)
    split = stratified_split(dataset.ids, dataset.labels, snakemake.params.val_fraction,
                             snakemake.params.test_fraction, snakemake.params.seed,
                             source=snakemake.input.dataset)
    log.info("subset sizes: %s", split["subset"].value_counts().to_dict())
    with atomic_path(snakemake.output.split) as tmp:
        split.to_csv(tmp, index=False)
