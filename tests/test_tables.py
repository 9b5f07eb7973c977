"""Paper tables: truncation rule, Table 2-5 assembly and flags, writing, the study config."""

from fractions import Fraction

import pandas as pd
import pytest
import yaml

from astrotune.models import paper
from astrotune.reporting.paper_tables import (
    DIFFERS,
    MATCHES,
    NOT_IN_PAPER,
    format_count,
    format_like,
    matches_printed,
    table2,
    table3,
    table4,
    table5,
    write_table,
)


@pytest.mark.parametrize("value, text", [(6147, "6.1K"), (6147, "6.14K"), (3075, "3K"), (1_060_867, "1.06M"),
                                         (8_945_667, "8.94M"), (5_504_515, "5.50M"), (416_643, "416K"),
                                         (Fraction(36, 340), "0.10"), (Fraction(10, 20), "0.5")])
def test_paper_truncates_to_the_printed_digits(value, text):
    assert matches_printed(value, text)
    assert format_like(value, text) == text


def test_rounding_is_not_the_rule():
    assert not matches_printed(4227, "4.23K")  # rounding would print 4.23K; the paper prints 4.22K
    assert not matches_printed(Fraction(18, 133), "0.14")  # paper: 0.13
    assert not matches_printed(681_603, "686K")


@pytest.mark.parametrize("value, text", [(6147, "6.14K"), (1539, "1.53K"), (171_203, "171K"), (999, "999"),
                                         (1000, "1.00K"), (14_456_323, "14.4M"), (23_593_859, "23.5M")])
def test_format_count_three_significant_digits_truncated(value, text):
    assert format_count(value) == text


def test_paper_table5_ratios_are_truncated_ratios_of_tables_2_and_5():
    two_class = {"MobileNetV2": 2_261_827, "NASNetMobile": 4_272_887}  # 3-class totals (Table 2 prints 2-class)
    for arch, (layers, params, layer_ratio, param_ratio, _) in paper.TABLE5.items():
        total_layers, total = paper.TABLE2[arch]
        assert matches_printed(Fraction(layers, total_layers), layer_ratio), arch
        assert matches_printed(Fraction(params, two_class.get(arch, total)), param_ratio), arch


def test_schedules_have_82_steps():
    assert {arch: len(s) for arch, s in paper.SCHEDULES.items()} == {
        "ResNet50": 10, "VGG16": 14, "DenseNet121": 10, "Xception": 14, "EfficientNetB2": 14,
        "MobileNetV2": 10, "NASNetMobile": 10}
    assert sum(map(len, paper.SCHEDULES.values())) == 82


def summary(arch, counts, total, total_layers, base_params, features, schedule):
    """A hand-made architecture_summary frame."""
    return pd.DataFrame({"arch": arch, "layers_trainable": list(counts), "trainable_params": list(counts.values()),
                         "total_params": total, "total_layers": total_layers, "base_params": base_params,
                         "features": features, "scheduled": [n in schedule for n in counts]})


@pytest.fixture
def summaries():
    mobilenet = summary("MobileNetV2", {0: 3843, 1: 3843, 2: 3843, 3: 6403}, 2_261_827, 155, 2_257_984, 1280, [0, 3])
    densenet = summary("DenseNet121", {34: 681_603, 35: 681_603, 36: 792_195}, 7_040_579, 428, 7_037_504, 1024, [35])
    other = summary("EfficientNetV2S", {0: 3843, 4: 334_083}, 20_335_203, 514, 20_331_360, 1280, [0, 4])
    return pd.concat([mobilenet, densenet, other], ignore_index=True)


def test_table2_flags_two_class_head_and_unknown_architectures(summaries):
    table = table2(summaries).set_index("arch")
    assert table.loc["MobileNetV2", "layers_check"] == MATCHES
    assert table.loc["MobileNetV2", "parameters_check"] == DIFFERS
    assert "paper total matches a 2-class head" in table.loc["MobileNetV2", "note"]
    assert table.loc["DenseNet121", "parameters_check"] == MATCHES and table.loc["DenseNet121", "note"] == ""
    assert table.loc["EfficientNetV2S", "parameters_check"] == NOT_IN_PAPER
    assert pd.isna(table.loc["EfficientNetV2S", "paper_parameters"])


def test_table3_prints_at_paper_precision_and_explains_differences(summaries):
    table = table3(summaries)
    mobilenet = table[table["arch"] == "MobileNetV2"]
    assert list(mobilenet["step"]) == ["BM0", "BM1"]
    assert list(mobilenet["P"]) == ["3.8K", "6.4K"] and set(mobilenet["check"]) == {MATCHES}
    densenet = table[table["arch"] == "DenseNet121"].iloc[0]
    assert (densenet["P"], densenet["paper_P"], densenet["check"]) == ("681K", "686K", DIFFERS)
    assert "matches no trainable-layer count of DenseNet121 (0-428)" in densenet["note"]
    other = table[table["arch"] == "EfficientNetV2S"]
    assert list(other["P"]) == ["3.84K", "334K"] and set(other["check"]) == {NOT_IN_PAPER}


