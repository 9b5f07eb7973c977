# The object catalog (id, ra, dec, class, ...): an SDSS SQL query or a user's own CSV.


if SOURCE == "sdss_query":

    rule query_sdss_catalog:
        output:
            catalog="resources/{dataset}/catalog.csv",
            sql="resources/{dataset}/catalog.sql",
            provenance="resources/{dataset}/catalog.json",
        log:
            "logs/{dataset}/query_sdss_catalog.log",
        localrule: True
        conda:
            "../envs/astrotune.yaml"
        params:
            sdss=output_settings(config, "sdss"),
            classes=config["dataset"]["classes"],
            seed=config["seed"],
        script:
            "../scripts/query_sdss_catalog.py"


if SOURCE == "catalog":

    if not config["catalog"]["path"]:
        raise ValueError("config catalog.path: set it to your CSV (id, ra, dec, class) when dataset.source is catalog")

    rule import_catalog:
        input:
            catalog=config["catalog"]["path"],
        output:
            catalog="resources/{dataset}/catalog.csv",
        log:
            "logs/{dataset}/import_catalog.log",
        localrule: True
        conda:
            "../envs/astrotune.yaml"
        params:
            classes=config["dataset"]["classes"],
        script:
            "../scripts/import_catalog.py"
