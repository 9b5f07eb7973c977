"""Which layers train and how they start: trainable-layer schedules (last N layers, a frozen
fraction, from scratch), re-initialisation of the trained layers, parameter counts.

The schedule part imports no Keras: the Snakefile turns the ``architectures`` config into training
jobs with it at parse time.
"""

import math
from dataclasses import dataclass
from fractions import Fraction


def layers_within(layer):
    """``layer`` and every layer nested in it (functional models, Sequential blocks)."""
    yield layer
    for inner in getattr(layer, "layers", ()):
        yield from layers_within(inner)


def changing_weights(model):
    """The weights training can change, in ``model.weights`` order: the trainable ones and the
    non-trainable ones of layers that train (BatchNorm moving statistics). A frozen layer's weights
    stay as built."""
    changing = {id(variable) for variable in model.trainable_variables}
    for layer in layers_within(model):
        if layer.trainable and not hasattr(layer, "layers"):
            changing.update(id(variable) for variable in layer.non_trainable_weights)
    return [variable for variable in model.weights if id(variable) in changing]


def set_trainable_last_layers(model, base, n):
    """Freeze the base except its last ``n`` layers; everything outside the base stays trainable.

    The pooling layer is the base's last layer and counts as one; BatchNorm gamma/beta train
    when their layer is among the last ``n``. Keras 3.15 passes ``fit``'s ``training=True`` into
    the base despite its ``training=False`` call, so those trainable BatchNorm layers update their
    moving statistics too; frozen ones never do. The caller must (re)compile the model afterwards.

    Args:
        model: classifier from ``zoo.build_classifier``.
        base: its keras.applications base.
        n: number of trailing base layers to train, ``0..len(base.layers)``.
    """
    layers = base.layers
    if not 0 <= n <= len(layers):
        raise ValueError(f"{base.name}: {n} trainable layers requested but the base has {len(layers)} layers")
    for layer in model.layers:
        layer.trainable = True
    first = len(layers) - n
    for index, layer in enumerate(layers):
        layer.trainable = index >= first


def reinitialise_last_layers(base, fresh, n):
    """Replace the weights of ``base``'s last ``n`` layers by those of ``fresh``, a randomly
    initialised build of the same architecture (kernels, biases, BatchNorm gamma/beta and moving
    statistics alike). Layers are matched from the end, so an extra input layer of the pretrained
    build (EfficientNet's ImageNet normalisation) does not shift them."""
    if not 0 <= n <= min(len(base.layers), len(fresh.layers)):
        raise ValueError(f"{base.name}: cannot re-initialise {n} of {len(base.layers)} layers")
    for layer, new in zip(base.layers[len(base.layers) - n:], fresh.layers[len(fresh.layers) - n:]):
        if layer.__class__ is not new.__class__:
            raise ValueError(f"{base.name}: layer {layer.name} does not match {new.name} of the fresh build")
        if layer.weights:
            layer.set_weights(new.get_weights())


def count_params(model):
    """(trainable, non_trainable, total) parameter counts as Keras reports them."""
    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    non_trainable = sum(math.prod(weight.shape) for weight in model.non_trainable_weights)
    return int(trainable), int(non_trainable), int(trainable + non_trainable)


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
        arch: architecture (a key of ``zoo.ARCHITECTURES``).
        layers: trainable last base layers N (the ``L{layers}`` of every output path).
        schedule: how N was asked for: ``L<N>``, ``frozen <p>%`` or ``scratch``.
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
        entry: a list of trainable-layer counts, or an object with ``layers`` (counts),
            ``frozen_fractions`` (fractions of the base's layers kept frozen at the initial
            weights), ``from_scratch`` (random initialisation, all layers trainable), and the
            per-architecture ``weights``, ``reinitialise`` and ``head``.
        training: the validated ``training`` config section (defaults for weights and head).

    Raises:
        ValueError: unknown architecture, a count out of range, or two steps with the same N
            (they would write the same files).
    """
    from astrotune.models.heads import HeadSettings
    from astrotune.models.zoo import base_layer_count, validate_schedule

    if isinstance(entry, list):
        entry = {"layers": entry}
    head = dict(training.get("head") or {}) | dict(entry.get("head") or {})
    weights = entry.get("weights") or training.get("weights", "none")
    reinitialise = bool(entry.get("reinitialise", False))
    validate_schedule(arch, [])
    n_layers = base_layer_count(arch, HeadSettings.from_config(head))
    validate_schedule(arch, list(entry.get("layers", [])), n_layers)
    steps = [TrainingStep(arch, n, f"L{n}", weights, reinitialise, head) for n in entry.get("layers", [])]
    steps += [TrainingStep(arch, layers_for_fraction(f, n_layers), f"frozen {_percent(f)}", weights, reinitialise,
                           head) for f in entry.get("frozen_fractions", [])]
    if entry.get("from_scratch", False):
        steps.append(TrainingStep(arch, n_layers, "scratch", "none", False, head))
    if not steps:
        raise ValueError(f"architectures.{arch}: no layers, frozen_fractions or from_scratch step")
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
