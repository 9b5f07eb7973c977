# The embedded default data set: a synthetic SDSS-like sky rendered as JPEG cutouts.


if SOURCE == "synthetic":

    rule render_synthetic_sky:
        output:
            manifest="resources/{dataset}/synthetic/manifest.csv",
        log:
            "logs/{dataset}/render_synthetic_sky.log",
        benchmark:
            "logs/benchmarks/{dataset}/render_synthetic_sky.tsv"
        conda:
            "../envs/astrotune.yaml"
        params:
            settings=config["synthetic"],
            classes=config["dataset"]["classes"],
            seed=config["seed"],
        script:
            "../scripts/render_synthetic_sky.py"