def test_table3_names_the_layer_count_a_misplaced_value_belongs_to():
    frame = summary("VGG16", {0: 1539, 3: 2_361_347, 4: 4_721_155}, 14_716_227, 20, 14_714_688, 512, [4])
    frame.loc[frame["layers_trainable"] == 4, "trainable_params"] = 2_361_347
    frame.loc[frame["layers_trainable"] == 3, "trainable_params"] = 4_721_155
    row = table3(frame).iloc[0]
    assert row["check"] == DIFFERS and row["note"].startswith("paper 4.72M matches L=3, not L=4")


def results_frame(rows):
    return pd.DataFrame(rows, columns=["arch", "layers", "trainable_params", "total_params", "total_layers",
                                       "val_accuracy"]).assign(test_accuracy=float("nan"))


def test_table5_ratios_and_ties_take_fewest_layers():
    results = results_frame([
        ("DenseNet121", 0, 3075, 7_040_579, 428, 0.66),
        ("DenseNet121", 20, 369_987, 7_040_579, 428, 0.955),
        ("DenseNet121", 10, 171_203, 7_040_579, 428, 0.955),
        ("DenseNet121", 45, 939_203, 7_040_579, 428, 0.95),
        ("ResNet50", 25, 8_945_667, 23_593_859, 176, 0.935),
    ])
    table = table5(results).set_index("arch")
    best = table.loc["DenseNet121"]
    assert (best["layers"], best["trainable_params"], best["val_accuracy"]) == (10, 171_203, 0.955)
    assert best["layer_tuning_ratio"] == pytest.approx(10 / 428)
    assert best["parameter_tuning_ratio"] == pytest.approx(171_203 / 7_040_579)
    assert (best["paper_layers"], best["paper_layer_tuning_ratio"], best["paper_accuracy"]) == (10, "0.02", 0.955)
    assert table.loc["ResNet50", "parameter_tuning_ratio"] == pytest.approx(0.3791, abs=1e-4)


def test_table4_baselines_and_missing_baseline():
    results = results_frame([("VGG16", 0, 1539, 14_716_227, 20, 0.5), ("VGG16", 3, 2_361_347, 14_716_227, 20, 0.7),
                             ("ResNet50", 5, 1_060_867, 23_593_859, 176, 0.6)])
    table = table4(results).set_index("arch")
    assert (table.loc["VGG16", "P"], table.loc["VGG16", "paper_P"], table.loc["VGG16", "params_check"]) == (
        "1.5K", "1.5K", MATCHES)
    assert (table.loc["VGG16", "val_accuracy"], table.loc["VGG16", "paper_accuracy"]) == (0.5, 0.44)
    assert pd.isna(table.loc["ResNet50", "val_accuracy"]) and "no baseline" in table.loc["ResNet50", "note"]


def test_results_are_checked():
    with pytest.raises(ValueError, match="val_accuracy"):
        table5(pd.DataFrame({"arch": ["VGG16"], "layers": [0]}))
    duplicated = results_frame([("VGG16", 0, 1539, 14_716_227, 20, 0.5)] * 2)
    with pytest.raises(ValueError, match="repeat"):
        table4(duplicated)


def test_write_table_writes_csv_markdown_latex(summaries, tmp_path):
    write_table(table2(summaries), tmp_path / "table2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table2.csv", "table2.html", "table2.md", "table2.tex"]
    assert pd.read_csv(tmp_path / "table2.csv")["arch"].tolist() == ["MobileNetV2", "DenseNet121", "EfficientNetV2S"]
    markdown = (tmp_path / "table2.md").read_text()
    assert "| MobileNetV2" in markdown and "nan" not in markdown and "<NA>" not in markdown
    assert r"paper\_parameters" in (tmp_path / "table2.tex").read_text()


def test_study_config_is_the_papers_design(project_root):
    from snakemake.utils import validate

    config = yaml.safe_load((project_root / "config/studies/sabeesh2022_sdss.yaml").read_text())
    validate(config, str(project_root / "workflow/schemas/config.schema.yaml"))
    assert config["architectures"] == paper.SCHEDULES
    assert (config["dataset"]["source"], config["dataset"]["image_size"]) == ("sdss_query", 512)
    assert (config["sdss"]["data_release"], config["sdss"]["n_objects"]) == (16, 1000)
    assert (config["cutouts"]["scale"], config["cutouts"]["size"]) == (0.1, 2048)
    assert (config["split"]["val_fraction"], config["training"]["weights"]) == (0.3, "imagenet")
    assert config["training"]["balancing"] == "class_weights"


