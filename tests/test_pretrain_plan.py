"""Domain pretraining, planned without Keras: per-dataset config views, which bases are pretrained on
what, where the study's steps find them, the tables' weights origin, and the source/target overlap
check (in process on packed files, and the workflow's dry runs)."""

import copy
import re

import numpy as np
import pytest
from snakemake.utils import validate

from astrotune.data.overlap import check_no_overlap, check_packed_files, find_overlap
from astrotune.data.sources import dataset_views, id_namespace, source_view
from astrotune.data.store import PackedDataset, write_dataset
from astrotune.errors import InputError
from astrotune.models.schedules import ARCHITECTURES, training_steps
from astrotune.reporting.paper_tables import table5
from astrotune.reporting.results import collect_metrics
from astrotune.training import pretrain_plan

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project, run_snakemake

SCHEMA = str(PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml")

PRETRAIN_CONFIG = copy.deepcopy(TINY_CONFIG) | {
    "training": {"weights": "pretrained", "epochs": 1, "batch_size": 16},
    "architectures": {"CompactCNN": [0, 4], "VGG16": {"layers": [2], "weights": "none"}},
    "unsupervised": {"enabled": False},
    "pretrain": {"source": {"dataset": {"name": "tiny-source"}, "seed": 99, "synthetic": {"n_objects": 90}},
                 "training": {"epochs": 3, "learning_rate": 0.002}},
}


def validated(config):
    config = copy.deepcopy(config)
    validate(config, schema=SCHEMA)
    return config


def test_the_source_view_merges_its_sections_over_the_studys_and_keeps_its_own_seed():
    config = validated(PRETRAIN_CONFIG)
    views = dataset_views(config)
    assert list(views) == ["tiny", "tiny-source"]
    assert views["tiny"] is config  # the study's data rules read exactly what they read before
    source = views["tiny-source"]
    assert source["seed"] == 99 and config["seed"] == 7
    assert source["synthetic"]["n_objects"] == 90 and config["synthetic"]["n_objects"] == 60
    assert source["synthetic"]["size"] == config["synthetic"]["size"] == 32  # left out: the study's value
    assert source["dataset"] | {"name": "tiny"} == config["dataset"]
    assert "pretrain" not in source
    assert id_namespace(source) == "synthetic seed 99" and id_namespace(config) == "synthetic seed 7"


def test_a_source_named_as_the_study_or_unnamed_is_refused():
    config = validated(PRETRAIN_CONFIG)
    config["pretrain"]["source"]["dataset"]["name"] = "tiny"
    with pytest.raises(ValueError, match="pretrain.source.dataset.name: 'tiny' is the study's dataset.name"):
        source_view(config)
    assert dataset_views(validated(TINY_CONFIG)) == {"tiny": validated(TINY_CONFIG)}


def test_the_schema_takes_the_pretrain_section_and_refuses_unknown_keys():
    config = validated(PRETRAIN_CONFIG)
    assert config["pretrain"]["weights"] == "none" and config["pretrain"]["architectures"] == []
    bad = copy.deepcopy(PRETRAIN_CONFIG)
    bad["pretrain"]["epochs"] = 3
    with pytest.raises(Exception, match="epochs"):
        validated(bad)


def test_steps_with_pretrained_weights_load_their_architectures_pretrained_base():
    config = validated(PRETRAIN_CONFIG)
    steps = training_steps(config)
    assert pretrain_plan.pretrain_architectures(config, steps) == ["CompactCNN"]
    resolved = {(step.arch, step.layers): step.weights for step in pretrain_plan.resolve_steps(steps, "tiny")}
    assert resolved == {("CompactCNN", 0): "results/tiny/pretrained/CompactCNN.weights.h5",
                        ("CompactCNN", 4): "results/tiny/pretrained/CompactCNN.weights.h5",
                        ("VGG16", 2): "none"}
    listed = copy.deepcopy(config)
    listed["pretrain"]["architectures"] = ["CompactCNN", "VGG11"]  # also pretrained, for the record
    assert pretrain_plan.pretrain_architectures(listed, steps) == ["CompactCNN", "VGG11"]


def test_pretrained_weights_without_a_source_or_an_unlisted_architecture_stop_the_plan():
    config = validated(PRETRAIN_CONFIG)
    config["pretrain"]["source"] = None
    with pytest.raises(ValueError, match=r"weights pretrained \(CompactCNN\) need pretrain.source"):
        pretrain_plan.pretrain_architectures(config, training_steps(config))
    config = validated(PRETRAIN_CONFIG)
    config["pretrain"]["architectures"] = ["VGG16"]
    with pytest.raises(ValueError, match=r"leaves out CompactCNN"):
        pretrain_plan.pretrain_architectures(config, training_steps(config))
    config = validated(PRETRAIN_CONFIG)
    config["pretrain"]["weights"] = "pretrained"
    with pytest.raises(ValueError, match="pretrain.weights: 'pretrained' would start pretraining from its own output"):
        pretrain_plan.pretrain_architectures(config, training_steps(config))
    no_pretraining = validated(TINY_CONFIG)
    assert pretrain_plan.pretrain_architectures(no_pretraining, training_steps(no_pretraining)) == []


def test_pretraining_trains_every_base_layer_from_its_own_initial_weights_with_the_overrides():
    config = validated(PRETRAIN_CONFIG | {"training": PRETRAIN_CONFIG["training"] | {"center_crop": 24,
                                                                                     "block_lr_decay": 0.5}})
    section = pretrain_plan.pretrain_training_section(config)
    assert section["weights"] == "none" and section["reinitialise"] is False
    assert section["epochs"] == 3 and section["learning_rate"] == 0.002 and section["batch_size"] == 16
    assert section["center_crop"] == 0 and section["head"] == {} and section["block_lr_decay"] == 1.0
    assert pretrain_plan.pretrain_layers("CompactCNN", config) == ARCHITECTURES["CompactCNN"].n_layers
    cbam = copy.deepcopy(config)
    cbam["pretrain"]["training"]["head"] = {"cbam": True}
    assert pretrain_plan.pretrain_layers("CompactCNN", cbam) == ARCHITECTURES["CompactCNN"].n_layers - 1
    provenance = pretrain_plan.pretrain_provenance(config)
    assert provenance["source"] == "tiny-source" and provenance["seed"] == 99 and provenance["target"] == "tiny"
    listed = copy.deepcopy(config)
    listed["pretrain"]["architectures"] = ["CompactCNN", "VGG16"]
    assert pretrain_plan.pretrain_provenance(listed) == provenance  # one more architecture reruns no other
    other = copy.deepcopy(config)
    other["pretrain"]["source"]["synthetic"]["n_objects"] = 91
    assert pretrain_plan.pretrain_provenance(other)["config_hash"] != provenance["config_hash"]
    assert pretrain_plan.pretrain_provenance(other)["source_config_hash"] != provenance["source_config_hash"]


def test_one_architecture_pretrains_with_its_own_overrides_and_reruns_alone():
    config = validated(PRETRAIN_CONFIG)
    provenance = {arch: pretrain_plan.pretrain_provenance(config, arch) for arch in ("CompactCNN", "VGG16")}
    tuned = copy.deepcopy(config)
    tuned["pretrain"]["architecture_training"] = {"VGG16": {"learning_rate": 3e-4, "lr_warmup_epochs": 1}}
    vgg = pretrain_plan.pretrain_training_section(tuned, "VGG16")
    assert vgg["learning_rate"] == 3e-4 and vgg["lr_warmup_epochs"] == 1 and vgg["epochs"] == 3
    assert pretrain_plan.pretrain_training_section(tuned, "CompactCNN") == pretrain_plan.pretrain_training_section(config)
    assert pretrain_plan.pretrain_provenance(tuned, "CompactCNN") == provenance["CompactCNN"]
    assert pretrain_plan.pretrain_provenance(tuned, "VGG16")["config_hash"] != provenance["VGG16"]["config_hash"]
    checked = pretrain_plan.checkable_source_views(tuned, pretrain_plan.source_view(tuned))
    assert [view["training"]["learning_rate"] for view in checked] == [0.002, 3e-4]


def test_the_dearest_pretraining_is_ordered_first():
    """Epochs x pixels as the base sees an image, then depth: Xception's 32 px images are upsampled to 71 px."""
    config = validated(PRETRAIN_CONFIG)
    archs = ["VGG16", "CompactCNN", "NASNetMobile", "Xception"]
    assert pretrain_plan.pretrain_order(config, archs) == ["Xception", "NASNetMobile", "CompactCNN", "VGG16"]
    config["pretrain"]["architecture_training"] = {"VGG16": {"epochs": 30}}
    assert pretrain_plan.pretrain_order(config, archs)[0] == "VGG16"


def test_weights_origin_names_imagenet_random_the_pretraining_source_or_the_file():
    origin = pretrain_plan.weights_origin
    assert origin("imagenet") == "imagenet" and origin("none") == "random"
    assert origin("results/tiny/pretrained/VGG16.weights.h5", "tiny-source", "tiny", "VGG16") == \
        "pretrained on tiny-source"
    assert origin("my.weights.h5", "tiny-source", "tiny", "VGG16") == "file my.weights.h5"


def test_summary_and_table5_say_where_each_base_came_from(tmp_path):
    paths = []
    for arch, layers, origin, accuracy in [("CompactCNN", 4, "pretrained on tiny-source", 0.8),
                                           ("VGG16", 2, None, 0.6)]:
        metrics = {"arch": arch, "layers": layers, "weights": "none", "trainable_params": 10, "total_params": 20,
                   "total_layers": 30, "best_epoch": 1,
                   "val": {"accuracy": accuracy, "confusion_matrix": [[3, 1], [1, 3]], "macro": {"f1-score": 0.5,
                                                                                                "recall": 0.5}}}
        if origin:
            metrics["weights_origin"] = origin
        paths.append(tmp_path / f"{arch}.json")
        paths[-1].write_text(__import__("json").dumps(metrics))
    results = collect_metrics(paths)
    assert results.set_index("arch")["weights_origin"].to_dict() == {"CompactCNN": "pretrained on tiny-source",
                                                                      "VGG16": "random"}
    table = table5(results, paper_comparison=False).set_index("arch")
    assert table.loc["CompactCNN", "weights"] == "pretrained on tiny-source" and table.loc["VGG16", "weights"] == "random"


def packed(ids, ra, dec):
    n = len(ids)
    return PackedDataset(images=np.zeros((n, 4, 4, 3), np.uint8), labels=np.arange(n) % 2, ids=np.array(ids, object),
                         ra=np.array(ra, float), dec=np.array(dec, float), class_names=["A", "B"])


def test_shared_objects_are_found_by_id_in_one_namespace_and_by_position_within_an_arcsecond():
    target = packed(["a", "b", "c", "d"], [150.0, 151.0, 152.0, np.nan], [2.0, 2.0, 2.0, 2.0])
    source = packed(["x", "b", "y", "d"], [150.0 + 0.5 / 3600, 170.0, 152.0 + 3 / 3600, 10.0], [2.0, 9.0, 2.0, 2.0])
    overlap = find_overlap(target, source)
    assert overlap.by_id == ("b", "d") and overlap.by_position == ("a",) and overlap.shared == ("a", "b", "d")
    # Synthetic skies of two seeds both number their objects syn000001...: equal ids are not shared objects.
    assert find_overlap(target, source, "synthetic seed 7", "synthetic seed 99").shared == ("a",)
    assert find_overlap(packed(["a"], [np.nan], [np.nan]), packed(["b"], [150.0], [2.0])).shared == ()


def test_an_overlapping_source_is_refused_in_one_line_naming_both_data_sets_and_the_count(tmp_path):
    """The check pretrain_base runs first, on packed files as the workflow writes them."""
    target, source = tmp_path / "target.h5", tmp_path / "source.h5"
    write_dataset(target, packed(["syn000001", "syn000002", "syn000003"], [150.0, 151.0, 152.0], [2.0] * 3))
    write_dataset(source, packed(["syn000001", "syn000002", "syn000009"], [150.0, 160.0, 170.0], [2.0] * 3))
    provenance = {"target": "tiny", "source": "tiny-source", "target_namespace": "synthetic seed 7",
                  "source_namespace": "synthetic seed 7"}
    with pytest.raises(InputError) as refused:
        check_packed_files(source, target, provenance)
    message = str(refused.value)
    assert "\n" not in message
    assert re.search(r"source tiny-source and target tiny share 2 object\(s\) \(2 by id, 1 by position", message)
    other_seed = provenance | {"source_namespace": "synthetic seed 99"}  # ids no longer match, positions do
    with pytest.raises(InputError, match=r"share 1 object\(s\) \(0 by id, 1 by position"):
        check_packed_files(source, target, other_seed)
    write_dataset(tmp_path / "far.h5", packed(["syn000001", "syn000002"], [10.0, 11.0], [2.0] * 2))
    assert check_packed_files(tmp_path / "far.h5", target, other_seed).shared == ()
    with pytest.raises(InputError, match="share 1 object"):
        check_no_overlap(packed(["q"], [1.0], [1.0]), packed(["q"], [np.nan], [np.nan]), "t", "s")


def dry_run(tmp_path, config, *targets, check=True):
    workdir = copy_project(tmp_path / "project", config)
    return run_snakemake(workdir, "-n", *targets, check=check)


def job_inputs(output, rule):
    """{wildcards line: input line} of a dry run's jobs of ``rule``."""
    found, current = [], None
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("rule ") or line.startswith("localrule "):
            current = line.split()[1].rstrip(":")
        elif current == rule and line.startswith("input: "):
            found.append(line.removeprefix("input: "))
    return found


def test_dry_run_builds_the_source_with_the_data_rules_and_feeds_the_base_to_training_and_cache(tmp_path):
    result = dry_run(tmp_path, PRETRAIN_CONFIG)
    output = result.stdout + result.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.M))
    assert counts["pretrain_base"] == "1" and counts["render_synthetic_sky"] == "2"
    assert counts["pack_dataset"] == "2" and counts["split_dataset"] == "2" and counts["train_model"] == "3"
    weights = "results/tiny/pretrained/CompactCNN.weights.h5"
    pretrain = job_inputs(output, "pretrain_base")
    assert pretrain == ["results/tiny-source/dataset.h5, results/tiny-source/split.csv, results/tiny/dataset.h5"]
    training = job_inputs(output, "train_model")
    assert sum(weights in line for line in training) == 2 and len(training) == 3
    assert any(weights in line for line in job_inputs(output, "cache_features"))
    assert "resources/tiny-source/synthetic/manifest.csv" in output


