# The embedded default data set: a synthetic SDSS-like sky rendered as JPEG cutouts (also a pretraining
# source's sky: each data set's settings come from its view, common.smk).


if "synthetic" in SOURCES:

    rule render_synthetic_sky:
        output:
            manifest="resources/{dataset}/synthetic/manifest.csv",
        log:
            "logs/{dataset}/render_synthetic_sky.log",
        benchmark:
            "logs/benchmarks/{dataset}/render_synthetic_sky.tsv"
        wildcard_constraints:
            dataset=datasets_of("synthetic"),
        priority: CHAIN_PRIORITY
        conda:
            "../envs/astrotune.yaml"
        params:
            settings=view_value("synthetic"),
            classes=view_value("dataset", "classes"),
            seed=view_value("seed"),
        script:
            "../scripts/render_synthetic_sky.py"