def test_table5_chooses_on_validation_and_reports_that_models_test_accuracy():
    results = results_frame([("CompactCNN", 0, 771, 1_175_907, 30, 0.60), ("CompactCNN", 30, 1_175_139, 1_175_907, 30, 0.90),
                             ("CompactCNN", 10, 900_000, 1_175_907, 30, 0.80)])
    results["test_accuracy"] = [0.61, 0.88, 0.95]  # the best test score belongs to a model validation did not pick
    results["test_accuracy_tta"] = [0.62, 0.89, 0.96]
    table = table5(results, paper_comparison=False).set_index("arch")
    chosen = table.loc["CompactCNN"]
    assert (chosen["layers"], chosen["val_accuracy"], chosen["test_accuracy"], chosen["test_accuracy_tta"]) == (
        30, 0.90, 0.88, 0.89)
    assert not [column for column in table.columns if column.startswith("paper_")]


def test_tables_without_test_split_have_no_test_columns_and_show_the_majority_baseline():
    results = results_frame([("VGG16", 0, 1539, 14_716_227, 20, 0.5)]).assign(val_majority=0.49)
    for table in (table4(results), table5(results)):
        assert not [column for column in table.columns if column.startswith("test_")]
        assert table.loc[0, "val_majority"] == 0.49


def test_table5_carries_intervals_and_marks_architectures_indistinguishable_from_the_top():
    results = results_frame([("VGG16", 3, 2_361_347, 14_716_227, 20, 0.90), ("ResNet50", 5, 1_060_867, 23_593_859, 176, 0.89),
                             ("NASNetMobile", 10, 500_000, 4_272_887, 770, 0.70)])
    results = results.assign(val_ci_low=results["val_accuracy"] - 0.03, val_ci_high=results["val_accuracy"] + 0.03)
    comparison = pd.DataFrame({"indistinguishable": [True, True, False]},
                              index=pd.Index(["VGG16", "ResNet50", "NASNetMobile"], name="model"))
    table = table5(results, paper_comparison=False, comparison=comparison).set_index("arch")
    assert table.loc["ResNet50", "val_ci_low"] == pytest.approx(0.86)
    assert table["val_indistinguishable_from_top"].to_dict() == {"VGG16": True, "ResNet50": True, "NASNetMobile": False}


def test_table5_and_the_dvc_metrics_count_cache_refusals():
    from astrotune.reporting.results import accuracy_metrics

    results = results_frame([
        ("DenseNet121", 0, 3075, 7_040_579, 428, 0.66),
        ("DenseNet121", 10, 171_203, 7_040_579, 428, 0.955),
        ("ResNet50", 25, 8_945_667, 23_593_859, 176, 0.935),
    ]).assign(cache=["used", "refused: the model's prefix differs", "none (no cache for this step)"])
    table = table5(results, paper_comparison=False).set_index("arch")
    assert table["cache_refusals"].to_dict() == {"DenseNet121": 1, "ResNet50": 0}
    assert accuracy_metrics(results)["cache"] == {"used": 1, "refused": 1, "other": 1}


def test_table5_says_which_split_it_reports_and_whether_layers_were_chosen_on_it():
    results = results_frame([("ResNet50", 0, 10, 100, 176, 0.6), ("ResNet50", 5, 20, 100, 176, 0.7)])
    assert table5(results)["reported_on"].tolist() == ["validation (the split the layers were chosen on)"]
    held_out = results.assign(test_accuracy=[0.5, 0.65], test_accuracy_tta=0.6, test_balanced_accuracy=0.6)
    assert table5(held_out)["reported_on"].tolist() == ["test (layers chosen on validation)"]


def selection_results():
    """Two seeds per model whose accuracy-best and balanced-accuracy-best layer counts differ: L30 has the
    best mean validation accuracy, L10 the best mean balanced accuracy (though L30 wins it on seed 7 alone)."""
    runs = pd.DataFrame([("CompactCNN", 0, 7, 0.50, 0.40), ("CompactCNN", 0, 8, 0.52, 0.42),
                         ("CompactCNN", 10, 7, 0.84, 0.83), ("CompactCNN", 10, 8, 0.86, 0.85),
                         ("CompactCNN", 30, 7, 0.90, 0.84), ("CompactCNN", 30, 8, 0.88, 0.70)],
                        columns=["arch", "layers", "seed", "val_accuracy", "val_balanced_accuracy"])
    return runs.assign(trainable_params=771 + 1000 * runs["layers"], total_params=1_175_907, total_layers=30,
                       val_balanced_ci_low=runs["val_balanced_accuracy"] - 0.04,
                       val_balanced_ci_high=runs["val_balanced_accuracy"] + 0.04, test_accuracy=float("nan"),
                       cache="used")


