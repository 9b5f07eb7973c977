"""The Galaxy10 study configs: their planned jobs (in process, full schedules), a dry run of each on a tiny
Galaxy10-layout file (reduced schedule, 1 epoch, 32 px, random initial weights), and one cheap end-to-end run
of a config that puts together what sets the three apart, with the other two table forms made in process
from that run's metrics."""

import hashlib

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from astrotune.models.schedules import training_steps
from astrotune.sky.galaxy10 import VARIANTS

from workflow_helpers import PROJECT_ROOT, copy_project, run_snakemake

SCHEMA = PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml"
STUDIES = PROJECT_ROOT / "config" / "studies"

# (arch, schedule, trainable layers, initial weights, re-initialised) of every job each paper describes.
PLANS = {
    "fu_imagenet_fraction": {
        ("DenseNet121", "frozen 0%", 428, "imagenet", True), ("DenseNet121", "frozen 20%", 342, "imagenet", True),
        ("DenseNet121", "frozen 40%", 257, "imagenet", True), ("DenseNet121", "frozen 60%", 171, "imagenet", True),
        ("DenseNet121", "frozen 80%", 86, "imagenet", True), ("DenseNet121", "frozen 100%", 0, "imagenet", True)},
    "alberghi_galaxy10": {
        ("VGG11", "scratch", 15, "none", False), ("VGG16", "L0", 0, "imagenet", True),
        ("VGG16", "L13", 13, "imagenet", True), ("AvgPoolCNN", "scratch", 19, "none", False)},
    "yan_effnetv2s_cbam": {
        ("EfficientNetV2S", "frozen 0%", 513, "imagenet", False), ("MobileNetV2", "frozen 0%", 155, "imagenet", False),
        ("ResNet50", "frozen 0%", 176, "imagenet", False), ("VGG16", "frozen 0%", 20, "imagenet", False),
        ("InceptionResNetV2", "frozen 0%", 781, "imagenet", False)},
}


def load_study(name):
    """A study config validated against the schema, defaults filled in as the Snakefile does."""
    config = yaml.safe_load((STUDIES / f"{name}.yaml").read_text())
    validate(config, str(SCHEMA))
    return config


@pytest.mark.parametrize("name", sorted(PLANS))
def test_study_plans_the_papers_jobs(name):
    config = load_study(name)
    steps = training_steps(config)
    assert {(s.arch, s.schedule, s.layers, s.weights, s.reinitialise) for s in steps} == PLANS[name]
    assert len(steps) == len(PLANS[name])


def test_study_configs_pass_lint(tmp_path):
    """(alberghi_galaxy10 is linted by tests/test_lint.py, as `make lint` does.)"""
    import subprocess
    import sys

    workdir = copy_project(tmp_path)  # --lint writes .snakemake/; not into the checkout
    for name in sorted(set(PLANS) - {"alberghi_galaxy10"}):
        result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--configfile",
                                 f"config/studies/{name}.yaml"], cwd=workdir, capture_output=True, text=True,
                                timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "good condition" in output, (name, output[-2000:])


def test_study_settings_follow_the_papers():
    fu, alberghi, yan = (load_study(name)["training"] for name in
                         ("fu_imagenet_fraction", "alberghi_galaxy10", "yan_effnetv2s_cbam"))
    assert (fu["optimizer"], fu["learning_rate"], fu["epochs"], fu["balancing"]) == ("adam", 0.0005, 10, "oversample")
    assert (alberghi["optimizer"], alberghi["lr_schedule"], alberghi["learning_rate"], alberghi["lr_min"],
            alberghi["epochs"], alberghi["batch_size"]) == ("adamw", "cosine", 0.0005, 1e-6, 100, 64)
    assert (yan["lr_schedule"], yan["early_stopping"]["patience"]) == ("inverse_time", 4)
    head = load_study("yan_effnetv2s_cbam")["architectures"]["EfficientNetV2S"]["head"]
    assert {key: head[key] for key in ("cbam", "dense", "l2", "dropout")} == {"cbam": True, "dense": [4096], "l2": 0.01,
                                                                            "dropout": 0.4}


