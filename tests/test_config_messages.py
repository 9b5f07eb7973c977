"""Issue 23, item 5: every config problem is one line naming the key and the reason, before any job.

In process through ``check_config`` (what common.smk calls first), and one dry run of Snakemake on a
study file with several mistakes, as a user runs it.
"""

import copy
import time

import pytest
import yaml

from astrotune.config_checks import check_config
from astrotune.errors import InputError
from astrotune.models.schedules import ARCHITECTURES

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project, run_snakemake

SCHEMA = yaml.safe_load((PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def problems(change):
    config = copy.deepcopy(TINY_CONFIG)
    change(config)
    with pytest.raises(InputError) as info:
        check_config(config, PROJECT_ROOT, ["study.yaml"])
    return str(info.value).splitlines()


@pytest.mark.parametrize("change, line", [
    (lambda c: c.update(bogus=1), "bogus: unknown key; allowed keys: architectures, catalog, cutouts, dataset,"),
    (lambda c: c["training"].update(epoch=3), "training.epoch: unknown key; allowed keys: "),
    (lambda c: c["dataset"].update(source="sdss"),
     "dataset.source: 'sdss' is not one of synthetic, sdss_query, catalog, galaxy10, local_images"),
    (lambda c: c["training"].update(epochs=1_000_000_000_000),
     "training.epochs: 1000000000000 is above the maximum 100000"),
    (lambda c: c["training"].update(epochs="ten"), "training.epochs: 'ten' must be of type integer"),
    (lambda c: c.update(n_seeds=0), "n_seeds: 0 is below the minimum 1"),
    (lambda c: c.setdefault("tables", {}).update(selection_metric="f1"),
     "tables.selection_metric: 'f1' is not one of accuracy, balanced_accuracy"),
    (lambda c: c.update(seed=2**32 - 2, n_seeds=3), "n_seeds: 3 training seeds from seed 4294967294 reach "
                                                     "4294967296, above the largest seed 4294967295"),
    (lambda c: c["architectures"].update(VGG16=[0, 2, 2]), "architectures.VGG16: repeats [2]; give each value once"),
    (lambda c: c["architectures"].update(VGG16={"layers": [1], "colour": 3}),
     "architectures.VGG16.colour: unknown key; allowed keys: blocks, from_scratch, frozen_fractions, head,"),
    (lambda c: c["architectures"].update(VGG16={"layers": [-1]}), "architectures.VGG16.layers.0: -1 is below the "
                                                                   "minimum 0"),
    (lambda c: c["architectures"].update(VGG16="all"), "architectures.VGG16: 'all' must be array or object"),
    (lambda c: c["architectures"].update(ResNet51=[0]), "architectures.ResNet51: unknown name; allowed: ResNet50,"),
    (lambda c: c["architectures"].update(VGG16=[0, 21]),
     "architectures.VGG16: 21 trainable layers requested but VGG16 has 20 layers (allowed 0..20)"),
    (lambda c: c["architectures"].update(VGG16={"layers": [20], "head": {"cbam": True}}),
     "architectures.VGG16: 20 trainable layers requested but VGG16 has 19 layers (allowed 0..19, one fewer"),
    (lambda c: c["architectures"].update(VGG16={"layers": [10], "frozen_fractions": [0.5]}),
     "architectures.VGG16: layers 10 and frozen_fractions 0.5 both train the last 10 layers (the same L10 job)"),
    (lambda c: c["architectures"].update(VGG16={"layers": [20], "from_scratch": True}),
     "architectures.VGG16: layers 20 and from_scratch both train the last 20 layers"),
    (lambda c: c["architectures"].update(VGG16={"weights": "none"}),
     "architectures.VGG16: no step: give layers, blocks, frozen_fractions or from_scratch"),
    (lambda c: c["architectures"].update(VGG16={"blocks": [6]}),
     "architectures.VGG16.blocks: 6 blocks requested but VGG16 has 5 blocks (allowed 0..5)"),
    (lambda c: c["architectures"].update(VGG16={"layers": [5], "blocks": [1]}),
     "architectures.VGG16: layers 5 and blocks 1 both train the last 5 layers (the same L5 job)"),
    (lambda c: c["training"].update(center_crop=64),
     "training.center_crop: 64 is larger than dataset.image_size 32 (allowed 0..32"),
    (lambda c: c["synthetic"].update(class_fractions={"GALAXY": 0.5, "STARS": 0.5}),
     "synthetic.class_fractions: keys ['GALAXY', 'STARS'] must be the dataset.classes ['GALAXY', 'QSO', 'STAR']"),
])
def test_each_problem_is_one_line_naming_the_key(change, line):
    lines = problems(change)
    assert lines[0] == "study.yaml: 1 problem(s) in the config:"
    assert len(lines) == 2 and lines[1].strip().startswith(line), lines


def test_several_problems_are_listed_capped_and_short():
    def change(config):
        config.update({f"key{i}": i for i in range(30)})
        config["training"]["epochs"] = 0
    lines = problems(change)
    assert lines[0] == "study.yaml: 31 problem(s) in the config:" and lines[-1] == "  ... and 11 more"
    assert len(lines) == 22 and max(map(len, lines)) < 400


def test_the_schema_knows_every_base_depth():
    depths = SCHEMA["properties"]["architectures"]["x-base-layers"]
    assert depths == {name: spec.n_layers for name, spec in ARCHITECTURES.items()}


def test_the_schema_knows_where_every_block_starts():
    from astrotune.models.schedules import BLOCK_STARTS

    starts = SCHEMA["properties"]["architectures"]["x-block-starts"]
    assert starts == {name: list(counts) for name, counts in BLOCK_STARTS.items()} and list(starts) == list(ARCHITECTURES)


def test_duplicate_yaml_keys_are_refused_naming_the_line(tmp_path):
    study = tmp_path / "study.yaml"
    study.write_text("seed: 1\ntraining:\n  epochs: 3\n  batch_size: 8\n  epochs: 30\n")
    with pytest.raises(InputError, match=r"study.yaml: line 5: key 'epochs' is given twice in one mapping "
                                         r"\(first on line 3\)"):
        check_config(yaml.safe_load(study.read_text()), PROJECT_ROOT, [str(study)])


def test_snakemake_prints_the_lines_not_the_schema_before_any_job(tmp_path):
    workdir = copy_project(tmp_path / "project", TINY_CONFIG)
    bad = copy.deepcopy(TINY_CONFIG) | {"bogus": 1}
    bad["training"] |= {"epochs": 1_000_000_000_000, "center_crop": 64}
    bad["architectures"] = {"VGG16": [0, 2, 2], "MobileNetV2": {"layers": [1], "colour": 3}}
    (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump(bad))
    start = time.monotonic()
    result = run_snakemake(workdir, "-n", "--configfile", "config/bad.yaml", check=False, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and time.monotonic() - start < 60
    for line in ["config/bad.yaml: 4 problem(s) in the config:", "architectures.MobileNetV2.colour: unknown key",
                 "architectures.VGG16: repeats [2]", "bogus: unknown key",
                 "training.epochs: 1000000000000 is above the maximum 100000"]:
        assert line in output, output[-3000:]
    assert "is too large" not in output and "description" not in output and len(output.splitlines()) < 30, output[-3000:]
    assert "Job stats" not in output and not (workdir / "results").exists()


@pytest.mark.parametrize("path", ["config/config.yaml", *sorted(
    str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "config" / "studies").glob("*.yaml"))])
def test_shipped_configs_pass_every_check(path):
    check_config(yaml.safe_load((PROJECT_ROOT / path).read_text()), PROJECT_ROOT, [PROJECT_ROOT / path])


@pytest.mark.parametrize("arch, entry", [
    ("VGG16", [0, 20]), ("VGG16", [21]), ("VGG16", {"layers": [20], "head": {"cbam": True}}),
    ("DenseNet121", {"frozen_fractions": [0, 0.2, 0.5, 1], "from_scratch": True}),
    ("DenseNet121", {"layers": [214], "frozen_fractions": [0.5]}), ("MobileNetV2", {"layers": [155], "from_scratch": True}),
    ("CompactCNN", {"frozen_fractions": [0.25, 0.26]}), ("ResNet50", {"weights": "none"}),
    ("ResNet50", {"blocks": [0, 1, 17]}), ("ResNet50", {"blocks": [18]}), ("ResNet50", {"blocks": [1], "layers": [11]}),
    ("VGG16", {"blocks": [1], "layers": [5], "head": {"cbam": True}}), ("VGG16", {"blocks": [1, 5], "layers": [4]}),
])
def test_architecture_checks_agree_with_the_schedules(arch, entry):
    """config_checks finds a problem exactly when models.schedules cannot plan the entry."""
    from astrotune.config_checks import architecture_problems
    from astrotune.models.heads import HeadSettings
    from astrotune.models.schedules import architecture_steps, base_layer_count, block_starts

    as_dict = entry if isinstance(entry, dict) else {"layers": entry}
    cbam = bool((as_dict.get("head") or {}).get("cbam"))
    head = HeadSettings(cbam=cbam)
    found = architecture_problems(arch, as_dict, base_layer_count(arch, head), cbam, block_starts(arch, head))
    try:
        architecture_steps(arch, entry, {"weights": "none"})
        planned = True
    except ValueError:
        planned = False
    assert planned == (found == []), found


def test_pretrained_weights_are_a_name_not_a_file():
    config = copy.deepcopy(TINY_CONFIG)
    config["training"]["weights"] = "pretrained"
    check_config(config, PROJECT_ROOT, ["study.yaml"])


def test_every_weights_file_is_checked(tmp_path):
    config = copy.deepcopy(TINY_CONFIG)
    config["architectures"]["VGG16"] = {"layers": [1], "weights": str(tmp_path / "missing.weights.h5")}
    config["unsupervised"] = {"weights": str(tmp_path / "notes.txt")}
    lines = problems(lambda c: c.update(config))
    assert lines[0] == "study.yaml: 2 problem(s) in the config:"
    text = "\n".join(lines)
    assert f"architectures.VGG16.weights '{tmp_path / 'missing.weights.h5'}': file not found" in text
    assert f"unsupervised.weights '{tmp_path / 'notes.txt'}': file not found" in text
