"""Per-block learning-rate decay (``training.block_lr_decay``): after one optimizer step the update of a
variable in the i-th block below the head is decay**i times the undecayed one, for every optimizer and
with a schedule, on TensorFlow, JAX and PyTorch, under mixed_float16 and on a cached suffix; a saved
model resumes identically. Other backends run in a child process (fixed when Keras is imported)."""

import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from astrotune.training.settings import TrainingSettings

keras = pytest.importorskip("keras")

from astrotune.models.blocks import block_lr_factors  # noqa: E402
from astrotune.models.cut import find_base, model_input, prefix_outputs, split_classifier  # noqa: E402
from astrotune.models.zoo import load_model, save_model  # noqa: E402
from astrotune.training.compile import compile_classifier, compiled_model  # noqa: E402

from test_backends import run_child  # noqa: E402

ARCH, SIDE, N_CLASSES, DECAY = "VGG11", 32, 3, 0.5  # VGG11: 15 layers in 5 blocks
SETTINGS = TrainingSettings(epochs=2, batch_size=4, learning_rate=0.01, weight_decay=0.1, seed=3)
CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import keras
    from test_block_lr import decay_errors, resume_error
    errors = {{name: decay_errors(name, schedule) for name, schedule in [("sgd", "constant"), ("adam", "cosine"),
                                                                         ("adamw", "exponential")]}}
    print(json.dumps({{"backend": keras.backend.backend(), "errors": errors, "resume": resume_error({folder!r})}}))
""")


def batch(n=4):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, SIDE, SIDE, 3)).astype("float32")
    return images, keras.utils.to_categorical(np.arange(n) % N_CLASSES, N_CLASSES)


def pair(optimizer, schedule="constant", layers=15):
    """Two compiled classifiers with the same initial weights: undecayed and decayed (DECAY per block)."""
    settings = replace(SETTINGS, optimizer=optimizer, lr_schedule=schedule)
    plain = compiled_model(ARCH, layers, N_CLASSES, (SIDE, SIDE, 3), 8, settings)
    decayed = compiled_model(ARCH, layers, N_CLASSES, (SIDE, SIDE, 3), 8, replace(settings, block_lr_decay=DECAY))
    decayed.set_weights(plain.get_weights())
    return plain, decayed


def deviation(got, expected, weights):
    """The largest difference of two updates of ``weights`` in float32 roundings of the updated weights
    (an update is stored as the new weight, so two equal updates may differ by an ulp of the weight)."""
    return max(float(np.abs(a - b).max()) / (2 * float(np.spacing(np.float32(np.abs(w).max() + np.abs(a).max()))))
               for a, b, w in zip(got, expected, weights))


def step_deltas(model, inputs, labels, fitted=None, iterations=1):
    """The change of ``model``'s trainable variables in one optimizer step of ``fitted`` (default the
    model itself) on (inputs, labels), taken at step ``iterations`` of the optimizer's schedule."""
    fitted = fitted or model
    fitted.optimizer.iterations.assign(iterations)
    before = [np.array(variable) for variable in model.trainable_variables]
    fitted.fit(inputs, labels, batch_size=len(labels), epochs=1, shuffle=False, verbose=0)
    return [np.array(variable) - value for variable, value in zip(model.trainable_variables, before)]


def decay_errors(optimizer, schedule):
    """How far the decayed step is from factor * undecayed step (``deviation``: at most 1 is equal up to
    rounding), and the blocks below the head whose variables moved."""
    plain, decayed = pair(optimizer, schedule)
    factors = block_lr_factors(decayed, find_base(decayed), ARCH, DECAY)
    images, labels = batch()
    weights = [np.array(variable) for variable in decayed.trainable_variables]
    expected = [factor * delta for factor, delta in zip(factors, step_deltas(plain, images, labels))]
    got = step_deltas(decayed, images, labels)
    error = deviation(got, expected, weights)
    moved = sorted({round(np.log(factor) / np.log(DECAY)) for factor, delta in zip(factors, got)
                    if np.abs(delta).max() > 0})
    return {"error": error, "blocks_moved": moved}