def write_tiny_galaxy10(path, per_class=5, size=48):
    """A Galaxy10 DECaLS-layout file: uint8 images (N, size, size, 3), uint8 ans, float64 ra/dec/redshift/pxscale;
    each class has its own mean brightness so a model has something to learn."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class).astype(np.uint8)
    rng.shuffle(labels)
    n = len(labels)
    images = np.clip(rng.normal(20.0 * labels[:, None, None, None], 20, (n, size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=images)
        h5.create_dataset("ans", data=labels)
        for name, values in (("ra", np.arange(n, dtype=np.float64)), ("dec", -np.arange(n) / 100.0),
                             ("redshift", np.full(n, 0.05)), ("pxscale", np.full(n, 0.262))):
            h5.create_dataset(name, data=values)
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Reduced schedules of the tiny studies (the full ones are checked by test_study_plans_the_papers_jobs):
# few trainable layers, since tracing the training step of a whole DenseNet121 or EfficientNetV2S costs a
# minute here.
REDUCED = {
    "fu_imagenet_fraction": {"DenseNet121": {"frozen_fractions": [0.8, 1.0], "reinitialise": True}},
    "alberghi_galaxy10": None,  # all four models
    "yan_effnetv2s_cbam": {"EfficientNetV2S": {"frozen_fractions": [0.95]}, "MobileNetV2": {"frozen_fractions": [0.9]}},
}


def _narrow_head(entry):
    head = entry.get("head")
    return {"head": head | {"dense": [min(units, 32) for units in head["dense"]]}} if head and "dense" in head else {}


def tiny_study(name, workdir):
    """The study config at 32 px, 1 epoch, one seed, random initial weights (offline), on a tiny Galaxy10 file."""
    config = yaml.safe_load((STUDIES / f"{name}.yaml").read_text())
    sha256 = write_tiny_galaxy10(workdir / "resources" / "galaxy10" / VARIANTS["decals"].filename)
    config["dataset"] |= {"image_size": 32}
    config["galaxy10"] |= {"sha256": sha256}
    config["split"] = {"val_fraction": 0.2, "test_fraction": 0.2}
    config["training"] |= {"epochs": 1, "batch_size": 16, "weights": "none"}
    config["n_seeds"] = 1  # one run per model; repeated seeds end to end: tests/test_seeds.py
    architectures = config["architectures"]
    if REDUCED[name]:
        architectures = {arch: architectures[arch] | REDUCED[name][arch] for arch in REDUCED[name]}
    # Narrower hidden Dense layers (the 4096-unit ones cost more than everything else at 32 px).
    config["architectures"] = {arch: entry | {"weights": "none"} | _narrow_head(entry) for arch, entry in architectures.items()}
    path = workdir / "config" / "studies" / f"tiny_{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, config


@pytest.mark.parametrize("name", sorted(PLANS))
def test_tiny_study_plans_its_jobs_and_tables(name, tmp_path):
    """Each study config, reduced as above, through the workflow's dry run: its training jobs, Table 3 of
    every architecture and its study table (the three run end to end together, below)."""
    from test_workflow import planned_jobs

    workdir = copy_project(tmp_path / name)
    configfile, config = tiny_study(name, workdir)
    dataset, form = config["dataset"]["name"], config["tables"]["study"]
    jobs = planned_jobs(run_snakemake(workdir, "-n", f"results/{dataset}/tables/study_{form}.csv",
                                      f"results/{dataset}/tables/table3.csv",
                                      "--configfile", str(configfile.relative_to(workdir))))
    assert jobs["train_model"] == jobs["evaluate_model"] == len(training_steps(config))
    assert jobs["summarize_architectures"] == 1
    assert jobs["write_study_table"] == jobs["architecture_tables"] == jobs["pack_galaxy10"] == 1


def tiny_studies_in_one(workdir):
    """One tiny config with what sets the three studies apart: yan's training (TensorBoard, inverse-time
    learning rate, early stopping, rotation/shear/zoom/flips) with fu's oversampling, gain and translation;
    fu's ImageNet fractions with re-initialisation (on MobileNetV2, under yan's CBAM head); alberghi's custom
    AvgPoolCNN from scratch; fu's table form. (Alberghi's re-initialised VGG16 steps differ from fu's only in
    how their layer counts are given; its VGG16-for-VGG11 rows: test_study_tables_in_the_papers_forms.)"""
    _, config = tiny_study("yan_effnetv2s_cbam", workdir)  # writes the tiny Galaxy10 file its sha256 names
    fu, alberghi, yan = (yaml.safe_load((STUDIES / f"{name}.yaml").read_text())
                         for name in ("fu_imagenet_fraction", "alberghi_galaxy10", "yan_effnetv2s_cbam"))
    config["dataset"]["name"] = "galaxy10-decals-studies"
    config["training"]["balancing"] = fu["training"]["balancing"]
    config["training"]["augmentation"] |= {key: fu["training"]["augmentation"][key] for key in ("gain", "translate")}
    config["tables"] = {"study": "fu_table1"}
    architectures = {
        "MobileNetV2": fu["architectures"]["DenseNet121"] | REDUCED["fu_imagenet_fraction"]["DenseNet121"]
        | {"head": yan["architectures"]["EfficientNetV2S"]["head"]},
        "AvgPoolCNN": alberghi["architectures"]["AvgPoolCNN"],
    }
    config["architectures"] = {arch: entry | {"weights": "none"} | _narrow_head(entry)
                               for arch, entry in architectures.items()}
    path = workdir / "config" / "studies" / "tiny_studies_in_one.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, config


@pytest.fixture(scope="module")
def studies_run(tmp_path_factory):
    """The three studies' features in one end-to-end run: its fu-form study table and Table 3."""
    workdir = copy_project(tmp_path_factory.mktemp("studies") / "project")
    configfile, config = tiny_studies_in_one(workdir)
    tables = f"results/{config['dataset']['name']}/tables"
    run_snakemake(workdir, *[f"{tables}/study_fu_table1.{ext}" for ext in ("csv", "md", "tex", "html")],
                  f"{tables}/table3.csv", "--configfile", str(configfile.relative_to(workdir)), timeout=1500)
    return workdir / "results" / config["dataset"]["name"], config


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_studies_run_end_to_end_in_one_workflow_with_the_fu_table(studies_run):
    results, config = studies_run
    table = pd.read_csv(results / "tables" / "study_fu_table1.csv")
    for ext in ("md", "tex", "html"):
        assert (results / "tables" / f"study_fu_table1.{ext}").is_file()
    assert (table["chosen_on_validation"] == "yes").sum() == 1
    fractions = table[table["arch"] == "MobileNetV2"]
    assert fractions["imagenet_layers"].tolist() == ["80%", "100%"]
    assert fractions["paper_test_accuracy"].tolist() == [0.67, 0.48]
    assert table[["train_loss", "train_accuracy", "test_loss", "test_accuracy"]].notna().all().all()
    for arch in config["architectures"]:  # training.tensorboard: every job logs its events
        assert any((results / "models" / arch).glob("L*/tensorboard/**/*tfevents*")), arch
    # Tables 2 and 3 treat every architecture alike, the from-scratch ones included.
    table3 = pd.read_csv(results / "tables" / "table3.csv")
    assert set(table3["arch"]) == set(config["architectures"])


