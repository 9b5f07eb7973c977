"""The training loop in process: early stopping keeps the best epoch, a killed job resumes exactly
(also a real SIGKILL), and a checkpoint of other settings is never resumed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from astrotune.data.store import PackedDataset, write_dataset
from astrotune.io import sha256_file
from astrotune.models.augment import AugmentationSettings
from astrotune.training.checkpoints import STATE_FILE, training_fingerprint
from astrotune.training.loop import train
from astrotune.training.settings import EarlyStopping, TrainingSettings

N_CLASSES = 3


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    return write_problem(tmp_path_factory.mktemp("problem"))


def write_problem(folder):
    """60 noise images with random labels: the model can only memorise, so validation loss rises
    after a few epochs (what early stopping must catch). Written as a packed data set + split."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 16, 16, 3)).astype("uint8")
    labels = rng.integers(0, N_CLASSES, 60)
    ids = [f"o{i}" for i in range(60)]
    write_dataset(folder / "dataset.h5", PackedDataset(images, labels, np.array(ids, dtype=object), np.full(60, np.nan),
                                                      np.full(60, np.nan), ["A", "B", "C"]))
    (folder / "split.csv").write_text("id,subset\n" + "".join(
        f"{i},{'train' if n < 40 else 'val'}\n" for n, i in enumerate(ids)))
    return {"images": images, "labels": labels, "train": np.arange(40), "val": np.arange(40, 60), "folder": folder}


SETTINGS = TrainingSettings(epochs=8, batch_size=8, learning_rate=0.01, balancing="oversample",
                            augmentation=AugmentationSettings(dihedral=True),
                            early_stopping=EarlyStopping(patience=2), seed=11)


def run(problem, checkpoint_dir, settings=SETTINGS):
    fingerprint = training_fingerprint(sha256_file(problem["folder"] / "dataset.h5"), problem["folder"] / "split.csv",
                                       "CompactCNN", 30, settings)
    return train(problem["images"], problem["labels"], problem["train"], problem["val"], N_CLASSES, "CompactCNN",
                 30, settings, checkpoint_dir, fingerprint)


def val_loss(model, problem):
    images, labels = problem["images"][problem["val"]], problem["labels"][problem["val"]]
    return model.evaluate(images, np.eye(N_CLASSES)[labels], verbose=0)[0]


@pytest.fixture(scope="module")
def uninterrupted(problem, tmp_path_factory):
    model, history, state = run(problem, tmp_path_factory.mktemp("uninterrupted") / "checkpoint")
    return model, history, state


def test_early_stopping_restores_the_best_epoch(uninterrupted, problem):
    model, history, state = uninterrupted
    assert state.stopped and len(history) < SETTINGS.epochs
    assert len(history) - state.best_epoch == SETTINGS.early_stopping.patience
    assert state.best_epoch == int(history["val_loss"].idxmin()) + 1
    assert val_loss(model, problem) == pytest.approx(history["val_loss"].min(), rel=1e-5)
    assert val_loss(model, problem) < history["val_loss"].iloc[-1]


def count_traced_steps(monkeypatch):
    """The names of the model steps ``loop.train`` traces from now on, in order (a list filled as it runs)."""
    import astrotune.training.loop

    traced = []

    def counting_model(*args, **kwargs):
        model = build(*args, **kwargs)
        for name in ("train_step", "test_step"):
            step = getattr(model, name)
            setattr(model, name, lambda data, step=step, name=name: traced.append(name) or step(data))
        return model

    build = astrotune.training.loop.compiled_model
    monkeypatch.setattr(astrotune.training.loop, "compiled_model", counting_model)
    return traced


def test_training_and_validation_steps_are_traced_once(problem, tmp_path, monkeypatch):
    """A training job traces each step once: the metric and optimizer variables exist before the
    first step (created inside it, they make tf.function trace the step twice)."""
    traced = count_traced_steps(monkeypatch)
    _, history, _ = run(problem, tmp_path / "checkpoint", replace(SETTINGS, epochs=3))
    assert len(history) == 3
    assert traced == ["train_step", "test_step"]


def test_without_validation_rows_nothing_is_validated(problem, tmp_path, monkeypatch):
    """``val_rows`` None (a pretraining run without early stopping) builds and runs no validation step and
    records no ``val_*`` history; early stopping without validation rows is refused."""
    settings = replace(SETTINGS, epochs=2, early_stopping=EarlyStopping())
    traced = count_traced_steps(monkeypatch)
    _, history, state = train(problem["images"], problem["labels"], problem["train"], None, N_CLASSES, "CompactCNN",
                              30, settings, tmp_path / "checkpoint", "fingerprint")
    assert traced == ["train_step"]
    assert list(history["epoch"]) == [1, 2] and not [column for column in history if column.startswith("val_")]
    assert state.best_epoch == 0
    with pytest.raises(ValueError, match="early stopping needs validation rows"):
        train(problem["images"], problem["labels"], problem["train"], None, N_CLASSES, "CompactCNN", 30, SETTINGS,
              tmp_path / "other", "fingerprint")


CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import astrotune.training.checkpoints as checkpoints
    sys.path.insert(0, {tests!r})
    import test_train
    from astrotune.data.store import read_dataset

    kill_after = int(sys.argv[1])
    real_save = checkpoints.save_checkpoint
    def save_then_die(checkpoint_dir, model, state, fingerprint):
        real_save(checkpoint_dir, model, state, fingerprint)
        if len(state.history) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    import astrotune.training.loop
    astrotune.training.loop.save_checkpoint = save_then_die
    data = read_dataset({folder!r} + "/dataset.h5")
    problem = {{"images": data.images, "labels": data.labels, "train": np.arange(40), "val": np.arange(40, 60),
               "folder": __import__("pathlib").Path({folder!r})}}
    test_train.run(problem, {checkpoint!r})
""")


def test_sigkill_and_resume_gives_the_uninterrupted_result(uninterrupted, problem, tmp_path):
    """Killed after the best epoch, while waiting out the patience."""
    kill_after = uninterrupted[2].best_epoch + 1
    checkpoint = tmp_path / "checkpoint"
    script = CHILD.format(tests=os.path.dirname(__file__), folder=str(problem["folder"]), checkpoint=str(checkpoint))
    child = subprocess.run([sys.executable, "-c", script, str(kill_after)], capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert len(json.loads((checkpoint / STATE_FILE).read_text())["state"]["history"]) == kill_after
    model, history, state = run(problem, checkpoint)
    expected_model, expected_history, expected_state = uninterrupted
    assert history.drop(columns="seconds").equals(expected_history.drop(columns="seconds"))
    assert (state.best_epoch, state.stopped) == (expected_state.best_epoch, True)
    for got, expected in zip(model.get_weights(), expected_model.get_weights()):
        np.testing.assert_array_equal(got, expected)


def test_checkpoint_of_other_settings_is_not_resumed(problem, tmp_path, caplog):
    checkpoint = tmp_path / "checkpoint"
    short = TrainingSettings(epochs=1, batch_size=8, seed=11)
    run(problem, checkpoint, short)
    assert json.loads((checkpoint / STATE_FILE).read_text())["state"]["history"][-1]["epoch"] == 1
    changed = TrainingSettings(epochs=1, batch_size=8, learning_rate=0.005, seed=11)
    with caplog.at_level("INFO"):
        _, history, _ = run(problem, checkpoint, changed)
    assert "(it belongs to other settings or data); starting fresh" in caplog.text
    assert list(history["epoch"]) == [1]


def test_checkpoint_that_does_not_fit_the_model_is_not_resumed(problem, tmp_path, caplog):
    checkpoint = tmp_path / "checkpoint"
    settings = TrainingSettings(epochs=2, batch_size=8, seed=11)
    run(problem, checkpoint, settings)
    saved = checkpoint / json.loads((checkpoint / STATE_FILE).read_text())["model_file"]
    with np.load(saved) as values:
        np.savez(saved, *[values[name] for name in values.files][:-1])
    with caplog.at_level("INFO"):
        _, history, _ = run(problem, checkpoint, settings)
    assert "variables, the model has" in caplog.text and "starting fresh" in caplog.text
    assert list(history["epoch"]) == [1, 2]


class Interrupted(Exception):
    pass


def test_replaced_weights_file_between_kill_and_resume_starts_fresh(problem, tmp_path, monkeypatch, caplog):
    """The checkpoint identity holds the weights as built: the same weights path with other contents
    is another training, so the job starts over and says why."""
    import keras

    import astrotune.training.loop as loop
    from astrotune.models.zoo import build_base

    weights = tmp_path / "base.weights.h5"

    def write_weights(seed):
        keras.utils.set_random_seed(seed)
        build_base("CompactCNN", (16, 16, 3), "none").save_weights(weights)

    write_weights(0)
    settings = TrainingSettings(weights=str(weights), epochs=2, batch_size=8, seed=11)
    real_save = loop.save_checkpoint

    def save_then_stop(checkpoint_dir, model, state, fingerprint):
        real_save(checkpoint_dir, model, state, fingerprint)
        raise Interrupted

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        run(problem, tmp_path / "checkpoint", settings)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    write_weights(1)
    with caplog.at_level("INFO"):
        _, history, _ = run(problem, tmp_path / "checkpoint", settings)
    assert "(the weights as built differ, frozen ones included (another weights file?)); starting fresh" in caplog.text
    assert "resuming" not in caplog.text
    assert list(history["epoch"]) == [1, 2]


def test_checkpoint_identity_names_numeric_switches_and_versions(tmp_path, caplog):
    from astrotune.training.checkpoints import TrainingState, checkpoint_identity, load_checkpoint, save_checkpoint
    from astrotune.training.compile import compiled_model
    from astrotune.training.settings import NumericSwitches

    model = compiled_model("CompactCNN", 3, N_CLASSES, (16, 16, 3), 8, TrainingSettings(seed=1))
    identity = checkpoint_identity("fp", model, NumericSwitches())
    assert {"keras", "tensorflow", "backend", "policy", "weights_as_built"} <= set(identity)
    save_checkpoint(tmp_path, model, TrainingState(history=[{"epoch": 1}]), identity)
    assert len(load_checkpoint(tmp_path, identity, model).history) == 1
    for changed, why in ((checkpoint_identity("fp", model, NumericSwitches(feature_dtype="float16")),
                          "other numeric switches"), (identity | {"keras": "0.0"}, "another Keras version")):
        save_checkpoint(tmp_path, model, TrainingState(history=[{"epoch": 1}]), identity)
        with caplog.at_level("INFO"):
            assert load_checkpoint(tmp_path, changed, model).history == []
        assert f"({why}" in caplog.text