def test_dry_run_refuses_pretrained_weights_without_a_source_and_a_source_named_as_the_study(tmp_path):
    config = copy.deepcopy(PRETRAIN_CONFIG)
    del config["pretrain"]
    result = dry_run(tmp_path / "a", config, check=False)
    assert result.returncode != 0 and "need pretrain.source" in result.stdout + result.stderr
    config = copy.deepcopy(PRETRAIN_CONFIG)
    config["pretrain"]["source"]["dataset"]["name"] = "tiny"
    result = dry_run(tmp_path / "b", config, check=False)
    assert result.returncode != 0 and "is the study's dataset.name" in result.stdout + result.stderr
    config = copy.deepcopy(PRETRAIN_CONFIG)
    config["pretrain"]["source"]["dataset"]["classes"] = ["GALAXY", "STAR"]  # fractions still name QSO
    result = dry_run(tmp_path / "c", config, check=False)
    assert result.returncode != 0 and "pretrain.source" in result.stdout + result.stderr
    assert "synthetic.class_fractions" in result.stdout + result.stderr
    config = copy.deepcopy(PRETRAIN_CONFIG)
    config["pretrain"]["training"]["epoch"] = 3
    result = dry_run(tmp_path / "d", config, check=False)
    assert result.returncode != 0 and "pretrain.training" in result.stdout + result.stderr
    assert "training.epoch: unknown key" in result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["local_images", "galaxy10"])
