# A table in the form of another paper's (config tables.study), from every trained model's metrics.
# Defined only when the config asks for one (STUDY_FORM and STUDY_TABLE are set in common.smk).
if STUDY_FORM:

    rule write_study_table:
        input:
            metrics=run_outputs(MODEL_METRICS, DATASET),  # every run, every seed
            histories=run_outputs(f"{MODEL_DIR}/history.csv", DATASET),
        output:
            html=report(f"{STUDY_TABLE}.html", caption="../report/study_table.rst", category="Study table"),
            extra=multiext(STUDY_TABLE, ".csv", ".md", ".tex"),
        log:
            f"logs/{DATASET}/write_study_table.log",
        localrule: True  # cheap: runs where snakemake runs, never a cluster job
        conda:
            "../envs/astrotune.yaml"
        params:
            form=STUDY_FORM,
            selection_metric=config["tables"]["selection_metric"],
        script:
            "../scripts/write_study_table.py"
