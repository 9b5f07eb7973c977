"""DVC: every study file has a stage; a stage records data, models, metrics and tables but no feature
cache; round trip of one study (`dvc repro study@<name>`, push to a local directory remote, clone, pull).
The pulled copy must equal the original byte for byte, and after the documented `snakemake --touch`
(pulled files carry checkout times, not workflow order) Snakemake must have nothing to do, although the
feature caches stayed behind. The round trip runs a one-model version of the default study: the one
tests/test_resume.py kills and resumes under DVC (tests/dvc_study.py), run once for both.
"""

import hashlib
import json

import pytest
import yaml
from dvc_study import CONFIG, DATASET, STAGE

from workflow_helpers import PROJECT_ROOT, dvc_project, git, run


def recorded_files(workdir):
    """Every file dvc.lock records as a stage output (a folder's files from its .dir manifest in the cache)."""
    stages = yaml.safe_load((workdir / "dvc.lock").read_text())["stages"]
    files = []
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out["md5"].endswith(".dir"):
                manifest = workdir / ".dvc" / "cache" / "files" / "md5" / out["md5"][:2] / out["md5"][2:]
                files += [f"{out['path']}/{entry['relpath']}" for entry in json.loads(manifest.read_text())]
            else:
                files.append(out["path"])
    return sorted(files)


def dvc_outputs(workdir):
    """Every file DVC records as a stage output, as {relative path: sha256 of the file in ``workdir``}."""
    return {path: hashlib.sha256((workdir / path).read_bytes()).hexdigest() for path in recorded_files(workdir)}


def test_every_study_file_has_a_stage_named_by_its_data_set():
    studies = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["vars"][0]["studies"]
    files = ["config/config.yaml", *(str(p.relative_to(PROJECT_ROOT))
                                     for p in (PROJECT_ROOT / "config" / "studies").glob("*.yaml"))]
    assert sorted(studies.values()) == sorted(files)
    for name, path in studies.items():
        assert yaml.safe_load((PROJECT_ROOT / path).read_text())["dataset"]["name"] == name, path


def test_study_stage_records_data_models_metrics_and_tables_but_no_feature_cache(tmp_path):
    """`dvc commit` of a study's outputs as the workflow lays them out (without running it): everything
    but results/<study>/features/ is recorded, so the caches are neither hashed nor pushed."""
    project = dvc_project(tmp_path / "project", CONFIG)
    kept = [f"resources/{DATASET}/synthetic/manifest.csv", f"resources/{DATASET}/keras/VGG16_32px.imagenet.json",
            *(f"results/{DATASET}/{name}" for name in (
                "dataset.h5", "skipped.csv", "split.csv", "architectures/VGG16.csv", "models/VGG16/L2/model.keras",
                "models/VGG16/L2/history.csv", "metrics/VGG16/L2.json", "metrics/accuracy.json",
                "tables/table5.csv", "figures/accuracy_vs_layers_VGG16.png"))]
    caches = [f"results/{DATASET}/features/VGG16/L2.h5", f"results/{DATASET}/features/ResNet50/L45.h5"]
    for path in kept + caches:
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(path)
    run("dvc", "commit", "--force", STAGE, cwd=project)
    assert recorded_files(project) == sorted(kept)
    assert "up to date" in run("dvc", "status", STAGE, cwd=project).stdout
    (project / caches[0]).write_text("a rebuilt cache")  # a changed cache changes nothing DVC tracks
    assert "up to date" in run("dvc", "status", STAGE, cwd=project).stdout


@pytest.fixture(scope="module")
def pushed(dvc_study):
    """The project that ran the one-model default study through `dvc repro` (killed once, resumed), pushed
    to a local remote."""
    origin = dvc_study.project
    run("dvc", "remote", "add", "-d", "shared", str(origin.parent / "remote"), cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-q", "-m", "one study", cwd=origin)
    run("dvc", "push", STAGE, cwd=origin)
    return origin


@pytest.fixture(scope="module")
def pulled(pushed, tmp_path_factory):
    """A fresh git clone of ``pushed`` after `dvc pull` of the study."""
    clone = tmp_path_factory.mktemp("clone") / "project"
    git("clone", "-q", str(pushed), str(clone), cwd=pushed.parent)
    run("dvc", "pull", STAGE, cwd=clone)
    return clone


@pytest.mark.slow
def test_pulled_files_equal_the_originals(pushed, pulled):
    original = dvc_outputs(pushed)
    assert any(path.endswith("model.keras") for path in original)
    assert list((pushed / "results" / DATASET / "features").rglob("*.h5")), "the study computed no feature cache"
    assert not [path for path in original if "/features/" in path]
    assert not (pulled / "results" / DATASET / "features").exists()
    assert f"results/{DATASET}/dataset.h5" in original
    assert f"resources/{DATASET}/synthetic/manifest.csv" in original
    assert dvc_outputs(pulled) == original


@pytest.mark.slow
def test_pulled_clone_is_up_to_date_for_dvc_and_snakemake(pulled):
    assert "up to date" in run("dvc", "status", STAGE, cwd=pulled).stdout
    run("snakemake", "--touch", cwd=pulled)
    dry_run = run("snakemake", "-n", cwd=pulled)
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr


@pytest.mark.slow
def test_metrics_and_plots_show_the_study(pushed, tmp_path):
    shown = run("dvc", "metrics", "show", cwd=pushed).stdout
    for arch, layers in CONFIG["architectures"].items():
        for n in layers:
            assert f"{arch}.L{n}" in shown
    run("dvc", "plots", "show", "-o", str(tmp_path), cwd=pushed)
    page = (tmp_path / "index.html").read_text()
    for arch in CONFIG["architectures"]:
        assert f"training_curves_{arch}.png" in page
        assert f"accuracy_vs_layers_{arch}.png" in page
    assert f"vegaEmbed('#accuracy_vs_layers_{DATASET}'" in page
