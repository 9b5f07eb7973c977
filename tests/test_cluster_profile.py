"""The SLURM profile against dry runs of the studies (no cluster needed, seconds each).

Every rule the plan would submit as a SLURM job gets its own memory and runtime from the profile's
`set-resources` (not the fallback `default-resources`), GPU rules a GPU and non-GPU rules none; the
cheap rules (bookkeeping, tables, figures) and the downloads are local rules, so the paper study does not
queue 82 evaluations and 82 confusion figures. The grouping option of the profile bundles an
architecture's training jobs into allocations of a few jobs each.
"""

import math
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from workflow_helpers import PROJECT_ROOT, copy_project

PROFILE = PROJECT_ROOT / "profiles" / "slurm" / "config.yaml"
WORKFLOW_FILES = [PROJECT_ROOT / "Snakefile", *sorted((PROJECT_ROOT / "workflow" / "rules").glob("*.smk"))]
DOWNLOADS = {"query_sdss_catalog", "import_catalog", "download_cutouts", "download_galaxy10", "fetch_imagenet_weights"}
CHEAP = {"split_dataset", "evaluate_model", "aggregate_results", "plot_architecture", "plot_confusion",
         "architecture_tables", "write_study_table", "all"}
GPU_RULES = {"cache_features", "train_model", "pretrain_base"}
STUDIES = ["config/studies/sabeesh2022_sdss.yaml", "config/studies/alberghi_galaxy10.yaml", "config/config.yaml"]
JOB_HEADER = re.compile(r"^(\s*)(?:local)?(?:rule|checkpoint) (\w+):$")
GROUP_HEADER = re.compile(r"Group job (\S+) \(jobs in lexicogr\. order\):$")


def workflow_rules():
    """{rule: {"local": localrule: True, "gpu": asks for a GPU}} for every rule the workflow defines."""
    rules = {}
    for path in WORKFLOW_FILES:
        blocks = re.split(r"^\s*rule (\w+):\n", path.read_text(), flags=re.M)
        for name, body in zip(blocks[1::2], blocks[2::2]):
            rules[name] = {"local": bool(re.search(r"^\s+localrule: True", body, flags=re.M)),
                           "gpu": bool(re.search(r"^\s+gpu=[1-9]", body, flags=re.M))}
    return rules


def resource_value(text):
    return int(text) if text.isdigit() else text


def planned_jobs(output):
    """[(rule, {resource: value}, group or None, {wildcard: value})] of a dry run's job listing."""
    jobs, current, group = [], None, None
    for line in output.splitlines():
        if header := GROUP_HEADER.search(line):
            group = header.group(1)
            continue
        if header := JOB_HEADER.match(line.split("] ", 1)[-1] if line.startswith("[") else line):
            indent, rule = header.groups()
            current = (rule, {}, group if indent else None, {})
            jobs.append(current)
        elif current and line.strip().startswith("resources: "):
            for item in line.strip().removeprefix("resources: ").split(", "):
                key, value = item.split("=", 1)
                current[1][key] = resource_value(value)
        elif current and line.strip().startswith("wildcards: "):
            current[3].update(item.split("=", 1) for item in line.strip().removeprefix("wildcards: ").split(", "))
    return jobs


def dry_run(workdir, configfile):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--workflow-profile", "profiles/slurm", "--configfile", configfile],
        cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("profile"))


@pytest.fixture(scope="module")
def plans(project):
    """{study file: planned jobs} of a dry run with the SLURM profile."""
    return {study: planned_jobs(dry_run(project, study)) for study in STUDIES}


def test_the_cheap_rules_and_the_downloads_are_local_the_gpu_rules_are_jobs():
    rules = workflow_rules()
    assert CHEAP | DOWNLOADS <= set(rules)
    assert {name for name, rule in rules.items() if rule["local"] or name == "all"} == CHEAP | DOWNLOADS
    assert {name for name, rule in rules.items() if rule["gpu"]} == GPU_RULES


def test_every_job_rule_has_its_own_resources_in_the_profile():
    """Also the rules no shipped study plans (index_local_images with the real cutouts in ../shared)."""
    profile = yaml.safe_load(PROFILE.read_text())
    jobs = {name for name, rule in workflow_rules().items() if not rule["local"] and name != "all"}
    assert set(profile["set-resources"]) == jobs
    for name in jobs:
        resources = profile["set-resources"][name]
        assert resources["mem_mb"] > 0 and resources["runtime"] > 0, name
        assert resources.get("gpu", 0) == (1 if name in GPU_RULES else 0), name


@pytest.mark.parametrize("study", STUDIES)
def test_dry_run_shows_the_profile_resources_of_every_submitted_job(plans, study):
    profile = yaml.safe_load(PROFILE.read_text())["set-resources"]
    rules = workflow_rules()
    submitted = {}
    for rule, resources, _, _ in plans[study]:
        if rules[rule]["local"] or rule == "all":
            continue
        submitted[rule] = submitted.get(rule, 0) + 1
        assert rule in profile, f"{rule} would be submitted with the default resources"
        assert resources["mem_mb"] == profile[rule]["mem_mb"], rule
        assert resources["runtime"] == profile[rule]["runtime"], rule
        if rule in GPU_RULES:
            assert resources["gpu"] == 1 and resources["cpus_per_gpu"] == profile[rule]["cpus_per_gpu"], rule
        else:
            assert "gpu" not in resources, rule
    planned = {rule for rule, *_ in plans[study]}
    assert "train_model" in submitted and "explain_models" in submitted
    assert planned & CHEAP and not set(submitted) & (CHEAP | DOWNLOADS)
    if study.endswith("sabeesh2022_sdss.yaml"):  # the acceptance case: 82 trainings, 93 jobs, the rest local
        assert submitted == {"summarize_architectures": 1, "pack_dataset": 1, "cache_features": 7, "train_model": 82,
                             "explain_models": 1, "cluster_embeddings": 1}
        assert sum(1 for rule, *_ in plans[study] if rule == "plot_confusion") == 82


def test_grouping_option_bundles_one_architectures_training_jobs(project):
    """The profile's commented grouping block, enabled as docs/cluster.md says: allocations of at most
    `group-components` training jobs, each of one architecture; no other rule is grouped."""
    grouped = project.parent / "grouped"
    shutil.copytree(project, grouped, ignore=shutil.ignore_patterns(".snakemake"))
    text = PROFILE.read_text()
    head, option = text.split("\n# groups:\n")
    (grouped / "profiles" / "slurm" / "config.yaml").write_text(
        head + "\n" + re.sub(r"^# ", "", "# groups:\n" + option, flags=re.M))
    size = yaml.safe_load((grouped / "profiles" / "slurm" / "config.yaml").read_text())["group-components"]
    size = size["train_{arch}"]
    output = dry_run(grouped, "config/studies/sabeesh2022_sdss.yaml")
    jobs = planned_jobs(output)
    training = [(group, wildcards["arch"]) for rule, _, group, wildcards in jobs if rule == "train_model"]
    assert len(training) == 82
    assert all(group == f"train_{arch}" for group, arch in training)
    assert all(group is None for rule, _, group, _ in jobs if rule != "train_model")
    n_groups = sum(1 for line in output.splitlines() if GROUP_HEADER.search(line))
    per_arch = {}
    for _, arch in training:
        per_arch[arch] = per_arch.get(arch, 0) + 1
    assert n_groups == sum(math.ceil(n / size) for n in per_arch.values())
