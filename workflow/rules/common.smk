# Shared helpers: config validation, wildcard constraints, path helpers. No rules here.
import os

from snakemake.utils import validate

from astrotune.config import config_hash
from astrotune.models.trainable import training_steps


validate(config, schema="../schemas/config.schema.yaml")
# (arch, layers) -> TrainingStep: how each job's base starts, which layers train, its head.
STEPS = {(step.arch, step.layers): step for step in training_steps(config)}

DATASET = config["dataset"]["name"]
SOURCE = config["dataset"]["source"]
ARCHS = list(config["architectures"])
MODEL_DIR = "results/{dataset}/models/{arch}/L{layers}"
MODEL_METRICS = "results/{dataset}/metrics/{arch}/L{layers}.json"
KERAS_HOME = "resources/keras"
STUDY_FORM = config["tables"]["study"]
STUDY_TABLE = f"results/{DATASET}/tables/study_{STUDY_FORM}"


wildcard_constraints:
    dataset=DATASET,
    arch="|".join(ARCHS),
    layers=r"\d+",
    shard=r"\d+",


def training_jobs():
    """Every (arch, layers) pair of the configured schedules."""
    return list(STEPS)


def arch_layers(arch):
    """The trainable-layer counts N of ``arch``'s steps, in config order."""
    return [n for step_arch, n in STEPS if step_arch == arch]


def schedule_outputs(wildcards, pattern):
    """``pattern`` filled in for every trainable-layer count of ``wildcards.arch``'s schedule."""
    return [pattern.format(dataset=wildcards.dataset, arch=wildcards.arch, layers=n)
            for n in arch_layers(wildcards.arch)]


def job_step(wildcards):
    """The TrainingStep of a (arch, layers) job."""
    return STEPS[(wildcards.arch, int(wildcards.layers))]


def weights_inputs(wildcards):
    """What a training job needs to initialise its base: the fetched ImageNet weights or a file."""
    weights = job_step(wildcards).weights
    if weights == "none":
        return []
    if weights == "imagenet":
        return [f"{KERAS_HOME}/{wildcards.arch}.imagenet.json"]
    return [weights]


def cutout_manifests(wildcards):
    """Manifest CSVs the packing step reads, by data source."""
    if SOURCE == "synthetic":
        return [f"resources/{DATASET}/synthetic/manifest.csv"]
    if SOURCE in ("sdss_query", "catalog"):
        shards = config["cutouts"]["shards"]
        return [f"resources/{DATASET}/cutouts/manifest_{i}.csv" for i in range(shards)]
    if SOURCE == "local_images":
        return [f"resources/{DATASET}/local_images/manifest.csv"]
    raise ValueError(f"source {SOURCE!r} has no cutout manifests")


def packing_provenance():
    """Provenance attributes stored in the packed HDF5 file."""
    if SOURCE == "synthetic":
        scale, size, release = config["synthetic"]["pixel_scale"], config["synthetic"]["size"], "synthetic"
    elif SOURCE in ("sdss_query", "catalog"):
        cut = config["cutouts"]
        scale, size, release = cut["scale"], cut["size"], f"DR{cut['data_release']}"
    else:
        scale, size, release = config["local_images"]["pixel_scale"] or "", "", ""
    return {
        "source": SOURCE,
        "data_release": release,
        "pixel_scale": scale,
        "original_size": size,
        "image_size": config["dataset"]["image_size"],
        "config_hash": config_hash(config["dataset"], config.get(SOURCE, {}), config["cutouts"]),
    }


def paper_outputs():
    """The study's tables and figures (rule all)."""
    tables = [f"results/{DATASET}/tables/{name}.{ext}"
              for name in ("table2", "table3", "table4", "table5") for ext in ("csv", "md", "tex", "html")]
    figures = [f"results/{DATASET}/figures/accuracy_vs_layers_{arch}.png" for arch in ARCHS]
    curves = [f"results/{DATASET}/figures/training_curves_{arch}.png" for arch in ARCHS]
    return tables + figures + curves


def study_table_outputs():
    """The study table's files when the config asks for one (rule all), else nothing."""
    return [f"{STUDY_TABLE}.{ext}" for ext in ("csv", "md", "tex", "html")] if STUDY_FORM else []
