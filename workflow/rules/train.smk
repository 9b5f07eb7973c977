# Train and evaluate one model per (architecture, trainable layers).

rule fetch_imagenet_weights:
    localrule: True
    output:
        record=f"{KERAS_HOME}/{{arch}}.imagenet.json",
    params:
        keras_home=lambda wildcards, output: os.path.dirname(output.record),
    conda:
        "../envs/astrotune.yaml"
    log:
        "logs/fetch_imagenet_weights/{arch}.log",
    script:
        "../scripts/fetch_imagenet_weights.py"


rule train_model:
    input:
        dataset="results/{dataset}/dataset.h5",
        split="results/{dataset}/split.csv",
        weights=weights_inputs,
    output:
        model=f"{MODEL_DIR}/model.keras",
        history=f"{MODEL_DIR}/history.csv",
        summary=f"{MODEL_DIR}/summary.json",
        predictions=f"{MODEL_DIR}/predictions.csv",
    params:
        training=lambda wildcards: job_step(wildcards).training_section(config["training"]),
        schedule=lambda wildcards: job_step(wildcards).schedule,
        seed=config["seed"],
        keras_home=KERAS_HOME,
        checkpoint_dir=lambda wildcards, output: os.path.join(os.path.dirname(output.model), "checkpoint"),
    threads: 1
    resources:
        gpu=1,
    conda:
        "../envs/astrotune.yaml"
    log:
        "logs/{dataset}/train_model/{arch}/L{layers}.log",
    benchmark:
        "benchmarks/{dataset}/train_model/{arch}/L{layers}.tsv"
    script:
        "../scripts/train_model.py"


rule evaluate_model:
    input:
        summary=f"{MODEL_DIR}/summary.json",
        predictions=f"{MODEL_DIR}/predictions.csv",
    output:
        metrics=MODEL_METRICS,
    params:
        top_k=config["metrics"]["top_k"],
    threads: 1
    conda:
        "../envs/astrotune.yaml"
    log:
        "logs/{dataset}/evaluate_model/{arch}/L{layers}.log",
    script:
        "../scripts/evaluate_model.py"