def test_the_selection_metric_decides_which_layers_table5_and_the_dvc_metrics_choose():
    from astrotune.reporting.results import accuracy_metrics

    results = selection_results()
    by_accuracy = table5(results, paper_comparison=False).iloc[0]
    by_balanced = table5(results, paper_comparison=False, metric="balanced_accuracy").iloc[0]
    assert (by_accuracy["layers"], by_accuracy["selected_on"]) == (30, "val accuracy")
    assert (by_balanced["layers"], by_balanced["selected_on"]) == (10, "val balanced_accuracy")
    assert by_balanced["val_balanced_accuracy_seed_mean"] == pytest.approx(0.84)
    assert (by_balanced["val_balanced_accuracy"], by_balanced["val_balanced_ci_low"]) == pytest.approx((0.83, 0.79))
    headline = list(by_balanced.index)
    assert headline.index("val_balanced_accuracy") < headline.index("val_balanced_ci_high") < headline.index(
        "val_accuracy")
    assert list(by_accuracy.index).index("val_accuracy") < list(by_accuracy.index).index("val_balanced_accuracy")
    baseline = table4(results, paper_comparison=False, metric="balanced_accuracy")
    assert list(baseline.columns).index("val_balanced_accuracy") < list(baseline.columns).index("val_accuracy")
    metrics = accuracy_metrics(results, "balanced_accuracy")
    assert (metrics["selected_on"], metrics["selected_on_validation"]["CompactCNN"]["layers"]) == (
        "val balanced_accuracy", 10)
    assert metrics["validation_balanced_accuracy"]["CompactCNN"] == {"L0": 0.40, "L10": 0.83, "L30": 0.84}
    assert accuracy_metrics(results)["selected_on_validation"]["CompactCNN"]["layers"] == 30


def test_the_study_table_chooses_on_the_selection_metric_and_says_so():
    from astrotune.reporting.study_tables import study_table

    runs = selection_results().assign(weights_origin="random", test_macro_f1=0.5, val_macro_f1=0.5)
    assert study_table("yan_table2", runs)["layers"].tolist() == [30]
    table = study_table("yan_table2", runs, "balanced_accuracy")
    assert table["layers"].tolist() == [10] and table["selected_on"].tolist() == ["val balanced_accuracy"]
    assert table.loc[0, "val_balanced_accuracy"] == 0.83 and list(table.columns)[-1] == "chosen_on_validation"


def test_an_unknown_selection_metric_is_refused_by_name():
    from astrotune.reporting.study_tables import study_table

    for make in (lambda: table5(selection_results(), metric="f1"), lambda: table4(selection_results(), metric="f1"),
                 lambda: study_table("yan_table2", selection_results(), "f1")):
        with pytest.raises(ValueError, match="tables.selection_metric 'f1' is not one of accuracy, balanced_accuracy"):
            make()


def test_metrics_written_before_the_balanced_interval_still_aggregate(tmp_path):
    import json

    from astrotune.reporting.results import collect_metrics

    def metrics_file(layers, recall, balanced_ci):
        val = {"accuracy": 0.7, "confusion_matrix": [[8, 2], [4, 6]], "macro": {"f1-score": 0.7, "recall": recall},
               "accuracy_ci": {"ci_low": 0.5, "ci_high": 0.9}}
        if balanced_ci:
            val["balanced_accuracy_ci"] = {"balanced_accuracy": recall, "ci_low": recall - 0.1, "ci_high": recall + 0.1}
        path = tmp_path / f"L{layers}.json"
        path.write_text(json.dumps({"arch": "CompactCNN", "layers": layers, "trainable_params": 10 + layers,
                                    "total_params": 100, "total_layers": 30, "best_epoch": 3, "val": val}))
        return path

    results = collect_metrics([metrics_file(0, 0.6, balanced_ci=False), metrics_file(30, 0.8, balanced_ci=True)])
    assert results["val_balanced_accuracy"].tolist() == [0.6, 0.8]
    assert pd.isna(results.loc[0, "val_balanced_ci_low"])
    assert results.loc[1, "val_balanced_ci_low"] == pytest.approx(0.7)
    chosen = table5(results, paper_comparison=False, metric="balanced_accuracy").iloc[0]
    assert (chosen["layers"], chosen["val_balanced_ci_high"]) == (30, pytest.approx(0.9))
    assert pd.isna(table4(results, paper_comparison=False, metric="balanced_accuracy").loc[0, "val_balanced_ci_low"])
