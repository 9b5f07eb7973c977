# Paper Tables 2 and 3 from the models alone (no data, no training): layer and parameter counts.


rule summarize_architecture:
    output:
        "results/{dataset}/architectures/{arch}.csv",
    params:
        schedule=lambda wildcards: arch_layers(wildcards.arch),
        head=lambda wildcards: STEPS[(wildcards.arch, arch_layers(wildcards.arch)[0])].head,
        n_classes=len(config["dataset"]["classes"]),
        input_shape=[config["dataset"]["image_size"], config["dataset"]["image_size"], 3],
    conda:
        "../envs/astrotune.yaml"
    log:
        "logs/{dataset}/summarize_architecture/{arch}.log",
    benchmark:
        "logs/benchmarks/{dataset}/summarize_architecture/{arch}.tsv"
    script:
        "../scripts/summarize_architecture.py"


rule architecture_tables:
    localrule: True  # cheap: runs where snakemake runs, never a cluster job
    input:
        expand("results/{dataset}/architectures/{arch}.csv", dataset=DATASET, arch=ARCHS),
    output:
        table2=report(f"results/{DATASET}/tables/table2.html", caption="../report/table2.rst",
                      category="Paper tables"),
        table3=report(f"results/{DATASET}/tables/table3.html", caption="../report/table3.rst",
                      category="Paper tables"),
        extra=multiext(f"results/{DATASET}/tables/table", "2.csv", "2.md", "2.tex", "3.csv", "3.md", "3.tex"),
    conda:
        "../envs/astrotune.yaml"
    log:
        f"logs/{DATASET}/architecture_tables.log",
    script:
        "../scripts/architecture_tables.py"
