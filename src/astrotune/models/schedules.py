"""The architectures the workflow knows and which of their layers a training job trains, without Keras.

The Snakefile turns the ``architectures`` config into training jobs with this module at parse time,
so it imports no Keras: ``ARCHITECTURES`` records each base's layer count, ``BLOCK_STARTS`` where
its blocks start, and a schedule (last N layers, last k blocks, a frozen fraction, from scratch)
becomes a list of ``TrainingStep``.
"""

import math
from dataclasses import dataclass
from fractions import Fraction

from astrotune.models.heads import HeadSettings


@dataclass(frozen=True)
class ArchSpec:
    """What the workflow needs to know about one architecture without building it.

    Attributes:
        name: keras.applications constructor name.
        preprocessing: ImageNet input mode (``caffe``, ``torch``, ``tf``) or ``none`` when the
            base scales its own inputs (EfficientNet families).
        min_size: smallest input side keras.applications accepts without top.
        n_layers: ``len(base.layers)`` of ``<name>(include_top=False, pooling="avg",
            weights=None)``; EfficientNetB* gain one Normalization layer with ImageNet weights.
        imagenet_file: name of the no-top ImageNet weight file under ``$KERAS_HOME/models``
            (``{rows}``: MobileNetV2's weights depend on the input side); empty when the
            architecture has no ImageNet weights.
        custom: True for architectures built by ``models/custom.py`` instead of keras.applications.
    """

    name: str
    preprocessing: str
    min_size: int
    n_layers: int
    imagenet_file: str
    custom: bool = False


