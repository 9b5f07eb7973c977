"""Keras backends: a model saved on one backend loads and predicts the same on another, and Grad-CAM
and saliency give the same maps on JAX as on TensorFlow. Each other backend runs in a child process
(the backend is fixed when Keras is first imported)."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from astrotune import backend

TESTS = Path(__file__).parent
CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import astrotune
    from astrotune import backend
    sys.path.insert(0, {tests!r})
    from test_backends import build_and_save, explained
    from astrotune.models.zoo import load_model
    folder = {folder!r}
    images = np.load(folder + "/images.npy")
    build_and_save(folder + "/other.keras")
    np.savez(folder + "/loaded.npz", **explained(load_model(folder + "/model.keras"), images))
    np.savez(folder + "/built.npz", **explained(load_model(folder + "/other.keras"), images))
    print(json.dumps(backend.versions()))
""")


def build_and_save(path):
    """A workflow classifier (augmentation, centre crop, CompactCNN base, CBAM head) saved as .keras."""
    import keras

    from astrotune.models.augment import AugmentationSettings, augmentation_block
    from astrotune.models.heads import HeadSettings
    from astrotune.models.zoo import build_classifier, save_model

    keras.utils.set_random_seed(7)
    augmentation = augmentation_block(AugmentationSettings(flip=True, rotate_degrees=10, gain=0.1), seed=7)
    model, _ = build_classifier("CompactCNN", 3, (36, 36, 3), "none", augmentation, HeadSettings(cbam=True),
                                center_crop=32)
    save_model(model, path)


def other_backend(name, folder):
    """Run CHILD on the backend ``name``: it explains ``folder/model.keras``, builds and explains
    ``folder/other.keras``; returns both results and the versions it ran."""
    run_child(name, CHILD, folder)
    return dict(np.load(folder / "loaded.npz")), dict(np.load(folder / "built.npz"))