def test_a_folder_or_galaxy10_source_is_built_by_its_own_data_rules(tmp_path, kind):
    from astrotune.sky.galaxy10 import VARIANTS

    config = copy.deepcopy(PRETRAIN_CONFIG)
    if kind == "local_images":
        (tmp_path / "folder" / "GALAXY").mkdir(parents=True)
        config["pretrain"]["source"] = {"dataset": {"name": "my-folder", "source": "local_images"},
                                        "local_images": {"path": str(tmp_path / "folder")}}
        expected = {"index_local_images": "resources/my-folder/local_images/manifest.csv",
                    "pack_dataset": "results/my-folder/dataset.h5"}
    else:
        config["pretrain"]["source"] = {
            "dataset": {"name": "g10-sdss", "source": "galaxy10", "classes": list(VARIANTS["sdss"].class_names)},
            "galaxy10": {"variant": "sdss", "n_per_class": 20}}
        expected = {"download_galaxy10": f"resources/galaxy10/{VARIANTS['sdss'].filename}",
                    "pack_galaxy10": "results/g10-sdss/dataset.h5"}
    result = dry_run(tmp_path, config, "results/tiny/pretrained/CompactCNN.weights.h5")
    output = result.stdout + result.stderr
    for rule, path in expected.items():
        assert re.search(rf"rule {rule}:\n(?:    .*\n)*?    output: {re.escape(path)}", output), rule
    assert "results/tiny/dataset.h5" in output and "rule train_model" not in output
