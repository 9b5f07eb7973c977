# Study-level outputs: paper Tables 4 and 5, accuracy summary, figures.


rule aggregate_results:
    input:
        metrics=lambda wildcards: run_outputs(MODEL_METRICS, wildcards.dataset),
        # The study seed's runs: the chosen models are compared on their validation predictions.
        predictions=lambda wildcards: run_outputs(f"{MODEL_DIR}/predictions.csv", wildcards.dataset, every_seed=False),
    output:
        summary=report("results/{dataset}/metrics/summary.csv", caption="../report/summary.rst", category="Accuracy"),
        metrics="results/{dataset}/metrics/accuracy.json",
        table4=report("results/{dataset}/tables/table4.html", caption="../report/table4.rst", category="Paper tables"),
        table5=report("results/{dataset}/tables/table5.html", caption="../report/table5.rst", category="Paper tables"),
        extra=multiext("results/{dataset}/tables/table", "4.csv", "4.md", "4.tex", "5.csv", "5.md", "5.tex"),
    log:
        "logs/{dataset}/aggregate_results.log",
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    conda:
        "../envs/astrotune.yaml"
    params:
        paper_comparison=config["tables"]["paper_comparison"],
        selection_metric=config["tables"]["selection_metric"],
        archs=[arch for arch, _ in training_jobs()],
        layers=[n for _, n in training_jobs()],
        uncertainty=config["uncertainty"],
        seed=config["seed"],
    script:
        "../scripts/aggregate_results.py"


rule plot_architecture:
    input:
        metrics=lambda wildcards: run_outputs(MODEL_METRICS, wildcards.dataset, wildcards.arch),
        # The training curves are the study seed's runs.
        histories=lambda wildcards: run_outputs(
            f"{MODEL_DIR}/history.csv", wildcards.dataset, wildcards.arch, every_seed=False
        ),
    output:
        accuracy=report(
            "results/{dataset}/figures/accuracy_vs_layers_{arch}.png",
            caption="../report/accuracy_vs_layers.rst",
            category="Accuracy vs layers",
            subcategory="{arch}",
        ),
        curves=report(
            "results/{dataset}/figures/training_curves_{arch}.png",
            caption="../report/training_curves.rst",
            category="Training curves",
            subcategory="{arch}",
        ),
    log:
        "logs/{dataset}/plot_architecture/{arch}.log",
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    conda:
        "../envs/astrotune.yaml"
    params:
        layers=lambda wildcards: arch_layers(wildcards.arch),
    script:
        "../scripts/plot_architecture.py"