def run_child(name, code, folder):
    """Run ``code`` (formatted with ``tests`` and ``folder``) in a fresh Python on the backend ``name``
    (skipped where it is not installed); returns the JSON report on its last line, which names the backend."""
    require(name)
    result = subprocess.run([sys.executable, "-c", code.format(tests=str(TESTS), folder=str(folder))],
                            env=os.environ | {"KERAS_BACKEND": name}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == name
    return report


def require(name):
    """Skip unless the backend ``name`` is installed (without importing it here: a job-environment test
    in this process checks that no backend library was imported before it)."""
    if importlib.util.find_spec(name) is None:
        pytest.skip({"jax": "JAX not installed (pip install astrotune[jax])",
                     "torch": "PyTorch not installed (pip install astrotune[torch])"}[name])


@pytest.fixture(scope="module", autouse=True)
def jax_compilation_cache(tmp_path_factory):
    """One JAX persistent compilation cache for this module's JAX processes (children, workflow jobs), every
    compilation kept: Keras runs JAX steps eagerly on a CPU, and each process would otherwise compile each op
    again (about 7 of the 15 CPU seconds of a small training child). It stores XLA's compiled code, so the
    numbers are the same with or without it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("jax_cache")))
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
        yield


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(4, 36, 36, 3)).astype(np.uint8)


def explained(model, images):
    from astrotune.evaluation.explain import GradCam

    explainer = GradCam(model)
    heatmaps, classes = explainer.heatmaps(images)
    saliency, _ = explainer.saliency(images, classes)
    return {"probabilities": model.predict(images, verbose=0), "heatmaps": heatmaps, "saliency": saliency}


@pytest.mark.parametrize("other", ["jax", "torch"])
def test_models_and_their_explanations_cross_backends(other, images, tmp_path):
    """Saved on TensorFlow, loaded on the other backend, and the other way round: the same
    probabilities (1e-4) and maps."""
    from astrotune.models.zoo import load_model

    assert backend.name() == "tensorflow"
    np.save(tmp_path / "images.npy", images)
    build_and_save(tmp_path / "model.keras")
    loaded_there, built_there = other_backend(other, tmp_path)
    for here, there in ((explained(load_model(tmp_path / "model.keras"), images), loaded_there),
                        (explained(load_model(tmp_path / "other.keras"), images), built_there)):
        np.testing.assert_allclose(here["probabilities"], there["probabilities"], atol=1e-4)
        # On PyTorch the maps differ from TensorFlow's by up to 3% of their peak (seen: 0.027 in 6% of
        # the pixels) while the probabilities agree; the suspect, not yet confirmed, is how each routes
        # the gradient at max-pooling and ReLU ties.
        tolerance = 1e-3 if other == "jax" else 0.05
        np.testing.assert_allclose(here["heatmaps"], there["heatmaps"], atol=tolerance)
        np.testing.assert_allclose(here["saliency"], there["saliency"], atol=tolerance)


def test_gradient_is_the_analytic_one():
    from keras import ops

    x = np.array([[1.0, -2.0, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(backend.gradient(lambda v: ops.square(v) * 0.5, x), x)


def test_backend_is_chosen_by_config_or_environment(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backend.choose("auto") == "jax"
    assert backend.choose("torch") == "torch" and os.environ["KERAS_BACKEND"] == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    assert backend.choose("auto") == "tensorflow"
    with pytest.raises(ValueError, match="performance.backend: 'theano'"):
        backend.choose("theano")


RESUME_CHILD = textwrap.dedent("""
    import json, logging, os, signal, sys
    import numpy as np
    logging.basicConfig(level=logging.INFO)
    sys.path.insert(0, {tests!r})
    import astrotune.training.checkpoints as checkpoints
    import astrotune.training.loop as loop
    import test_train
    from dataclasses import replace
    from astrotune import backend
    from astrotune.data.store import read_dataset

    data = read_dataset({folder!r} + "/dataset.h5")
    # Few images and epochs: Keras runs JAX steps eagerly on a CPU (no XLA), one Python dispatch per op.
    problem = {{"images": data.images, "labels": data.labels, "train": np.arange(16), "val": np.arange(40, 48),
               "folder": __import__("pathlib").Path({folder!r})}}
    settings = replace(test_train.SETTINGS, epochs=2)
    if sys.argv[1] == "kill":
        real_save = checkpoints.save_checkpoint
        def save_then_die(checkpoint_dir, model, state, fingerprint):
            real_save(checkpoint_dir, model, state, fingerprint)
            os.kill(os.getpid(), signal.SIGKILL)
        loop.save_checkpoint = save_then_die
        test_train.run(problem, {checkpoint!r}, settings)
    resumed, history, _ = test_train.run(problem, {checkpoint!r}, settings)
    whole, expected, _ = test_train.run(problem, {checkpoint!r} + "-uninterrupted", settings)
    print(json.dumps({{"backend": backend.name(), "resumed_epochs": list(history["epoch"]),
                      "same_history": history.drop(columns="seconds").equals(expected.drop(columns="seconds")),
                      "same_weights": all(np.array_equal(a, b) for a, b in zip(resumed.get_weights(),
                                                                                whole.get_weights()))}}))
""")


def test_sigkill_and_resume_on_jax_give_the_uninterrupted_result(tmp_path):
    """A training job on JAX killed after its first epoch resumes to the uninterrupted history and weights."""
    require("jax")
    from test_train import write_problem

    folder = write_problem(tmp_path)["folder"]
    code = RESUME_CHILD.format(tests=str(TESTS), folder=str(folder), checkpoint=str(tmp_path / "checkpoint"))
    env = os.environ | {"KERAS_BACKEND": "jax"}
    killed = subprocess.run([sys.executable, "-c", code, "kill"], env=env, capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    resumed = subprocess.run([sys.executable, "-c", code, "resume"], env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming after epoch 1" in resumed.stderr
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result == {"backend": "jax", "resumed_epochs": [1, 2], "same_history": True, "same_weights": True}


@pytest.mark.slow
def test_tiny_study_runs_on_jax_with_its_cache_explanations_and_predict(tmp_path):
    """``performance.backend: jax``: packing, the feature cache, training on it, evaluation and
    Grad-CAM run on JAX, the records say so, and ``astrotune predict`` on JAX reproduces the job's
    predictions."""
    require("jax")
    import pandas as pd

    from workflow_helpers import TINY_CONFIG, copy_project, run_snakemake

    # One training job (of a suffix, on the cache): each job is a process that imports TensorFlow and JAX.
    config = TINY_CONFIG | {"training": TINY_CONFIG["training"] | {"epochs": 1},
                            "architectures": {"CompactCNN": [3]}, "performance": {"backend": "jax"}}
    workdir = copy_project(tmp_path / "study", config)
    models = workdir / "results" / "tiny" / "models" / "CompactCNN"
    run_snakemake(workdir, "results/tiny/metrics/CompactCNN/L3.json", "results/tiny/figures/gradcam.png")
    summary = json.loads((models / "L3" / "summary.json").read_text())
    assert summary["libraries"]["backend"] == "jax" and summary["cache"] == "used", summary
    metrics = json.loads((workdir / "results" / "tiny" / "metrics" / "CompactCNN" / "L3.json").read_text())
    assert metrics["libraries"]["backend"] == "jax" and 0 <= metrics["val"]["accuracy"] <= 1
    assert (workdir / "results" / "tiny" / "figures" / "gradcam.png").stat().st_size > 0
    result = subprocess.run([sys.executable, "-m", "astrotune.cli", "predict", str(models / "L3" / "model.keras"),
                             str(workdir / "results" / "tiny" / "dataset.h5"), "-o", str(tmp_path / "new.csv")],
                            env=os.environ | {"KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    job = pd.read_csv(models / "L3" / "predictions.csv").query("view == 'plain'").set_index("id")
    new = pd.read_csv(tmp_path / "new.csv").set_index("id").loc[job.index]
    columns = [f"p_{name}" for name in ("GALAXY", "STAR", "QSO")]
    np.testing.assert_allclose(new[columns].to_numpy(), job[columns].to_numpy(), atol=1e-4)
