# A user's folder of class subfolders or CSV list of JPEG/PNG files -> the cutout manifest packing reads.
if "local_images" in SOURCES:

    from astrotune.sky.local_images import listed_input

    for _data in VIEWS.values():
        if _data["dataset"]["source"] == "local_images":
            listed_input(_data["local_images"])  # an unset path fails here, before any job

    rule index_local_images:
        input:
            source=lambda wildcards: listed_input(view(wildcards)["local_images"]),
        output:
            "resources/{dataset}/local_images/manifest.csv",
        log:
            "logs/{dataset}/index_local_images/index_local_images.log",
        wildcard_constraints:
            dataset=datasets_of("local_images"),
        conda:
            "../envs/astrotune.yaml"
        params:
            folder=view_value("local_images", "path"),
            from_manifest=lambda wildcards: bool(view(wildcards)["local_images"]["manifest"]),
            classes=view_value("dataset", "classes"),
            id_column=view_value("local_images", "id_column"),
            allowed_roots=view_value("local_images", "allowed_roots"),
            max_file_mb=view_value("local_images", "max_file_mb"),
            max_pixels=view_value("dataset", "max_pixels"),
        script:
            "../scripts/index_local_images.py"
