# Shared helpers: config validation, wildcard constraints, path helpers. No rules here.
import os
import re

from snakemake.utils import validate

from astrotune import backend

# Before anything imports Keras, here and in every job this process starts (jobs inherit the variable).
backend.choose((config.get("performance") or {}).get("backend", "auto"))

from astrotune.config import config_hash, output_settings, packing_provenance, packing_sections
from astrotune.config_checks import check_config
from astrotune.data.sources import dataset_views
from astrotune.errors import InputError
from astrotune.training.feature_cache import cache_possible
from astrotune.training.runtime import library_versions
from astrotune.models.augment import AugmentationSettings
from astrotune.models.schedules import training_steps
from astrotune.models.schedules import ARCHITECTURES
from astrotune.training import pretrain_plan

check_config(pretrain_plan.config_for_checks(config), workflow.basedir, workflow.configfiles)
validate(config, schema="../schemas/config.schema.yaml")
# Each data set the workflow builds (the study's, a pretraining source) -> the config its data rules read.
VIEWS = dataset_views(config)
for _view in list(VIEWS.values())[1:]:
    try:  # the source's data sections and the pretraining runs' training sections, checked as a study's
        for _checked in pretrain_plan.checkable_source_views(config, _view):
            check_config(_checked, workflow.basedir)
    except InputError as err:
        raise InputError("pretrain.source / pretrain.training / pretrain.architecture_training", err.message) from None
SOURCES = {view["dataset"]["source"] for view in VIEWS.values()}
# (arch, layers) -> TrainingStep: how each job's base starts, which layers train, its head; weights
# 'pretrained' already the path of the architecture's pretrained base.
_STEPS = training_steps(config)
PRETRAIN_ARCHS = pretrain_plan.pretrain_architectures(config, _STEPS)
STEPS = {(step.arch, step.layers): step for step in pretrain_plan.resolve_steps(_STEPS, config["dataset"]["name"])}

DATASET = config["dataset"]["name"]
SOURCE = config["dataset"]["source"]
PRETRAIN_SOURCE = pretrain_plan.source_name(config)
UNSUPERVISED_WEIGHTS = pretrain_plan.resolve_weights(
    pretrain_plan.unsupervised_weights(config), DATASET, config["unsupervised"]["backbone"]
)
ARCHS = list(config["architectures"])
# Training seeds: the study's seed, then seed+1, ... (config n_seeds). Each (arch, layers) job trains once per
# seed; the data set, split, pretraining and feature caches stay on the study's seed. A run's `replicate` is
# empty for the study's seed (today's paths) and `-seed<S>` for another (results/.../L3-seed43).
REPLICATES = {"": config["seed"]} | {
    f"-seed{config['seed'] + k}": config["seed"] + k for k in range(1, config["n_seeds"])
}
MODEL_DIR = "results/{dataset}/models/{arch}/L{layers}{replicate}"
MODEL_METRICS = "results/{dataset}/metrics/{arch}/L{layers}{replicate}.json"
KERAS_HOME = f"resources/{DATASET}/keras"  # per study, so each study's DVC stage owns what it fetched
# Snakemake priorities: among the jobs ready to run, the highest go first. Pretraining first, its dearest
# bases first (pretrain_plan.pretrain_order: a long one started last runs on alone); then the data and
# training chain; the rest (architecture summaries, plots, tables, explanations) at 0 fills idle cores.
CHAIN_PRIORITY = 1
PRETRAIN_PRIORITY = {
    arch: CHAIN_PRIORITY + len(PRETRAIN_ARCHS) - rank
    for rank, arch in enumerate(pretrain_plan.pretrain_order(config, PRETRAIN_ARCHS))
}
STUDY_FORM = config["tables"]["study"]
STUDY_TABLE = f"results/{DATASET}/tables/study_{STUDY_FORM}"


wildcard_constraints:
    dataset="|".join(re.escape(name) for name in VIEWS),
    arch="|".join(dict.fromkeys(ARCHS + [config["unsupervised"]["backbone"]] + PRETRAIN_ARCHS)),
    layers=r"\d+",
    replicate="(?:" + "|".join(re.escape(name) for name in REPLICATES) + ")",  # "" (the study's seed) or -seed<S>
    shard=r"\d+",
    size=r"\d+",


def training_jobs():
    """Every (arch, layers) pair of the configured schedules."""
    return list(STEPS)


def arch_layers(arch):
    """The trainable-layer counts N of ``arch``'s steps, in config order."""
    return [n for step_arch, n in STEPS if step_arch == arch]


def run_outputs(pattern, dataset, arch=None, every_seed=True):
    """``pattern`` (MODEL_DIR, MODEL_METRICS) filled in for every (arch, layers) job, or ``arch``'s, in
    config order: at every training seed, or only at the study's seed."""
    replicates = list(REPLICATES) if every_seed else [""]
    return [
        pattern.format(dataset=dataset, arch=job_arch, layers=n, replicate=replicate)
        for job_arch, n in STEPS
        if arch in (None, job_arch)
        for replicate in replicates
    ]


def training_seed(wildcards):
    """The training seed of a run: initialisation of the random layers and head, epoch order, augmentation."""
    return REPLICATES[wildcards.replicate]


def job_step(wildcards):
    """The TrainingStep of a (arch, layers) job."""
    return STEPS[(wildcards.arch, int(wildcards.layers))]


def base_weights_inputs(arch, weights, side):
    """What building ``arch``'s base with ``weights`` needs: the fetched ImageNet weights for an
    input side of ``side`` pixels, a weights file, or nothing."""
    if weights == "none":
        return []
    if weights == "imagenet":
        return [f"{KERAS_HOME}/{arch}_{side}px.imagenet.json"]
    return [weights]


