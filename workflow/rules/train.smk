# Train and evaluate one model per (architecture, trainable layers).

MODEL_DIR = "results/{dataset}/models/{arch}/L{layers}"


def weights_inputs(wildcards):
    """What a training job needs to initialise its base: the fetched ImageNet weights or a file."""
    weights = config["training"]["weights"]
    if weights == "none":
        return []
    if weights == "imagenet":
        return [f"resources/keras/{wildcards.arch}.imagenet.json"]
    return [weights]


rule fetch_imagenet_weights:
    localrule: True
    output:
        record="resources/keras/{arch}.imagenet.json",
    params:
        keras_home="resources/keras",
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
        training=config["training"],
        seed=config["seed"],
        keras_home="resources/keras",
        checkpoint_dir=lambda wildcards: MODEL_DIR.format(**wildcards) + "/checkpoint",
    threads: 8
    resources:
        gpu=1,
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
        metrics="results/{dataset}/metrics/{arch}/L{layers}.json",
    threads: 1
    log:
        "logs/{dataset}/evaluate_model/{arch}/L{layers}.log",
    script:
        "../scripts/evaluate_model.py"
