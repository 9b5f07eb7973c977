# Frozen-prefix feature cache: the tensors crossing an architecture's deepest cut, computed once.


rule cache_features:
    input:
        dataset="results/{dataset}/dataset.h5",
        weights=weights_inputs,
    output:
        features="results/{dataset}/features/{arch}/L{layers}.h5",
    log:
        "logs/{dataset}/cache_features/{arch}/L{layers}.log",
    benchmark:
        "logs/benchmarks/{dataset}/cache_features/{arch}/L{layers}.tsv"
    priority: CHAIN_PRIORITY
    conda:
        "../envs/astrotune.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        # The step's weights: a pretrained base's file where the schedule says 'pretrained'.
        training=lambda wildcards: {
            key: job_step(wildcards).training_section(config["training"])[key]
            for key in ("weights", "augmentation", "center_crop")
        },
        seed=config["seed"],
        dtype=config["performance"]["feature_dtype"],
        # The cache's identity: an upgrade of Keras or TensorFlow, or another precision, reruns it.
        versions=library_versions(),
        mixed_precision=config["performance"]["mixed_precision"],
        keras_home=KERAS_HOME,
    script:
        "../scripts/cache_features.py"
