"""Config validation and config-derived rerun triggers.

Validation runs in process with the same calls as workflow/rules/common.smk; one dry run proves the
Snakefile makes them before any job runs.
"""

import copy

import pytest
import yaml
from snakemake.utils import validate

from astrotune.config import NETWORK_KEYS, network_settings, output_settings, packing_provenance
from astrotune.models.schedules import training_steps

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project, run_snakemake

SCHEMA = PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml"


def schema_keys(properties, prefix=""):
    for key, spec in properties.items():
        yield f"{prefix}{key}"
        if spec.get("type") == "object" and "properties" in spec:
            yield from schema_keys(spec["properties"], f"{prefix}{key}.")


def validated(config):
    """``config`` checked and completed with the schema defaults, as common.smk does it."""
    config = copy.deepcopy(config)
    validate(config, schema=str(SCHEMA))
    training_steps(config)
    return config


def with_change(change, config=TINY_CONFIG):
    config = copy.deepcopy(config)
    change(config)
    return config


def test_every_schema_key_has_description_default_and_documentation():
    schema = yaml.safe_load(SCHEMA.read_text())
    readme = (PROJECT_ROOT / "config/README.md").read_text()
    keys = list(schema_keys(schema["properties"]))
    assert len(keys) > 40
    for key in keys:
        spec = schema
        for part in key.split("."):
            spec = spec["properties"][part]
        assert spec.get("description"), key
        assert "default" in spec, key
        assert f"`{key}`" in readme, f"config/README.md does not document {key}"


@pytest.mark.parametrize("path", ["config/config.yaml", *sorted(
    str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "config" / "studies").glob("*.yaml"))])
def test_shipped_configs_are_valid(path):
    validated(yaml.safe_load((PROJECT_ROOT / path).read_text()))


BAD_CONFIGS = {
    "unknown top-level key": (lambda c: c.update(sed=1), "sed"),
    "unknown nested key": (lambda c: c["training"].update(epoch=3), "epoch"),
    "wrong type": (lambda c: c["training"].update(epochs="ten"), "ten"),
    "unknown architecture": (lambda c: c["architectures"].update(ResNet51=[0]), "ResNet51"),
    "too many layers": (lambda c: c["architectures"].update(VGG16=[0, 21]),
                        "VGG16: 21 trainable layers requested but VGG16 has 20 layers"),
    "negative layers": (lambda c: c["architectures"].update(VGG16=[-1]), "-1"),
    "bad source": (lambda c: c["dataset"].update(source="sdss"), "sdss"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_is_rejected_naming_the_key(case):
    change, expected = BAD_CONFIGS[case]
    with pytest.raises(Exception) as error:
        validated(with_change(change))
    assert expected in str(error.value)


def test_bad_config_fails_the_dry_run_before_any_job(tmp_path):
    change, expected = BAD_CONFIGS["too many layers"]
    workdir = copy_project(tmp_path, with_change(change))
    result = run_snakemake(workdir, "-n", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output
    assert "Job stats" not in output
    assert not (workdir / "results").exists()


def test_study_configs_plan_the_paper_sweep(tmp_path):
    workdir = copy_project(tmp_path)
    from test_workflow import planned_jobs

    result = run_snakemake(workdir, "-n", "--configfile", "config/studies/sabeesh2022_sdss.yaml")
    assert planned_jobs(result)["train_model"] == 82


# Rerun triggers: only settings that can change an output's bytes enter params and provenance hashes.
SDSS_STUDY = yaml.safe_load((PROJECT_ROOT / "config/studies/sabeesh2022_sdss.yaml").read_text())
POLITENESS = {
    "cutouts.concurrency": lambda c: c.setdefault("cutouts", {}).update(concurrency=1),
    "cutouts.timeout_s": lambda c: c.setdefault("cutouts", {}).update(timeout_s=300),
    "cutouts.retries": lambda c: c.setdefault("cutouts", {}).update(retries=12),
    "cutouts.backoff_s": lambda c: c.setdefault("cutouts", {}).update(backoff_s=9.0),
    "cutouts.shards": lambda c: c.setdefault("cutouts", {}).update(shards=8),
    "sdss.timeout_s": lambda c: c.setdefault("sdss", {}).update(timeout_s=3600),
}


@pytest.mark.parametrize("study", [TINY_CONFIG, SDSS_STUDY], ids=["synthetic", "sdss_query"])
@pytest.mark.parametrize("key", POLITENESS)
def test_network_settings_never_change_the_packing_provenance(study, key):
    before = packing_provenance(validated(study))
    assert packing_provenance(validated(with_change(POLITENESS[key], study))) == before


@pytest.mark.parametrize("change", [
    lambda c: c.setdefault("sdss", {}).update(r_mag_max=17.5),
    lambda c: c.setdefault("sdss", {}).update(n_objects=500),
    lambda c: c.setdefault("cutouts", {}).update(scale=0.2),
    lambda c: c.setdefault("cutouts", {}).update(opt="G"),
    lambda c: c["dataset"].update(image_size=256),
    lambda c: c.update(seed=1),
], ids=["sdss cut", "sample size", "cutout scale", "cutout options", "image size", "seed"])
def test_what_defines_the_images_changes_the_packing_provenance(change):
    before = packing_provenance(validated(SDSS_STUDY))["config_hash"]
    assert packing_provenance(validated(with_change(change, SDSS_STUDY)))["config_hash"] != before


def test_download_params_hold_what_to_download_and_the_config_how():
    config = validated(SDSS_STUDY)
    for section, keys in NETWORK_KEYS.items():
        assert set(keys) <= set(config[section]), section  # every network key exists in the schema
        assert not set(keys) & set(output_settings(config, section))
        assert set(network_settings(config, section)) == set(keys)
    assert output_settings(config, "cutouts") == {key: config["cutouts"][key] for key in
                                                  ("base_url", "data_release", "scale", "size", "opt", "shards")}
