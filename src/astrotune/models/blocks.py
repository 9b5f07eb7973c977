"""The blocks of each architecture's base, read from its layer names, and the per-block learning-rate
factors of ``training.block_lr_decay``.

A block is a run of consecutive base layers that Keras names as one unit: ``conv5_block3`` of
ResNet50, ``block7b`` of EfficientNet, ``block_16`` of MobileNetV2. ``BLOCK_RULES`` gives each
architecture's unit pattern. Layers without a unit name (residual convolutions, ``add_N``, the top
convolution and the pooling layer) belong to the unit before them, or, for architectures whose units
are named by their closing layers (InceptionResNetV2, NASNetMobile), to the unit after them (those
after the last one to the last one). The
layers before the first unit form a block of their own (the stem) when they hold weights, else they
join the first unit. ``schedules.BLOCK_STARTS`` keeps the result as a static table, so the workflow
plans ``blocks`` steps without Keras; a test checks the table against this derivation.
"""

import re
from dataclasses import dataclass

from astrotune.models.schedules import block_number


@dataclass(frozen=True)
class BlockRule:
    """How an architecture's layer names mark its blocks.

    Attributes:
        pattern: regular expression matched at the start of a layer name; its first group is the
            unit the layer belongs to (e.g. ``conv5_block3``).
        closing: the matching layers close their unit (the unnamed layers before them belong to it);
            otherwise they open it (the unnamed layers after them belong to it).
    """

    pattern: str
    closing: bool = False


BLOCK_RULES = {
    "ResNet50": BlockRule(r"(conv\d+_block\d+)_"),
    "VGG16": BlockRule(r"(block\d+)_"),
    "DenseNet121": BlockRule(r"(conv\d+_block\d+|pool\d+)_"),
    "Xception": BlockRule(r"(block\d+)_"),
    "EfficientNetB2": BlockRule(r"(block\d+[a-z])_"),
    "MobileNetV2": BlockRule(r"(expanded_conv|block_\d+)_"),
    "NASNetMobile": BlockRule(r"(?:normal|reduction)_concat_(\w+)$", closing=True),
    "EfficientNetV2S": BlockRule(r"(block\d+[a-z])_"),
    "InceptionResNetV2": BlockRule(r"(block\d+_\d+|mixed_\d+[a-z])(?:_|$)", closing=True),
    "CompactCNN": BlockRule(r"(block\d+)_"),
    "VGG11": BlockRule(r"(block\d+)_"),
    "AvgPoolCNN": BlockRule(r"(block\d+)_"),
}


def block_first_layers(arch, base):
    """The index in ``base.layers`` of each block's first layer, bottom block first (the first is 0).

    Raises:
        ValueError: no rule for ``arch``, no layer named as a unit, or a unit whose layers are not
            consecutive (the rule no longer fits the Keras build).
    """
    if arch not in BLOCK_RULES:
        raise ValueError(f"{arch}: no block rule (models/blocks.py BLOCK_RULES)")
    rule = BLOCK_RULES[arch]
    units = {}  # unit -> indices of its named layers, in order of first appearance
    for index, layer in enumerate(base.layers):
        if match := re.match(rule.pattern, layer.name):
            units.setdefault(match.group(1), []).append(index)
    if not units:
        raise ValueError(f"{arch}: no layer of {base.name} is named like a block ({rule.pattern})")
    spans = list(units.values())
    if rule.closing:
        ends = [max(indices) for indices in spans]
        for unit, indices, end_below in zip(list(units)[1:], spans[1:], ends):
            if min(indices) <= end_below:
                raise ValueError(f"{arch}: block {unit} of {base.name} starts before the block below it ends")
        return [0] + [end + 1 for end in ends[:-1]]
    firsts = [indices[0] for indices in spans]
    for unit, indices, following in zip(units, spans, firsts[1:]):
        if max(indices) > following:
            raise ValueError(f"{arch}: the layers of block {unit} of {base.name} are not consecutive")
    has_stem = any(layer.weights for layer in base.layers[:firsts[0]])
    return [0] + (firsts if has_stem else firsts[1:])


def derive_block_starts(arch, base):
    """``schedules.BLOCK_STARTS[arch]`` from a built base: the trainable last-layer count at which each
    block starts, top block first (the last count is ``len(base.layers)``)."""
    n_layers = len(base.layers)
    return tuple(sorted(n_layers - first for first in block_first_layers(arch, base)))


def block_lr_factors(model, base, arch, decay):
    """The learning-rate factor of each of ``model.trainable_variables``, in order: ``decay ** i`` for a
    variable of the i-th block below the head (its last base block: i = 1), 1 outside the base."""
    starts = derive_block_starts(arch, base)
    n_layers = len(base.layers)
    block_of = {}
    for index, layer in enumerate(base.layers):
        block = block_number(starts, n_layers - index)
        block_of.update((id(variable), block) for variable in layer.weights)
    return [float(decay) ** block_of.get(id(variable), 0) for variable in model.trainable_variables]
