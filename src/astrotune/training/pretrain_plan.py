"""Which bases are pretrained, on what, and where the study's steps find them (no Keras import).

The Snakefile plans domain pretraining with this module at parse time: ``pretrain.source`` is a data
set built by the study's own data rules (``data.sources``), ``pretrain.architectures`` (or every
architecture whose steps ask for weights ``pretrained``) get one ``pretrain_base`` job each, and the
steps' weights ``pretrained`` become the path of their architecture's pretrained base file, so
training and caching load it exactly as any weights file.
"""

import copy
from dataclasses import replace

from astrotune.config import config_hash, packing_sections
from astrotune.data.sources import id_namespace, source_view
from astrotune.models.heads import HeadSettings
from astrotune.models.schedules import ARCHITECTURES, base_layer_count

PRETRAINED = "pretrained"
WEIGHTS_FILE = "results/{dataset}/pretrained/{arch}.weights.h5"


def pretrained_path(dataset, arch):
    """The pretrained base file of ``arch`` for the study whose data set is ``dataset``."""
    return WEIGHTS_FILE.format(dataset=dataset, arch=arch)


def config_for_checks(config):
    """A copy of ``config`` whose ``training.weights: pretrained`` reads ``none``: the config checks
    take any other value than imagenet and none for a file that must exist, and the pretrained base
    is an output of this workflow."""
    checked = copy.deepcopy(config)
    if (checked.get("training") or {}).get("weights") == PRETRAINED:
        checked["training"]["weights"] = "none"
    return checked


def checkable_source_views(config, view):
    """The source's view with each pretraining run's training section (the common one, and each
    ``pretrain.architecture_training`` entry's), for the config checks: a typo in either is named
    before any job, as one in ``training`` is."""
    archs = [None, *((config.get("pretrain") or {}).get("architecture_training") or {})]
    return [config_for_checks(view | {"training": {key: value for key, value in pretrain_training_section(config, arch).items()
                                                   if key != "reinitialise"}}) for arch in archs]


def unsupervised_weights(config):
    """The unsupervised backbone's weights as configured (``unsupervised.weights`` or ``training.weights``)."""
    return config["unsupervised"]["weights"] or config["training"]["weights"]


def pretrain_architectures(config, steps):
    """The architectures whose bases are pretrained, in order.

    Raises:
        ValueError: a step (or the unsupervised backbone) asks for ``pretrained`` weights without
            ``pretrain.source``, or of an architecture ``pretrain.architectures`` leaves out;
            ``pretrain.weights`` is ``pretrained`` itself.
    """
    wanted = list(dict.fromkeys(step.arch for step in steps if step.weights == PRETRAINED))
    backbone = config["unsupervised"]["backbone"]
    if config["unsupervised"]["enabled"] and unsupervised_weights(config) == PRETRAINED and backbone not in wanted:
        wanted.append(backbone)
    pretrain = config.get("pretrain") or {}
    listed = list(pretrain.get("architectures") or [])
    if wanted and not pretrain.get("source"):
        raise ValueError(f"weights pretrained ({', '.join(wanted)}) need pretrain.source: the data set the bases "
                         "are pretrained on")
    missing = [arch for arch in wanted if listed and arch not in listed]
    if missing:
        raise ValueError(f"pretrain.architectures {listed} leaves out {', '.join(missing)}, whose steps use "
                         "weights pretrained; add them or give those steps other weights")
    if not pretrain.get("source"):
        return []
    if pretrain.get("weights") == PRETRAINED:
        raise ValueError("pretrain.weights: 'pretrained' would start pretraining from its own output; use 'none', "
                         "'imagenet' or a weights file")
    return listed or wanted


def resolve_weights(weights, dataset, arch):
    """``weights`` with ``pretrained`` replaced by the pretrained base file of ``arch``."""
    return pretrained_path(dataset, arch) if weights == PRETRAINED else weights


def resolve_steps(steps, dataset):
    """The TrainingSteps with ``pretrained`` weights replaced by the path of their base's file."""
    return [replace(step, weights=resolve_weights(step.weights, dataset, step.arch)) for step in steps]


def pretrain_training_section(config, arch=None):
    """The ``training`` section of the pretraining run of ``arch`` (None: the one every architecture
    shares): the study's with ``pretrain.training`` and then ``pretrain.architecture_training.<arch>``
    over it, the initial weights ``pretrain.weights``, no re-initialisation, the whole source image
    (unless ``center_crop`` is given), the plain head unless one is given, and one learning rate for the
    whole base unless ``block_lr_decay`` gives a decay."""
    pretrain = config.get("pretrain") or {}
    overrides = dict(pretrain.get("training") or {}) | ((pretrain.get("architecture_training") or {}).get(arch) or {})
    return dict(config["training"]) | {"center_crop": 0, "head": {}, "block_lr_decay": 1.0} | overrides | {
        "weights": pretrain.get("weights", "none"), "reinitialise": False}


def pretrain_layers(arch, config):
    """Trainable layers of the pretraining run of ``arch``: every layer of its base as built for its head."""
    section = pretrain_training_section(config, arch)
    return base_layer_count(arch, HeadSettings.from_config(section.get("head")))


def pretrain_input_side(config, arch):
    """Side in pixels of the images the pretraining run of ``arch`` reads: its ``center_crop``, else the
    source's ``image_size``."""
    return pretrain_training_section(config, arch)["center_crop"] or source_view(config)["dataset"]["image_size"]


def pretrain_order(config, archs):
    """``archs`` from the dearest pretraining to the cheapest, so that the longest starts first (a long
    one started last runs on alone). A run's estimated cost is its epochs times the pixels of an image as
    the base sees it (Xception's 71 px minimum makes a 32 px image 5x dearer), then the base's depth
    (building the training step's graph, most of a short run's first epoch, grows with it)."""
    def cost(arch):
        side = max(pretrain_input_side(config, arch), ARCHITECTURES[arch].min_size)
        return pretrain_training_section(config, arch)["epochs"] * side * side, ARCHITECTURES[arch].n_layers

    return sorted(archs, key=cost, reverse=True)


def source_name(config):
    """Name of the pretraining source data set (None without one)."""
    view = source_view(config)
    return None if view is None else view["dataset"]["name"]


def pretrain_provenance(config, arch=None):
    """What the pretrained base of ``arch`` records about its source (rule params: a change reruns
    pretraining)."""
    view = source_view(config)
    section = pretrain_training_section(config, arch)
    return {"source": view["dataset"]["name"], "source_kind": view["dataset"]["source"], "seed": view["seed"],
            "source_config_hash": config_hash(packing_sections(view)),
            # What the base is trained on and how (pretrain.architectures and the other architectures'
            # architecture_training left out: listing or tuning one architecture reruns none of the others).
            "config_hash": config_hash(packing_sections(view), view["split"], section),
            "target": config["dataset"]["name"], "target_namespace": id_namespace(config),
            "source_namespace": id_namespace(view)}


def weights_origin(weights, source=None, dataset=None, arch=None):
    """Where a base's initial weights came from, for the tables: ``imagenet``, ``random``,
    ``pretrained on <source>`` (``weights`` is the study's pretrained file of ``arch``, or the word
    ``pretrained``) or ``file <path>``."""
    if weights == "imagenet":
        return "imagenet"
    if weights == "none":
        return "random"
    if weights == PRETRAINED or (dataset and arch and weights == pretrained_path(dataset, arch)):
        return f"pretrained on {source}"
    return f"file {weights}"