@pytest.mark.slow
def test_alberghi_and_yan_forms_of_the_runs_models(studies_run):
    """The other two forms from the run's metrics and histories, read as write_study_table reads them."""
    from astrotune.reporting.study_tables import load_models, study_table

    results, config = studies_run
    metrics = sorted((results / "metrics").glob("*/L*.json"))
    models = load_models(metrics, [results / "models" / m.parent.name / m.stem / "history.csv" for m in metrics])
    assert len(models) == len(training_steps(config))
    alberghi = study_table("alberghi_table", models)
    assert len(alberghi) == len(models) and alberghi["test_roc_auc"].between(0, 1).all()
    assert sorted(alberghi["paper_model"]) == ["Custom architecture", "VGG11 deep tuning", "VGG11 shallow tuning"]
    yan = study_table("yan_table2", models)
    assert sorted(yan["arch"]) == sorted(config["architectures"])
    assert yan["test_macro_f1"].notna().all() and (yan["total_params"] > 0).all()
    assert (yan["chosen_on_validation"] == "yes").sum() == 1


def _model_files(tmp_path, arch, layers, schedule, weights, val_accuracy, reinitialise=False, restored_best=False):
    """A metrics JSON and history CSV as evaluate_model and train_model write them."""
    import json

    subset = {"accuracy": val_accuracy, "loss": 1.0, "roc_auc": 0.9, "top_k_accuracy": 0.95,
              "macro": {"f1-score": 0.5}}
    metrics = {"arch": arch, "layers": layers, "schedule": schedule, "weights": weights, "reinitialise": reinitialise,
               "trainable_params": 10 + layers, "total_params": 100, "epochs_run": 3, "best_epoch": 2,
               "restored_best": restored_best, "val": subset, "test": subset | {"accuracy": val_accuracy - 0.1}}
    stem = tmp_path / f"{arch}_{layers}"
    (stem.with_suffix(".json")).write_text(json.dumps(metrics))
    pd.DataFrame({"epoch": [1, 2, 3], "loss": [2.0, 1.5, 1.7], "accuracy": [0.3, 0.5, 0.4]}).to_csv(
        stem.with_suffix(".csv"), index=False)
    return str(stem.with_suffix(".json")), str(stem.with_suffix(".csv"))


