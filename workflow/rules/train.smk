# Train and evaluate one model per (architecture, trainable layers).


rule fetch_imagenet_weights:
    output:
        record=f"{KERAS_HOME}/{{arch}}_{{size}}px.imagenet.json",
    log:
        f"logs/{DATASET}/fetch_imagenet_weights/{{arch}}_{{size}}px.log",
    localrule: True
    conda:
        "../envs/astrotune.yaml"
    params:
        keras_home=lambda wildcards, output: os.path.dirname(output.record),
        input_shape=lambda wildcards: [int(wildcards.size), int(wildcards.size), 3],
    script:
        "../scripts/fetch_imagenet_weights.py"


rule train_model:
    input:
        dataset="results/{dataset}/dataset.h5",
        split="results/{dataset}/split.csv",
        weights=weights_inputs,
        features=feature_cache,
    output:
        model=f"{MODEL_DIR}/model.keras",
        history=f"{MODEL_DIR}/history.csv",
        summary=f"{MODEL_DIR}/summary.json",
        predictions=f"{MODEL_DIR}/predictions.csv",
    log:
        "logs/{dataset}/train_model/{arch}/L{layers}{replicate}.log",
    benchmark:
        "logs/benchmarks/{dataset}/train_model/{arch}/L{layers}{replicate}.tsv"
    priority: CHAIN_PRIORITY
    conda:
        "../envs/astrotune.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        training=lambda wildcards: job_step(wildcards).training_section(config["training"]),
        schedule=lambda wildcards: job_step(wildcards).schedule,
        seed=training_seed,  # the run's; its feature cache was computed with the study's seed (config seed)
        # The memory budget (in-memory or streamed input) and require_cache (fail or fall back) never change a
        # number: not rerun triggers.
        performance={
            key: value
            for key, value in config["performance"].items()
            if key not in ("memory_budget_mb", "require_cache")
        },
        feature_layers=lambda wildcards: cache_layers(wildcards.arch),
        test_time_augmentation=config["metrics"]["test_time_augmentation"],
        keras_home=KERAS_HOME,
        checkpoint_dir=lambda wildcards, output: os.path.join(os.path.dirname(output.model), "checkpoint"),
    script:
        "../scripts/train_model.py"


rule evaluate_model:
    input:
        summary=f"{MODEL_DIR}/summary.json",
        predictions=f"{MODEL_DIR}/predictions.csv",
    output:
        metrics=MODEL_METRICS,
    log:
        "logs/{dataset}/evaluate_model/{arch}/L{layers}{replicate}.log",
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    conda:
        "../envs/astrotune.yaml"
    threads: 1
    params:
        uncertainty=config["uncertainty"],
        seed=config["seed"],  # the bootstrap's: the same resamples for every run
        top_k=config["metrics"]["top_k"],
        # Where the base's initial weights came from, for the tables: imagenet, random, pretrained on <source>.
        weights_origin=lambda wildcards: weights_origin(wildcards),
    script:
        "../scripts/evaluate_model.py"
