# The embedded default data set: a synthetic SDSS-like sky rendered as JPEG cutouts.


if SOURCE == "synthetic":

    rule render_synthetic_sky:
        output:
            manifest="resources/{dataset}/synthetic/manifest.csv",
        params:
            settings=config["synthetic"],
            classes=config["dataset"]["classes"],
            seed=config["seed"],
        conda:
            "../envs/astrotune.yaml"
        log:
            "logs/{dataset}/render_synthetic_sky.log",
        benchmark:
            "logs/benchmarks/{dataset}/render_synthetic_sky.tsv"
        script:
            "../scripts/render_synthetic_sky.py"