def weights_inputs(wildcards):
    """What a training job needs to initialise its base (its input is the centre crop, if any)."""
    side = config["training"]["center_crop"] or config["dataset"]["image_size"]
    return base_weights_inputs(wildcards.arch, job_step(wildcards).weights, side)


def unsupervised_weights_inputs(wildcards):
    """What the unsupervised baseline's backbone needs to initialise its base."""
    return base_weights_inputs(
        config["unsupervised"]["backbone"], UNSUPERVISED_WEIGHTS, config["dataset"]["image_size"]
    )


def weights_origin(wildcards):
    """Where the base of a (arch, layers) job got its initial weights (``pretrain_plan.weights_origin``)."""
    return pretrain_plan.weights_origin(job_step(wildcards).weights, PRETRAIN_SOURCE, DATASET, wildcards.arch)


def pretrain_weights_inputs(wildcards):
    """What building a base before pretraining needs (ImageNet weights at the source's side, a file)."""
    section = pretrain_plan.pretrain_training_section(config, wildcards.arch)
    side = pretrain_plan.pretrain_input_side(config, wildcards.arch)
    return base_weights_inputs(wildcards.arch, section["weights"], side)


def pretrain_outputs():
    """Every pretrained base with its metrics (rule all; also inputs of the steps that use them)."""
    return [
        f"results/{DATASET}/pretrained/{arch}.{kind}"
        for arch in PRETRAIN_ARCHS
        for kind in ("weights.h5", "metrics.json")
    ]


def view(wildcards):
    """The config the data rules of ``wildcards.dataset`` read (``data.sources.dataset_views``)."""
    return VIEWS[wildcards.dataset]


def view_value(*keys):
    """A parameter function: the value at ``keys`` in the view of the job's data set."""

    def value(wildcards):
        found = view(wildcards)
        for key in keys:
            found = found[key]
        return found

    return value


def datasets_of(*sources):
    """A wildcard pattern of the data sets built from one of ``sources`` (rules defined per source kind)."""
    names = [name for name, data in VIEWS.items() if data["dataset"]["source"] in sources]
    return "|".join(re.escape(name) for name in names) or "(?!)"


def cache_layers(arch):
    """The trainable-layer count whose cut the architecture's feature cache sits at: the largest one
    that leaves a frozen prefix (a step training every layer has nothing to cache), or None."""
    partial = [n for n in arch_layers(arch) if n < ARCHITECTURES[arch].n_layers]
    return max(partial) if partial else None


def feature_cache(wildcards):
    """The feature cache a training job reads (at its schedule's deepest cut), or none where it is not
    exact. Architectures given in the object form (their own weights, head or re-initialisation)
    and steps that train every layer train in full. The cache is computed once, with the study's seed:
    a run of another seed shares it when the frozen prefix is loaded weights (the same for every seed);
    a random prefix (weights none) is drawn from the run's own seed, so that run trains in full."""
    step = job_step(wildcards)
    possible, _ = cache_possible(
        wildcards.arch,
        AugmentationSettings(**config["training"]["augmentation"]),
        config["training"]["batchnorm"],
        step.weights != "none" and not step.reinitialise,
    )
    layers = cache_layers(wildcards.arch)
    if not (
        config["performance"]["feature_cache"]
        and possible
        and layers is not None
        and int(wildcards.layers) <= layers
        and isinstance(config["architectures"][wildcards.arch], list)
        and (wildcards.replicate == "" or step.weights != "none")
    ):
        return []
    return [f"results/{wildcards.dataset}/features/{wildcards.arch}/L{layers}.h5"]


def cutout_manifests(wildcards):
    """Manifest CSVs the packing step of ``wildcards.dataset`` reads, by its data source."""
    data, name = view(wildcards), wildcards.dataset
    source = data["dataset"]["source"]
    if source == "synthetic":
        return [f"resources/{name}/synthetic/manifest.csv"]
    if source in ("sdss_query", "catalog"):
        shards = data["cutouts"]["shards"]
        return [f"resources/{name}/cutouts/manifest_{i}.csv" for i in range(shards)]
    if source == "local_images":
        return [f"resources/{name}/local_images/manifest.csv"]
    raise ValueError(f"source {source!r} has no cutout manifests")


def paper_outputs():
    """The study's tables and figures (rule all)."""
    tables = [
        f"results/{DATASET}/tables/{name}.{ext}"
        for name in ("table2", "table3", "table4", "table5")
        for ext in ("csv", "md", "tex", "html")
    ]
    figures = [f"results/{DATASET}/figures/accuracy_vs_layers_{arch}.png" for arch in ARCHS]
    curves = [f"results/{DATASET}/figures/training_curves_{arch}.png" for arch in ARCHS]
    confusion = [f"results/{DATASET}/figures/confusion/{arch}/L{n}.png" for arch, n in training_jobs()]
    explain = [f"results/{DATASET}/figures/{name}.png" for name in ("gradcam", "saliency")]
    unsupervised = (
        [f"results/{DATASET}/tables/unsupervised.{ext}" for ext in ("csv", "md", "tex", "html")]
        if config["unsupervised"]["enabled"]
        else []
    )
    return tables + figures + curves + confusion + explain + unsupervised


def study_table_outputs():
    """The study table's files when the config asks for one (rule all), else nothing."""
    return [f"{STUDY_TABLE}.{ext}" for ext in ("csv", "md", "tex", "html")] if STUDY_FORM else []
