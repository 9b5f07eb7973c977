"""The tiny workflow, cut to one training job of a small architecture, submitted through the project's SLURM
profile to a real SLURM cluster: every kind of job rule is submitted, the cheap rules run locally.

Needs a running cluster (CI: `bash .ci/slurm-cluster.sh start`); this test starts nothing itself and
skips with the reason when no cluster answers, unless ASTROTUNE_REQUIRE_SLURM=1 (set in CI), where it fails.
"""

import os
import re
import shutil
import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from workflow_helpers import TINY_CONFIG, copy_project

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+?)/")
TIMEOUT = 1800
# One job of every kind, training on a feature cache (the job kinds, not their number, are what the profile
# decides); the GPU jobs run one at a time on the cluster's one GPU, and the plugin's status checks slow down
# by 10 s each time no job has finished, so every job in the chain costs tens of seconds.
CONFIG = TINY_CONFIG | {"training": TINY_CONFIG["training"] | {"epochs": 1}, "architectures": {"CompactCNN": [3]}}
N_MODELS = sum(len(layers) for layers in CONFIG["architectures"].values())


def slurm_partition():
    """The cluster's default partition; skips (or fails when required) when there is no cluster."""
    if shutil.which("sinfo") is None:
        reason = "SLURM is not installed (start one with `bash .ci/slurm-cluster.sh start`)"
    else:
        result = subprocess.run(["sinfo", "-h", "-o", "%P %a %T"], capture_output=True, text=True, timeout=30)
        up = [line.split() for line in result.stdout.splitlines() if " up " in f" {line} "]
        ready = [p for p, _, state in up if state.startswith(("idle", "mixed"))]
        if result.returncode == 0 and ready:
            default = [p for p in ready if p.endswith("*")]
            return (default or ready)[0].rstrip("*")
        reason = f"no idle SLURM node answers sinfo: {(result.stderr or result.stdout).strip()!r}"
    if os.environ.get("ASTROTUNE_REQUIRE_SLURM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def slurm_log_tails(workdir):
    """The ends of the SLURM job logs the plugin kept (those of failed jobs)."""
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "".join(f"\n== {log.relative_to(workdir)}\n{log.read_text()[-3000:]}" for log in logs)


def run_interruptibly(command, cwd):
    """Run snakemake; on timeout stop it with SIGINT, which makes the SLURM plugin cancel its jobs."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
        pytest.fail(f"snakemake did not finish within {TIMEOUT} s:\n{output[-5000:]}")
    if process.returncode != 0:
        pytest.fail(f"snakemake failed ({process.returncode}):\n{output[-8000:]}{slurm_log_tails(cwd)}")
    return output


def scontrol_job(job_id):
    """`scontrol show job` as a dict of its KEY=VALUE fields."""
    text = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True,
                          check=True, timeout=30).stdout
    return dict(field.split("=", 1) for field in text.split() if "=" in field)


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory):
    """The workflow run with `--workflow-profile profiles/slurm`, partition set as docs/cluster.md says; the
    first status check after 1 s instead of 20 (the interval grows by 10 s while no job finishes)."""
    partition = slurm_partition()
    workdir = copy_project(tmp_path_factory.mktemp("slurm"), CONFIG)
    profile_file = workdir / "profiles" / "slurm" / "config.yaml"
    profile = yaml.safe_load(profile_file.read_text())
    profile["default-resources"]["slurm_partition"] = partition
    profile_file.write_text(yaml.safe_dump(profile, sort_keys=False))
    output = run_interruptibly(
        [sys.executable, "-m", "snakemake", "--workflow-profile", "profiles/slurm",
         "--slurm-init-seconds-before-status-checks", "1"], workdir)
    jobs = {}
    for job_id, rule in SUBMITTED.findall(output):
        jobs.setdefault(rule, []).append(job_id)
    return workdir, partition, jobs, output


def test_every_training_job_ran_as_a_slurm_job_with_one_gpu(slurm_run):
    _, partition, jobs, output = slurm_run
    assert len(jobs.get("train_model", [])) == N_MODELS, output[-5000:]
    for job_id in jobs["train_model"]:
        job = scontrol_job(job_id)
        assert job["JobState"] == "COMPLETED", job
        assert job["Partition"] == partition
        assert job["Comment"].startswith("rule_train_model_wildcards_")
        assert job.get("TresPerJob") == "gres:gpu:1", job
        assert job.get("CpusPerTres") == "gres:gpu:8", job
        assert job["TimeLimit"] == "06:00:00"


def test_cache_jobs_ran_as_slurm_jobs_with_one_gpu(slurm_run):
    _, _, jobs, output = slurm_run
    assert len(jobs.get("cache_features", [])) == len(CONFIG["architectures"]), output[-5000:]
    for job_id in jobs["cache_features"]:
        job = scontrol_job(job_id)
        assert job["JobState"] == "COMPLETED", job
        assert job.get("TresPerJob") == "gres:gpu:1", job
        assert job["TimeLimit"] == "02:00:00"


LOCAL_RULES = {"split_dataset", "evaluate_model", "aggregate_results", "plot_architecture", "plot_confusion",
               "architecture_tables", "write_study_table"}


def test_other_jobs_ran_on_slurm_without_a_gpu(slurm_run):
    _, _, jobs, _ = slurm_run
    cpu_rules = ["render_synthetic_sky", "pack_dataset", "summarize_architectures", "explain_models",
                 "cluster_embeddings"]
    assert set(cpu_rules) <= set(jobs)
    for job_id in [job_id for rule in cpu_rules for job_id in jobs[rule]]:
        job = scontrol_job(job_id)
        assert job["JobState"] == "COMPLETED"
        assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", "")


def test_cheap_rules_run_locally_not_as_slurm_jobs(slurm_run):
    _, _, jobs, output = slurm_run
    assert not LOCAL_RULES & set(jobs), output[-5000:]


def test_outputs_are_complete(slurm_run):
    workdir, _, _, _ = slurm_run
    results = workdir / "results" / CONFIG["dataset"]["name"]
    summary = pd.read_csv(results / "metrics" / "summary.csv")
    assert len(summary) == N_MODELS
    for name in ("table2", "table3", "table4", "table5"):
        assert (results / "tables" / f"{name}.csv").stat().st_size > 0
    for arch in CONFIG["architectures"]:
        assert (results / "figures" / f"accuracy_vs_layers_{arch}.png").stat().st_size > 0
    dry_run = subprocess.run([sys.executable, "-m", "snakemake", "-n"], cwd=workdir, capture_output=True,
                             text=True, timeout=300)
    assert "Nothing to be done" in dry_run.stdout + dry_run.stderr
