"""Optimisers and learning-rate schedules (optim.py) and their resumption from a checkpoint."""

import math

import numpy as np
import pytest

from astrotune.training.optim import build_optimizer, learning_rate_schedule, steps_per_epoch
from astrotune.training.settings import TrainingSettings

from model_helpers import learning_rate_at


def settings(**kwargs):
    return TrainingSettings(**{"epochs": 4, "batch_size": 10, "learning_rate": 5e-4} | kwargs)


def rate(schedule, step):
    return float(schedule(step)) if callable(schedule) else schedule


def test_steps_per_epoch_counts_the_short_batch():
    assert steps_per_epoch(95, 10) == 10 and steps_per_epoch(100, 10) == 10 and steps_per_epoch(0, 10) == 1


def test_cosine_anneals_from_learning_rate_to_lr_min_at_the_last_step():
    schedule = learning_rate_schedule(settings(lr_schedule="cosine", lr_min=1e-6), n_train=100)
    assert rate(schedule, 0) == pytest.approx(5e-4)
    assert rate(schedule, 20) == pytest.approx(1e-6 + (5e-4 - 1e-6) * 0.5, rel=1e-5)
    assert rate(schedule, 40) == pytest.approx(1e-6, rel=1e-4)


def test_exponential_and_inverse_time_decay():
    exponential = learning_rate_schedule(settings(lr_schedule="exponential", lr_decay_rate=0.5), n_train=100)
    assert rate(exponential, 10) == pytest.approx(2.5e-4)  # one epoch = 10 steps = one decay period
    inverse = learning_rate_schedule(settings(lr_schedule="inverse_time", lr_decay_rate=0.001, lr_decay_steps=1,
                                              learning_rate=0.01), n_train=100)
    assert rate(inverse, 1000) == pytest.approx(0.01 / 2)  # Keras' legacy decay: lr / (1 + decay * step)
    assert learning_rate_schedule(settings(), n_train=100) == 5e-4


def test_warmup_rises_linearly_then_follows_the_schedule():
    """1 epoch (10 steps) of warm-up out of 4: 0 -> learning_rate, then constant or a cosine over 30 steps."""
    cosine = learning_rate_schedule(settings(lr_schedule="cosine", lr_warmup_epochs=1), n_train=100)
    assert [rate(cosine, step) for step in (0, 5)] == pytest.approx([0.0, 2.5e-4])
    assert rate(cosine, 10) == pytest.approx(5e-4) and rate(cosine, 25) == pytest.approx(2.5e-4, rel=1e-5)
    assert rate(cosine, 40) == pytest.approx(0.0, abs=1e-9)
    constant = learning_rate_schedule(settings(lr_warmup_epochs=0.5), n_train=100)
    assert [rate(constant, step) for step in (0, 4, 5, 39)] == pytest.approx([0.0, 4e-4, 5e-4, 5e-4])
    with pytest.raises(ValueError, match="lr_warmup_epochs works with lr_schedule constant or cosine"):
        learning_rate_schedule(settings(lr_schedule="exponential", lr_warmup_epochs=1), n_train=100)
    with pytest.raises(ValueError, match="leaves none of the 4 epochs"):
        learning_rate_schedule(settings(lr_warmup_epochs=4), n_train=100)


@pytest.mark.parametrize("name, cls", [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD")])
def test_build_optimizer(name, cls):
    optimizer = build_optimizer(settings(optimizer=name, weight_decay=0.02, momentum=0.9), n_train=100)
    assert type(optimizer).__name__ == cls
    if name == "adamw":
        assert optimizer.weight_decay == pytest.approx(0.02)
    if name == "sgd":
        assert optimizer.momentum == pytest.approx(0.9)


def test_bad_settings_fail():
    with pytest.raises(ValueError, match="lr_min"):
        learning_rate_schedule(settings(lr_schedule="cosine", lr_min=1.0), n_train=10)
    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer(settings(optimizer="rmsprop"), n_train=10)


def test_saved_optimizer_resumes_its_schedule(tmp_path):
    """The iteration counter is saved with the model, so a reloaded model continues the schedule."""
    import keras

    from astrotune.models.zoo import load_model, save_model

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(build_optimizer(settings(lr_schedule="cosine", optimizer="adamw"), n_train=20),
                  loss="categorical_crossentropy")
    x, y = np.ones((20, 3)), keras.utils.to_categorical(np.arange(20) % 2, 2)
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    save_model(model, tmp_path / "m.keras")
    reloaded = load_model(tmp_path / "m.keras")
    assert int(reloaded.optimizer.iterations) == 2
    expected = 5e-4 * 0.5 * (1 + math.cos(math.pi * 2 / 8))
    assert learning_rate_at(reloaded.optimizer) == pytest.approx(expected, rel=1e-5)
