"""End to end through snakemake: pretrain a base on a tiny synthetic source sky, fine-tune the study's
step from the saved base; then a source that renders the study's own objects is refused."""

import copy
import hashlib
import json
import re

import numpy as np
import pytest

from workflow_helpers import TINY_CONFIG, copy_project, run_snakemake

pytestmark = pytest.mark.slow

CONFIG = copy.deepcopy(TINY_CONFIG) | {
    "training": {"weights": "pretrained", "epochs": 1, "batch_size": 16},
    "architectures": {"CompactCNN": [4]},
    "unsupervised": {"enabled": False},
    "performance": {"feature_cache": False},  # one training job, no cache job (the dry-run tests plan the cache)
    "pretrain": {"source": {"dataset": {"name": "tiny-source"}, "seed": 99, "synthetic": {"n_objects": 48}},
                 "training": {"epochs": 1}},
}
TARGET = "results/tiny/metrics/CompactCNN/L4.json"
PRETRAINED = "results/tiny/pretrained/CompactCNN"


def base_variables(path, prefix=""):
    """{layer/var index: values} of a Keras weights file (or a ``.keras`` archive's base under ``prefix``)."""
    import io
    import zipfile

    import h5py

    if str(path).endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            path = io.BytesIO(archive.read("model.weights.h5"))
    found = {}
    with h5py.File(path, "r") as h5:
        layers = h5[f"{prefix}layers"]
        for name in layers:
            for index, value in layers[name]["vars"].items():
                found[f"{name}/{index}"] = value[()]
    return found


def test_pretrain_on_a_tiny_source_then_fine_tune_from_the_saved_base_and_refuse_an_overlapping_source(tmp_path):
    workdir = copy_project(tmp_path / "project", CONFIG)
    run_snakemake(workdir, TARGET)
    pretrained = workdir / PRETRAINED
    weights = pretrained.with_name("CompactCNN.weights.h5")
    provenance = json.loads(pretrained.with_name("CompactCNN.provenance.json").read_text())
    assert provenance["source"] == "tiny-source" and provenance["seed"] == 99 and provenance["target"] == "tiny"
    assert provenance["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert provenance["overlap"]["shared"] == 0 and provenance["layers"] == 30 and provenance["config_hash"]
    metrics = json.loads(pretrained.with_name("CompactCNN.metrics.json").read_text())
    assert metrics["val"]["n"] == provenance["n_val"] > 0 and 0 <= metrics["val"]["accuracy"] <= 1
    assert metrics["weights"] == "none" and metrics["epochs_run"] == 1
    assert not list((workdir / "results" / "tiny" / "pretrained").glob("*.checkpoint"))

    fine_tuned = json.loads((workdir / TARGET).read_text())
    assert fine_tuned["weights"] == "results/tiny/pretrained/CompactCNN.weights.h5"
    assert fine_tuned["weights_origin"] == "pretrained on tiny-source"
    # Fine-tuned from the saved base: every frozen kernel and BatchNorm statistic of L4 is the pretrained
    # one (pretraining trained them all from random weights); the last BatchNorm's gamma trained on.
    pretrained_values = base_variables(weights)
    tuned = base_variables(workdir / "results/tiny/models/CompactCNN/L4/model.keras", "layers/functional/")
    assert set(tuned) == set(pretrained_values) and len(tuned) == 8 + 8 * 4  # 8 kernels (no bias), 8 BatchNorms
    frozen = [key for key in tuned if not key.startswith("batch_normalization_7/")]
    assert all(np.array_equal(tuned[key], pretrained_values[key]) for key in frozen)
    assert not np.array_equal(tuned["batch_normalization_7/0"], pretrained_values["batch_normalization_7/0"])

    # A bigger source sky reruns its own data steps, pretraining and the fine-tuning; the study's data stay.
    bigger = copy.deepcopy(CONFIG)
    bigger["pretrain"]["source"]["synthetic"]["n_objects"] = 54
    copy_project(workdir, bigger)
    planned = run_snakemake(workdir, "-n", TARGET).stdout
    assert re.findall(r"wildcards: dataset=(\S+)", planned).count("tiny-source") == 3  # render, pack, split
    for rule in ("render_synthetic_sky", "pack_dataset", "split_dataset", "pretrain_base", "train_model"):
        assert re.search(rf"^{rule}\s+1$", planned, flags=re.M), rule

    # A source rendered with the study's seed is the study's sky: refused before pretraining, in one line.
    same = copy.deepcopy(CONFIG)
    # (12 objects: object k of a synthetic sky is drawn from (seed, k), so they are the study's first 12.)
    same["pretrain"]["source"] = {"dataset": {"name": "tiny-twin"}, "seed": TINY_CONFIG["seed"],
                                  "synthetic": {"n_objects": 12}}
    copy_project(workdir, same)
    result = run_snakemake(workdir, f"{PRETRAINED}.weights.h5", check=False)
    assert result.returncode != 0
    log = (workdir / "logs/tiny/pretrain_base/CompactCNN.log").read_text()
    assert "pretraining source tiny-twin and target tiny share 12 object(s) (12 by id, 12 by position" in log