def test_study_tables_in_the_papers_forms(tmp_path):
    from astrotune.reporting.study_tables import load_models, study_table

    fu = [_model_files(tmp_path, "DenseNet121", 0, "frozen 100%", "imagenet", 0.5, True, restored_best=True),
          _model_files(tmp_path, "DenseNet121", 342, "frozen 20%", "imagenet", 0.7, True)]
    models = load_models(*zip(*fu))
    table = study_table("fu_table1", models)
    assert table["imagenet_layers"].tolist() == ["20%", "100%"]
    assert table["paper_test_accuracy"].tolist() == [0.79, 0.48]
    # the restored best epoch's training numbers, else the last epoch's
    assert table["train_loss"].tolist() == [1.7, 1.5]
    assert table["test_accuracy"].tolist() == pytest.approx([0.6, 0.4])
    assert table["chosen_on_validation"].tolist() == ["yes", ""]

    alberghi = [_model_files(tmp_path, "VGG11", 15, "scratch", "none", 0.6),
                _model_files(tmp_path, "VGG16", 0, "L0", "imagenet", 0.5, True),
                _model_files(tmp_path, "VGG16", 13, "L13", "imagenet", 0.7, True),
                _model_files(tmp_path, "AvgPoolCNN", 19, "scratch", "none", 0.65)]
    table = study_table("alberghi_table", load_models(*zip(*alberghi)))
    assert table["paper_model"].tolist() == ["VGG11 from scratch", "VGG11 shallow tuning", "VGG11 deep tuning",
                                             "Custom architecture"]
    assert table["model"].str.contains("VGG16 stands in for VGG11").tolist() == [False, True, True, False]
    assert table["chosen_on_validation"].tolist() == ["", "", "yes", ""]

    yan = [_model_files(tmp_path, "MobileNetV2", 155, "frozen 0%", "imagenet", 0.6),
           _model_files(tmp_path, "EfficientNetV2S", 513, "frozen 0%", "imagenet", 0.55)]
    table = study_table("yan_table2", load_models(*zip(*yan)))
    assert table["arch"].tolist() == ["EfficientNetV2S", "MobileNetV2"]
    assert table["paper_parameters"].tolist() == ["20.6M", "6.9M"]
    assert table["chosen_on_validation"].tolist() == ["", "yes"]
    with pytest.raises(ValueError, match="tables.study"):
        study_table("other", models)


def test_galaxy10_sdss_class_names_keep_their_commas():
    from astrotune.sky.galaxy10 import check_classes

    names = list(VARIANTS["sdss"].class_names)
    assert names[0] == "Disk, Face-on, No Spiral" and all("," in name for name in names)
    config = {"dataset": {"name": "g10-sdss", "source": "galaxy10", "classes": names},
              "galaxy10": {"variant": "sdss"}}
    validate(config, str(SCHEMA))
    check_classes(config["dataset"]["classes"], "sdss")
