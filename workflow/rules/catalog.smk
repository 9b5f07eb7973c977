# The object catalog (id, ra, dec, class, ...): an SDSS SQL query or a user's own CSV (for each data set
# of that source, with its own view's settings, common.smk).


if "sdss_query" in SOURCES:

    rule query_sdss_catalog:
        output:
            catalog="resources/{dataset}/catalog.csv",
            sql="resources/{dataset}/catalog.sql",
            provenance="resources/{dataset}/catalog.json",
        log:
            "logs/{dataset}/query_sdss_catalog.log",
        wildcard_constraints:
            dataset=datasets_of("sdss_query"),
        localrule: True
        conda:
            "../envs/astrotune.yaml"
        params:
            sdss=lambda wildcards: output_settings(view(wildcards), "sdss"),
            classes=view_value("dataset", "classes"),
            seed=view_value("seed"),
        script:
            "../scripts/query_sdss_catalog.py"


if "catalog" in SOURCES:

    for _name, _data in VIEWS.items():
        if _data["dataset"]["source"] == "catalog" and not _data["catalog"]["path"]:
            raise ValueError(
                f"config catalog.path ({_name}): set it to your CSV (id, ra, dec, class) when dataset.source is catalog"
            )

    rule import_catalog:
        input:
            catalog=view_value("catalog", "path"),
        output:
            catalog="resources/{dataset}/catalog.csv",
        log:
            "logs/{dataset}/import_catalog.log",
        wildcard_constraints:
            dataset=datasets_of("catalog"),
        localrule: True
        conda:
            "../envs/astrotune.yaml"
        params:
            classes=view_value("dataset", "classes"),
        script:
            "../scripts/import_catalog.py"
