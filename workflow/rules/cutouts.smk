# SkyServer ImgCutout downloads, one job per shard of the catalog. Images of all shards share one
# folder (with each shard's resume journal); the manifests are what packing reads.


rule download_cutouts:
    input:
        catalog="resources/{dataset}/catalog.csv",
    output:
        manifest="resources/{dataset}/cutouts/manifest_{shard}.csv",
    log:
        "logs/{dataset}/download_cutouts/{shard}.log",
    benchmark:
        "logs/benchmarks/{dataset}/download_cutouts/{shard}.tsv"
    localrule: True
    conda:
        "../envs/astrotune.yaml"
    params:
        images="resources/{dataset}/cutouts/images",
        cutouts=lambda wildcards: output_settings(view(wildcards), "cutouts"),
        classes=view_value("dataset", "classes"),
        max_failed_fraction=view_value("dataset", "max_failed_fraction"),
    script:
        "../scripts/download_cutouts.py"
