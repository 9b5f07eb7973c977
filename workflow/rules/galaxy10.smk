# Galaxy10 DECaLS / SDSS: download the published HDF5 file once, pack it into results/{dataset}/dataset.h5.
# Defined only where a data set (the study's or a pretraining source) has source galaxy10: for every other
# source, rule pack_dataset writes the packed file. Each data set's settings come from its view (common.smk).
if "galaxy10" in SOURCES:

    from astrotune.sky.galaxy10 import check_classes, resolve_download

    GALAXY10 = {}  # data set -> (file name, URL, SHA256)
    for _name, _data in VIEWS.items():
        if _data["dataset"]["source"] == "galaxy10":
            check_classes(_data["dataset"]["classes"], _data["galaxy10"]["variant"])
            GALAXY10[_name] = resolve_download(_data["galaxy10"])
    GALAXY10_FILES = {entry[0]: entry for entry in GALAXY10.values()}

    rule download_galaxy10:
        output:
            "resources/galaxy10/{galaxy10_file}",
        log:
            f"logs/{DATASET}/download_galaxy10/{{galaxy10_file}}.log",
        wildcard_constraints:
            galaxy10_file="|".join(re.escape(name) for name in GALAXY10_FILES),
        localrule: True
        conda:
            "../envs/astrotune.yaml"
        params:
            url=lambda wildcards: GALAXY10_FILES[wildcards.galaxy10_file][1],
            sha256=lambda wildcards: GALAXY10_FILES[wildcards.galaxy10_file][2],
        script:
            "../scripts/download_galaxy10.py"

    rule pack_galaxy10:
        input:
            lambda wildcards: f"resources/galaxy10/{GALAXY10[wildcards.dataset][0]}",
        output:
            "results/{dataset}/dataset.h5",
        log:
            "logs/{dataset}/pack_galaxy10/pack_galaxy10.log",
        benchmark:
            "logs/benchmarks/{dataset}/pack_galaxy10/pack_galaxy10.tsv"
        wildcard_constraints:
            dataset=datasets_of("galaxy10"),
        conda:
            "../envs/astrotune.yaml"
        params:
            variant=view_value("galaxy10", "variant"),
            classes=view_value("dataset", "classes"),
            image_size=view_value("dataset", "image_size"),
            n_per_class=view_value("galaxy10", "n_per_class"),
            seed=view_value("seed"),
            sha256=lambda wildcards: GALAXY10[wildcards.dataset][2],
            config_hash=lambda wildcards: config_hash(packing_sections(view(wildcards))),
            max_pixels=view_value("dataset", "max_pixels"),
        script:
            "../scripts/pack_galaxy10.py"
