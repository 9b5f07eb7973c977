"""What a training job is asked to do: config sections ``training`` and ``performance`` as dataclasses.

``TrainingSettings`` changes what is learnt. ``performance`` holds two kinds of switch, kept apart so
that a reader sees which ones can move a number: ``ExactSpeedups`` never change results,
``NumericSwitches`` do (float16 storage or compute, XLA's fused kernels).
"""

from dataclasses import dataclass, field

from astrotune.models.augment import AugmentationSettings
from astrotune.models.heads import HeadSettings


@dataclass(frozen=True)
class EarlyStopping:
    """Config section ``training.early_stopping``: stop when validation loss has not improved by
    more than ``min_delta`` for ``patience`` epochs (0: off), then restore the best epoch."""

    patience: int = 0
    min_delta: float = 0.0


@dataclass(frozen=True)
class TrainingSettings:
    """How a model is trained (config section ``training`` plus the seed)."""

    weights: str = "none"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    center_crop: int = 0
    lr_min: float = 0.0
    lr_decay_rate: float = 0.96
    lr_decay_steps: int | None = None
    lr_warmup_epochs: float = 0.0
    block_lr_decay: float = 1.0
    optimizer: str = "adam"
    weight_decay: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    balancing: str = "class_weights"
    augmentation: AugmentationSettings = field(default_factory=AugmentationSettings)
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    head: HeadSettings = field(default_factory=HeadSettings)
    reinitialise: bool = False
    batchnorm: str = "frozen"
    tensorboard: bool = False
    seed: int = 42

    @property
    def pretrained(self):
        """The base starts from loaded weights, none of them re-initialised."""
        return self.weights != "none" and not self.reinitialise

    @classmethod
    def from_config(cls, section, seed):
        """Settings from the validated ``training`` config section and the run's training seed (the study's
        ``seed``, or ``seed + k`` for the k-th extra seed of ``n_seeds``)."""
        section = dict(section)
        return cls(**section | {"augmentation": AugmentationSettings(**section.get("augmentation", {})),
                                "early_stopping": EarlyStopping(**section.get("early_stopping", {})),
                                "head": HeadSettings.from_config(section.get("head")),
                                "seed": seed})


@dataclass(frozen=True)
class ExactSpeedups:
    """Switches of config section ``performance`` that never change a result.

    Attributes:
        feature_cache: train on cached frozen-prefix tensors wherever that is exact.
        memory_budget_mb: arrays larger than this are streamed from their HDF5 file.
        require_cache: a job given a feature cache that it cannot use fails instead of training
            the full model.
    """

    feature_cache: bool = True
    memory_budget_mb: float = 2048
    require_cache: bool = False


@dataclass(frozen=True)
class NumericSwitches:
    """Switches of config section ``performance`` that change results (in the last digits or more).

    Attributes:
        feature_dtype: ``float32`` (exact) or ``float16`` (half the cache size, rounded features).
        mixed_precision: float16 compute on a GPU (ignored on CPU).
        xla: XLA compilation on a GPU (ignored on CPU, where it was 3x slower); fused kernels round differently.
    """

    feature_dtype: str = "float32"
    mixed_precision: bool = False
    xla: bool = False


@dataclass(frozen=True)
class PerformanceSettings:
    """Config section ``performance``: the exact speed-ups and the switches that change numbers."""

    exact: ExactSpeedups = field(default_factory=ExactSpeedups)
    numeric: NumericSwitches = field(default_factory=NumericSwitches)

    @classmethod
    def from_config(cls, section):
        """Settings from the validated ``performance`` section (keys of both kinds, flat)."""
        exact = {name: section[name] for name in ExactSpeedups.__dataclass_fields__ if name in section}
        numeric = {name: section[name] for name in NumericSwitches.__dataclass_fields__ if name in section}
        return cls(ExactSpeedups(**exact), NumericSwitches(**numeric))
