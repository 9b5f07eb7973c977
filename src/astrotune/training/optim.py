"""Optimisers and learning-rate schedules from the ``training`` config section.

Every schedule is a ``keras.optimizers.schedules`` object driven by the optimizer's iteration
counter, which is saved with the model in every checkpoint, so a resumed job continues the same
schedule where it stopped.
"""

import math

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "exponential", "inverse_time")


def steps_per_epoch(n_train, batch_size):
    """Optimizer steps in one epoch over ``n_train`` images (the last batch may be short)."""
    return max(1, math.ceil(n_train / batch_size))


def learning_rate_schedule(settings, n_train):
    """The configured learning rate: a number (``constant``) or a Keras schedule over the run.

    Args:
        settings: ``train.TrainingSettings`` (learning_rate, lr_schedule, lr_min, lr_decay_rate,
            lr_decay_steps, lr_warmup_epochs, epochs, batch_size).
        n_train: training images per epoch (after balancing), which sets the steps per epoch.

    Returns:
        ``cosine``: from learning_rate down to lr_min at the last step of the last epoch;
        ``exponential``: learning_rate * rate ** (step / decay_steps);
        ``inverse_time``: learning_rate / (1 + rate * step / decay_steps), which with decay_steps 1
        is the legacy Keras ``decay`` argument; decay_steps defaults to one epoch's steps.
        With ``lr_warmup_epochs`` the rate first rises linearly from 0 to learning_rate over that many
        epochs' steps (``constant`` and ``cosine``), then follows the schedule over the remaining steps.
    """
    import keras

    name = settings.lr_schedule
    if name not in SCHEDULES:
        raise ValueError(f"training.lr_schedule {name!r} is not one of {', '.join(SCHEDULES)}")
    per_epoch = steps_per_epoch(n_train, settings.batch_size)
    if settings.lr_warmup_epochs:
        return _warmup_schedule(settings, per_epoch)
    if name == "constant":
        return settings.learning_rate
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(settings.learning_rate, decay_steps=settings.epochs * per_epoch,
                                                      alpha=_cosine_floor(settings))
    decay_steps = settings.lr_decay_steps or per_epoch
    if name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(settings.learning_rate, decay_steps, settings.lr_decay_rate)
    return keras.optimizers.schedules.InverseTimeDecay(settings.learning_rate, decay_steps, settings.lr_decay_rate)


def _cosine_floor(settings):
    """lr_min as the fraction of learning_rate a cosine schedule ends at."""
    if settings.lr_min > settings.learning_rate:
        raise ValueError(f"training.lr_min {settings.lr_min} is above learning_rate {settings.learning_rate}")
    return settings.lr_min / settings.learning_rate


def _warmup_schedule(settings, per_epoch):
    """Keras' cosine schedule with its linear warm-up: after the warm-up steps, a cosine decay to lr_min
    (``cosine``) or none at all (``constant``, a cosine whose floor is the learning rate itself)."""
    import keras

    if settings.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"training.lr_warmup_epochs works with lr_schedule constant or cosine, "
                         f"not {settings.lr_schedule!r}")
    if settings.lr_warmup_epochs >= settings.epochs:
        raise ValueError(f"training.lr_warmup_epochs {settings.lr_warmup_epochs} leaves none of the "
                         f"{settings.epochs} epochs after the warm-up")
    warmup_steps = math.ceil(settings.lr_warmup_epochs * per_epoch)
    floor = 1.0 if settings.lr_schedule == "constant" else _cosine_floor(settings)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=settings.epochs * per_epoch - warmup_steps,
                                                  alpha=floor, warmup_target=settings.learning_rate,
                                                  warmup_steps=warmup_steps)


def build_optimizer(settings, n_train, factors=None):
    """The configured Keras optimizer (``adam``, ``adamw`` or ``sgd``) with its learning-rate schedule.

    ``weight_decay`` is AdamW's decoupled decay (ignored by Adam and SGD, whose regularisation is
    the head's L2); ``momentum`` and ``nesterov`` apply to SGD. With ``factors`` (one per variable the
    optimizer will be built on, ``blocks.block_lr_factors``) it is the same optimizer whose update of
    each variable uses the learning rate times that variable's factor (``training.block_lr_decay``).
    """
    import keras

    rate = learning_rate_schedule(settings, n_train)
    name = settings.optimizer
    if name not in OPTIMIZERS:
        raise ValueError(f"training.optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")
    if factors is not None:
        from astrotune.models.block_optimizers import BLOCK_OPTIMIZERS

        classes, extra = BLOCK_OPTIMIZERS, {"factors": factors}
    else:
        classes, extra = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
                          "sgd": keras.optimizers.SGD}, {}
    if name == "adamw":
        return classes[name](rate, weight_decay=settings.weight_decay, **extra)
    if name == "sgd":
        return classes[name](rate, momentum=settings.momentum, nesterov=settings.nesterov, **extra)
    return classes[name](rate, **extra)
