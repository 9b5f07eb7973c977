# A user's folder of class subfolders or CSV list of JPEG/PNG files -> the cutout manifest packing reads.
if SOURCE == "local_images":

    from astrotune.sky.local_images import listed_input

    rule index_local_images:
        input:
            source=listed_input(config["local_images"]),
        output:
            "resources/{dataset}/local_images/manifest.csv",
        log:
            "logs/{dataset}/index_local_images/index_local_images.log",
        conda:
            "../envs/astrotune.yaml"
        params:
            folder=config["local_images"]["path"],
            from_manifest=bool(config["local_images"]["manifest"]),
            classes=config["dataset"]["classes"],
            id_column=config["local_images"]["id_column"],
            allowed_roots=config["local_images"]["allowed_roots"],
            max_file_mb=config["local_images"]["max_file_mb"],
            max_pixels=config["dataset"]["max_pixels"],
        script:
            "../scripts/index_local_images.py"
