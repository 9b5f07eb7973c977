# Galaxy10 DECaLS / SDSS: download the published HDF5 file once, pack it into results/{dataset}/dataset.h5.
# Defined only for source galaxy10: for every other source, rule pack_dataset writes the packed file.
if SOURCE == "galaxy10":

    from astrotune.sky.galaxy10 import check_classes, resolve_download

    check_classes(config["dataset"]["classes"], config["galaxy10"]["variant"])
    GALAXY10_FILE, GALAXY10_URL, GALAXY10_SHA256 = resolve_download(config["galaxy10"])

    rule download_galaxy10:
        output:
            f"resources/galaxy10/{GALAXY10_FILE}",
        log:
            f"logs/{DATASET}/download_galaxy10/{GALAXY10_FILE}.log",
        localrule: True
        conda:
            "../envs/astrotune.yaml"
        params:
            url=GALAXY10_URL,
            sha256=GALAXY10_SHA256,
        script:
            "../scripts/download_galaxy10.py"

    rule pack_galaxy10:
        input:
            rules.download_galaxy10.output,
        output:
            "results/{dataset}/dataset.h5",
        log:
            "logs/{dataset}/pack_galaxy10/pack_galaxy10.log",
        benchmark:
            "logs/benchmarks/{dataset}/pack_galaxy10/pack_galaxy10.tsv"
        conda:
            "../envs/astrotune.yaml"
        params:
            variant=config["galaxy10"]["variant"],
            classes=config["dataset"]["classes"],
            image_size=config["dataset"]["image_size"],
            n_per_class=config["galaxy10"]["n_per_class"],
            seed=config["seed"],
            sha256=GALAXY10_SHA256,
            config_hash=config_hash(packing_sections(config)),
            max_pixels=config["dataset"]["max_pixels"],
        script:
            "../scripts/pack_galaxy10.py"
