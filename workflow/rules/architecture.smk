# Paper Tables 2 and 3 from the models alone (no data, no training): layer and parameter counts.


rule summarize_architecture:
    output:
        "results/{dataset}/architectures/{arch}.csv",
    log:
        "logs/{dataset}/summarize_architecture/{arch}.log",
    benchmark:
        "logs/benchmarks/{dataset}/summarize_architecture/{arch}.tsv"
    conda:
        "../envs/astrotune.yaml"
    params:
        schedule=lambda wildcards: arch_layers(wildcards.arch),
        head=lambda wildcards: STEPS[(wildcards.arch, arch_layers(wildcards.arch)[0])].head,
        n_classes=len(config["dataset"]["classes"]),
        input_shape=[config["dataset"]["image_size"], config["dataset"]["image_size"], 3],
    script:
        "../scripts/summarize_architecture.py"


rule architecture_tables:
    input:
        expand("results/{dataset}/architectures/{arch}.csv", dataset=DATASET, arch=ARCHS),
    output:
        table2=report(f"results/{DATASET}/tables/table2.html", caption="../report/table2.rst", category="Paper tables"),
        table3=report(f"results/{DATASET}/tables/table3.html", caption="../report/table3.rst", category="Paper tables"),
        extra=multiext(f"results/{DATASET}/tables/table", "2.csv", "2.md", "2.tex", "3.csv", "3.md", "3.tex"),
    log:
        f"logs/{DATASET}/architecture_tables.log",
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    conda:
        "../envs/astrotune.yaml"
    script:
        "../scripts/architecture_tables.py"