ARCHITECTURES = {spec.name: spec for spec in (
    ArchSpec("ResNet50", "caffe", 32, 176, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ArchSpec("VGG16", "caffe", 32, 20, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ArchSpec("DenseNet121", "torch", 32, 428, "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ArchSpec("Xception", "tf", 71, 133, "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ArchSpec("EfficientNetB2", "none", 32, 340, "efficientnetb2_notop.h5"),
    ArchSpec("MobileNetV2", "tf", 32, 155,
             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"),
    ArchSpec("NASNetMobile", "tf", 32, 770, "nasnet_mobile_no_top.h5"),
    ArchSpec("EfficientNetV2S", "none", 32, 514, "efficientnetv2-s_notop.h5"),
    ArchSpec("InceptionResNetV2", "tf", 75, 781,
             "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ArchSpec("CompactCNN", "tf", 16, 30, "", custom=True),
    ArchSpec("VGG11", "tf", 32, 15, "", custom=True),
    ArchSpec("AvgPoolCNN", "tf", 32, 19, "", custom=True),
)}


# Trainable last-layer counts at which each block of a base starts, top block first: ``blocks: k`` trains
# the last BLOCK_STARTS[arch][k - 1] layers, the k top blocks; the last count is every layer. Blocks are
# the units Keras names (conv5_block3, block7b, block_16, ...; models/blocks.py BLOCK_RULES, which
# derives this table from a build; tests/test_models.py checks it, test_config_messages.py the schema copy).
BLOCK_STARTS = {
    "ResNet50": (11, 21, 33, 43, 53, 63, 73, 83, 95, 105, 115, 125, 137, 147, 157, 169, 176),
    "VGG16": (5, 9, 13, 16, 20),
    "DenseNet121": (
        10, 17, 24, 31, 38, 45, 52, 59, 66, 73, 80, 87, 94, 101, 108, 115, 119, 126, 133, 140, 147, 154, 161, 168,
        175, 182, 189, 196, 203, 210, 217, 224, 231, 238, 245, 252, 259, 266, 273, 280, 287, 291, 298, 305, 312,
        319, 326, 333, 340, 347, 354, 361, 368, 375, 379, 386, 393, 400, 407, 414, 421, 428),
    "Xception": (7, 17, 27, 37, 47, 57, 67, 77, 87, 97, 107, 117, 126, 133),
    "EfficientNetB2": (
        19, 32, 47, 62, 77, 92, 106, 121, 136, 151, 164, 179, 194, 209, 223, 238, 253, 267, 282, 297, 311, 323, 333,
        340),
    "MobileNetV2": (12, 21, 30, 39, 48, 57, 65, 74, 83, 92, 101, 110, 119, 128, 137, 146, 151, 155),
    "NASNetMobile": (47, 92, 137, 185, 239, 284, 329, 374, 422, 476, 521, 566, 611, 659, 716, 770),
    "EfficientNetV2S": (
        19, 34, 49, 64, 79, 94, 109, 124, 139, 154, 169, 184, 199, 214, 227, 242, 257, 272, 287, 302, 317, 332, 347,
        360, 375, 390, 405, 420, 435, 448, 455, 462, 469, 474, 481, 488, 495, 500, 505, 509, 514),
    "InceptionResNetV2": (
        19, 35, 51, 67, 83, 99, 115, 131, 147, 163, 186, 202, 218, 234, 250, 266, 282, 298, 314, 330, 346, 362, 378,
        394, 410, 426, 442, 458, 474, 490, 506, 520, 542, 564, 586, 608, 630, 652, 674, 696, 718, 740, 781),
    "CompactCNN": (8, 15, 22, 30),
    "VGG11": (4, 7, 10, 12, 15),
    "AvgPoolCNN": (6, 11, 14, 19),
}


def validate_schedule(arch, layers, n_layers=None):
    """Check an architecture name and its trainable-layer counts (no Keras import).

    Args:
        n_layers: layers of the base as built (default: the architecture's ``n_layers``; one fewer
            with a CBAM head, see ``base_layer_count``).

    Raises:
        ValueError: unknown architecture, or a count outside ``0..n_layers``.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"architectures.{arch}: unknown architecture; choose from {', '.join(ARCHITECTURES)}")
    n_layers = ARCHITECTURES[arch].n_layers if n_layers is None else n_layers
    for n in layers:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= n_layers:
            raise ValueError(f"architectures.{arch}: {n!r} trainable layers requested but {arch} has "
                             f"{n_layers} layers (allowed 0..{n_layers})")


def base_layer_count(arch, head=None):
    """Layers of ``arch``'s base as ``build_classifier`` builds it for ``head`` (no Keras import):
    ``n_layers``, one fewer when the head takes the feature map (CBAM)."""
    return ARCHITECTURES[arch].n_layers - int(bool(head is not None and head.needs_feature_map))


def block_starts(arch, head=None):
    """``BLOCK_STARTS[arch]`` for the base as built for ``head`` (one layer fewer at the top with CBAM)."""
    offset = ARCHITECTURES[arch].n_layers - base_layer_count(arch, head)
    return tuple(start - offset for start in BLOCK_STARTS[arch])


def block_number(starts, from_top):
    """The block (1: the top one) of the layer ``from_top``-th from the top, given a ``BLOCK_STARTS``
    entry; layers below the last start (an extra input layer) belong to the bottom block."""
    return next((number for number, start in enumerate(starts, start=1) if from_top <= start), len(starts))


def layers_for_fraction(frozen_fraction, n_layers):
    """Trainable last-layer count N = round((1 - f) * n_layers), halves rounded up, exact for
    decimal fractions such as 0.2 or 0.6."""
    fraction = Fraction(str(frozen_fraction))
    if not 0 <= fraction <= 1:
        raise ValueError(f"frozen fraction {frozen_fraction} is outside 0..1")
    return math.floor((1 - fraction) * n_layers + Fraction(1, 2))


@dataclass(frozen=True)
class TrainingStep:
    """One training job of a study.

    Attributes:
        arch: architecture (a key of ``schedules.ARCHITECTURES``).
        layers: trainable last base layers N (the ``L{layers}`` of every output path).
        schedule: how N was asked for: ``L<N>``, ``blocks <k>``, ``frozen <p>%`` or ``scratch``.
        weights: initial weights of the base (``imagenet``, ``none`` or a file).
        reinitialise: the N trainable base layers start from a fresh random initialisation.
        head: the head config section of this architecture.
    """

    arch: str
    layers: int
    schedule: str
    weights: str
    reinitialise: bool
    head: dict

    def training_section(self, training):
        """The ``training`` config section of this job: the study's, with its own weights, head
        and re-initialisation."""
        return dict(training) | {"weights": self.weights, "reinitialise": self.reinitialise, "head": self.head}


def _percent(fraction):
    return f"{float(Fraction(str(fraction)) * 100):g}%"


def architecture_steps(arch, entry, training):
    """The training steps of one ``architectures`` entry.

    Args:
        arch: the entry's key.
        entry: a list of trainable-layer counts, or an object with ``layers`` (counts), ``blocks``
            (counts k of top blocks, ``BLOCK_STARTS``), ``frozen_fractions`` (fractions of the
            base's layers kept frozen at the initial
            weights), ``from_scratch`` (random initialisation, all layers trainable), and the
            per-architecture ``weights``, ``reinitialise`` and ``head``.
        training: the validated ``training`` config section (defaults for weights and head).

    Raises:
        ValueError: unknown architecture, a count out of range, or two steps with the same N
            (they would write the same files, e.g. ``layers: [11]`` and ``blocks: [1]`` of ResNet50).
    """
    if isinstance(entry, list):
        entry = {"layers": entry}
    head = dict(training.get("head") or {}) | dict(entry.get("head") or {})
    weights = entry.get("weights") or training.get("weights", "none")
    reinitialise = bool(entry.get("reinitialise", False))
    validate_schedule(arch, [])
    n_layers = base_layer_count(arch, HeadSettings.from_config(head))
    validate_schedule(arch, list(entry.get("layers", [])), n_layers)
    steps = [TrainingStep(arch, n, f"L{n}", weights, reinitialise, head) for n in entry.get("layers", [])]
    starts = block_starts(arch, HeadSettings.from_config(head))
    for k in entry.get("blocks", []):
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(starts):
            raise ValueError(f"architectures.{arch}.blocks: {k!r} blocks requested but {arch} has {len(starts)} "
                             f"blocks (allowed 0..{len(starts)})")
        steps.append(TrainingStep(arch, starts[k - 1] if k else 0, f"blocks {k}", weights, reinitialise, head))
    steps += [TrainingStep(arch, layers_for_fraction(f, n_layers), f"frozen {_percent(f)}", weights, reinitialise,
                           head) for f in entry.get("frozen_fractions", [])]
    if entry.get("from_scratch", False):
        steps.append(TrainingStep(arch, n_layers, "scratch", "none", False, head))
    if not steps:
        raise ValueError(f"architectures.{arch}: no layers, blocks, frozen_fractions or from_scratch step")
    seen = {}
    for step in steps:
        if step.layers in seen:
            raise ValueError(f"architectures.{arch}: {seen[step.layers]} and {step.schedule} both train the last "
                             f"{step.layers} layers and would write the same L{step.layers} files")
        seen[step.layers] = step.schedule
    return steps


def training_steps(config):
    """Every training step of a validated config, in config order."""
    return [step for arch, entry in config["architectures"].items()
            for step in architecture_steps(arch, entry, config["training"])]
