# Looking inside the models: confusion-matrix figures, Grad-CAM and saliency grids, unsupervised baseline.


# Rule all asks for the study seed's runs; another seed's on request (confusion/<arch>/L<N>-seed<S>.png).
rule plot_confusion:
    input:
        metrics=MODEL_METRICS,
    output:
        figure=report(
            "results/{dataset}/figures/confusion/{arch}/L{layers}{replicate}.png",
            caption="../report/confusion.rst",
            category="Confusion matrices",
            subcategory="{arch}",
        ),
    log:
        "logs/{dataset}/plot_confusion/{arch}/L{layers}{replicate}.log",
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    conda:
        "../envs/astrotune.yaml"
    script:
        "../scripts/plot_confusion.py"


# CPU jobs, not GPU jobs: they only predict (a few validation images per class; one embedding pass),
# and their scripts hide the GPUs (job_env.cpu_job), so they never compete with a training job for one.
rule explain_models:
    input:
        dataset="results/{dataset}/dataset.h5",
        split="results/{dataset}/split.csv",
        models=lambda wildcards: run_outputs(f"{MODEL_DIR}/model.keras", wildcards.dataset, every_seed=False),
    output:
        gradcam=report(
            "results/{dataset}/figures/gradcam.png", caption="../report/gradcam.rst", category="Where the models look"
        ),
        saliency=report(
            "results/{dataset}/figures/saliency.png",
            caption="../report/saliency.rst",
            category="Where the models look",
        ),
        record="results/{dataset}/metrics/explain_layers.json",
    log:
        "logs/{dataset}/explain_models.log",
    benchmark:
        "logs/benchmarks/{dataset}/explain_models.tsv"
    conda:
        "../envs/astrotune.yaml"
    threads: 1
    params:
        jobs=training_jobs(),
        images_per_class=config["explain"]["images_per_class"],
        feature_maps=config["explain"]["feature_maps"],
        seed=config["seed"],
    script:
        "../scripts/explain_models.py"


rule cluster_embeddings:
    input:
        dataset="results/{dataset}/dataset.h5",
        weights=unsupervised_weights_inputs,
    output:
        metrics="results/{dataset}/metrics/unsupervised.json",
        table=report(
            "results/{dataset}/tables/unsupervised.html",
            caption="../report/unsupervised.rst",
            category="Unsupervised baseline",
        ),
        extra=multiext("results/{dataset}/tables/unsupervised", ".csv", ".md", ".tex"),
    log:
        "logs/{dataset}/cluster_embeddings.log",
    benchmark:
        "logs/benchmarks/{dataset}/cluster_embeddings.tsv"
    conda:
        "../envs/astrotune.yaml"
    threads: 1
    params:
        settings=config["unsupervised"],
        weights=UNSUPERVISED_WEIGHTS,
        uncertainty=config["uncertainty"],
        seed=config["seed"],
        keras_home=KERAS_HOME,
    script:
        "../scripts/cluster_embeddings.py"