def resume_error(folder):
    """Train the decayed Adam classifier a step, save and load it (.keras), then step both once more;
    returns the largest difference of their weights, or a string saying what was not restored."""
    _, model = pair("adam", "cosine")
    images, labels = batch()
    step_deltas(model, images, labels, iterations=0)
    save_model(model, Path(folder) / "decayed.keras")
    loaded = load_model(Path(folder) / "decayed.keras")
    if type(loaded.optimizer).__name__ != "BlockAdam" or loaded.optimizer.factors != model.optimizer.factors:
        return f"loaded {type(loaded.optimizer).__name__} {loaded.optimizer.get_config().get('factors')}"
    for fitted in (model, loaded):
        fitted.fit(images, labels, batch_size=len(labels), epochs=1, shuffle=False, verbose=0)
    return max(float(np.abs(np.array(a) - np.array(b)).max()) for a, b in zip(model.weights, loaded.weights))


@pytest.mark.parametrize("optimizer, schedule", [("sgd", "constant"), ("adam", "cosine"), ("adamw", "exponential")])
def test_each_block_steps_at_its_decayed_rate(optimizer, schedule):
    result = decay_errors(optimizer, schedule)
    assert result["error"] <= 1 and result["blocks_moved"] == [0, 1, 2, 3, 4, 5], result


def test_head_and_blocks_use_the_right_optimizer():
    plain, decayed = pair("sgd")
    assert type(plain.optimizer) is keras.optimizers.SGD and type(decayed.optimizer).__name__ == "BlockSGD"
    assert decayed.optimizer.factors[-2:] == (1.0, 1.0) and decayed.optimizer.factors[:2] == (DECAY**5, DECAY**5)


def test_a_saved_model_loads_its_decaying_optimizer_and_continues_identically(tmp_path):
    assert resume_error(tmp_path) == 0.0


def test_under_mixed_float16_the_loss_scale_optimizer_wraps_the_decaying_one():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        plain, decayed = pair("sgd")
        assert type(decayed.optimizer).__name__ == "LossScaleOptimizer"
        assert type(decayed.optimizer.inner_optimizer).__name__ == "BlockSGD"
        factors = block_lr_factors(decayed, find_base(decayed), ARCH, DECAY)
        images, labels = batch()
        weights = [np.array(variable) for variable in decayed.trainable_variables]
        expected = [factor * delta for factor, delta in zip(factors, step_deltas(plain, images, labels))]
        got = step_deltas(decayed, images, labels)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert max(float(np.abs(delta).max()) for delta in got[:2]) > 0  # the bottom block moved (no skipped step)
    assert deviation(got, expected, weights) <= 1


def test_a_cached_suffix_learns_at_the_classifier_rates():
    """The suffix shares the classifier's variables and optimizer, so each keeps its block's rate."""
    _, full = pair("adam", layers=7)  # VGG11's two top blocks train
    _, cached = pair("adam", layers=7)
    cached.set_weights(full.get_weights())
    split = split_classifier(cached, len(find_base(cached).layers) - 7)
    compile_classifier(split.suffix, cached.optimizer)
    images, labels = batch()
    features = model_input(prefix_outputs(split.prefix, images))
    weights = [np.array(variable) for variable in full.trainable_variables]
    suffix_step = step_deltas(cached, features, labels, fitted=split.suffix)
    assert deviation(suffix_step, step_deltas(full, images, labels), weights) <= 1
    assert sorted(set(cached.optimizer.factors)) == [DECAY**2, DECAY, 1.0]


def test_the_decay_is_part_of_a_checkpoint_identity(tmp_path):
    from astrotune.training.checkpoints import training_fingerprint

    (tmp_path / "split.csv").write_text("id,subset\n")
    fingerprints = {training_fingerprint("sha", tmp_path / "split.csv", ARCH, 7, replace(SETTINGS, block_lr_decay=decay))
                    for decay in (1.0, 0.75)}
    assert len(fingerprints) == 2


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_other_backends_decay_per_block_and_resume(name, tmp_path):
    report = run_child(name, CHILD, tmp_path)
    for optimizer, errors in report["errors"].items():
        assert errors["error"] <= 1 and errors["blocks_moved"] == [0, 1, 2, 3, 4, 5], (optimizer, errors)
    assert report["resume"] == 0.0, report
