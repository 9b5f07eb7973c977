# Pack the cutouts into one HDF5 file and split it (each data set, the study's or a pretraining
# source, with the settings of its own view, common.smk).


if SOURCES - {"galaxy10"}:

    rule pack_dataset:
        input:
            manifests=cutout_manifests,
        output:
            dataset="results/{dataset}/dataset.h5",
            skipped="results/{dataset}/skipped.csv",
        log:
            "logs/{dataset}/pack_dataset.log",
        benchmark:
            "logs/benchmarks/{dataset}/pack_dataset.tsv"
        wildcard_constraints:
            dataset=datasets_of("synthetic", "sdss_query", "catalog", "local_images"),
        priority: CHAIN_PRIORITY
        conda:
            "../envs/astrotune.yaml"
        threads: 8  # decoding workers; Snakemake caps them at --cores locally
        params:
            classes=view_value("dataset", "classes"),
            image_size=view_value("dataset", "image_size"),
            max_failed_fraction=view_value("dataset", "max_failed_fraction"),
            provenance=lambda wildcards: packing_provenance(view(wildcards)),
            max_pixels=view_value("dataset", "max_pixels"),
        script:
            "../scripts/pack_dataset.py"


rule split_dataset:
    input:
        dataset="results/{dataset}/dataset.h5",
    output:
        split="results/{dataset}/split.csv",
    log:
        "logs/{dataset}/split_dataset.log",
    priority: CHAIN_PRIORITY
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    conda:
        "../envs/astrotune.yaml"
    params:
        val_fraction=view_value("split", "val_fraction"),
        test_fraction=view_value("split", "test_fraction"),
        seed=view_value("seed"),
    script:
        "../scripts/split_dataset.py"
