# Paper Tables 2 and 3 from the models alone (no data, no training): layer and parameter counts.


# One job for every architecture: building a model takes seconds, starting TensorFlow about as long.
rule summarize_architectures:
    output:
        summaries=[f"results/{DATASET}/architectures/{arch}.csv" for arch in ARCHS],
    log:
        f"logs/{DATASET}/summarize_architectures.log",
    benchmark:
        f"logs/benchmarks/{DATASET}/summarize_architectures.tsv"
    conda:
        "../envs/astrotune.yaml"
    params:
        schedules={arch: arch_layers(arch) for arch in ARCHS},
        heads={arch: STEPS[(arch, arch_layers(arch)[0])].head for arch in ARCHS},
        n_classes=len(config["dataset"]["classes"]),
        input_shape=[config["dataset"]["image_size"], config["dataset"]["image_size"], 3],
    script:
        "../scripts/summarize_architectures.py"


rule architecture_tables:
    input:
        rules.summarize_architectures.output.summaries,
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
