# astrotune: layer-wise fine-tuning of ImageNet CNNs on astronomical images.
# Usage: snakemake --cores 8 --resources gpu=1 [--configfile config/studies/<study>.yaml]
from snakemake.utils import min_version

min_version("9.0")


# A study file given with --configfile replaces the embedded default instead of being merged into it,
# so a study's schedule never inherits the default's architectures; unset keys take the schema defaults.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/cutouts.smk"
include: "workflow/rules/local_images.smk"
include: "workflow/rules/galaxy10.smk"
include: "workflow/rules/pack.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/architecture.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/study_tables.smk"


rule all:
    default_target: True
    input:
        paper_outputs(),
        study_table_outputs(),
        pretrain_outputs(),
    localrule: True
