# Domain pretraining: the whole base of each architecture in PRETRAIN_ARCHS trained on the pretraining
# source data set (pretrain.source, built by the data rules into results/<source>/), saved as a weights
# file that the study's steps with weights 'pretrained' start from.


if PRETRAIN_ARCHS:

    rule pretrain_base:
        input:
            dataset=f"results/{PRETRAIN_SOURCE}/dataset.h5",
            split=f"results/{PRETRAIN_SOURCE}/split.csv",
            target=f"results/{DATASET}/dataset.h5",
            weights=pretrain_weights_inputs,
        output:
            weights="results/{dataset}/pretrained/{arch}.weights.h5",
            metrics="results/{dataset}/pretrained/{arch}.metrics.json",
            provenance="results/{dataset}/pretrained/{arch}.provenance.json",
            history="results/{dataset}/pretrained/{arch}.history.csv",
        log:
            "logs/{dataset}/pretrain_base/{arch}.log",
        benchmark:
            "logs/benchmarks/{dataset}/pretrain_base/{arch}.tsv"
        wildcard_constraints:
            dataset=re.escape(DATASET),
            arch="|".join(PRETRAIN_ARCHS),
        priority: lambda wildcards: PRETRAIN_PRIORITY[wildcards.arch]
        conda:
            "../envs/astrotune.yaml"
        threads: 1
        resources:
            gpu=1,
        params:
            training=lambda wildcards: pretrain_plan.pretrain_training_section(config, wildcards.arch),
            layers=lambda wildcards: pretrain_plan.pretrain_layers(wildcards.arch, config),
            seed=VIEWS[PRETRAIN_SOURCE]["seed"],
            provenance=lambda wildcards: pretrain_plan.pretrain_provenance(config, wildcards.arch),
            # As train_model: the memory budget decides in-memory vs streamed input, never a number.
            performance={key: value for key, value in config["performance"].items() if key != "memory_budget_mb"},
            keras_home=KERAS_HOME,
            checkpoint_dir=lambda wildcards, output: output.weights.removesuffix(".weights.h5") + ".checkpoint",
        script:
            "../scripts/pretrain_base.py"
