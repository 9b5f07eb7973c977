# Pack the cutouts into one HDF5 file and split it.


if SOURCE != "galaxy10":

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
        conda:
            "../envs/astrotune.yaml"
        threads: 8  # decoding workers; Snakemake caps them at --cores locally
        params:
            classes=config["dataset"]["classes"],
            image_size=config["dataset"]["image_size"],
            max_failed_fraction=config["dataset"]["max_failed_fraction"],
            provenance=packing_provenance(config),
            max_pixels=config["dataset"]["max_pixels"],
        script:
            "../scripts/pack_dataset.py"


rule split_dataset:
    input:
        dataset="results/{dataset}/dataset.h5",
    output:
        split="results/{dataset}/split.csv",
    log:
        "logs/{dataset}/split_dataset.log",
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    conda:
        "../envs/astrotune.yaml"
    params:
        val_fraction=config["split"]["val_fraction"],
        test_fraction=config["split"]["test_fraction"],
        seed=config["seed"],
    script:
        "../scripts/split_dataset.py"
