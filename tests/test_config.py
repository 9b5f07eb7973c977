"""Config validation: bad configs fail before any job runs, naming the key; every key is documented."""

import copy

import pytest
import yaml

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project, run_snakemake


def schema_keys(properties, prefix=""):
    for key, spec in properties.items():
        yield f"{prefix}{key}"
        if spec.get("type") == "object" and "properties" in spec:
            yield from schema_keys(spec["properties"], f"{prefix}{key}.")


def test_every_schema_key_has_description_default_and_documentation():
    schema = yaml.safe_load((PROJECT_ROOT / "workflow/schemas/config.schema.yaml").read_text())
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


def with_change(change):
    config = copy.deepcopy(TINY_CONFIG)
    change(config)
    return config


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
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, case):
    change, expected = BAD_CONFIGS[case]
    workdir = copy_project(tmp_path, with_change(change))
    result = run_snakemake(workdir, "-n", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output
    assert "Job stats" not in output
    assert not (workdir / "results").exists()


def test_study_configs_plan_the_paper_sweep(tmp_path):
    workdir = copy_project(tmp_path)
    result = run_snakemake(workdir, "-n", "--configfile", "config/studies/sabeesh2022_sdss.yaml")
    assert "train_model                  82" in result.stdout
