"""One GPU discipline for the rule scripts, and memory budgets that follow the job's mem_mb.

GPU rules (`resources: gpu=...`) call `job_env.gpu_job()` (TensorFlow takes GPU memory as it grows);
every other script whose imports can reach Keras or TensorFlow calls `job_env.cpu_job()` (no GPU
visible), both before anything imports TensorFlow. Which scripts can reach Keras is read from the
package's imports (function-level imports included), so a new Keras import anywhere in a module a
CPU rule uses makes this test name the script.
"""

import ast
import copy
import functools
import importlib.util
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml
from snakemake.iocontainers import ResourceList
from snakemake.utils import validate

from workflow_helpers import PROJECT_ROOT, TINY_CONFIG

SCRIPTS = PROJECT_ROOT / "workflow" / "scripts"
SRC = PROJECT_ROOT / "src"
FRAMEWORKS = {"keras", "tensorflow", "jax", "torch"}
SCHEMA = PROJECT_ROOT / "workflow" / "schemas" / "config.schema.yaml"

spec = importlib.util.spec_from_file_location("job_env", SCRIPTS / "job_env.py")
job_env = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job_env)


def imported_names(tree):
    """Every absolute module name an AST imports (from-imports also as module.name), at any depth."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@functools.cache
def package_modules():
    """{dotted name: parsed module} of src/astrotune."""
    modules = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = ast.parse(path.read_text())
    return modules


def reaches_framework(names, modules):
    """Whether importing ``names`` can import a GPU framework, through the package's imports at any depth."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name.split(".")[0] in FRAMEWORKS:
            return True
        if name in modules and name not in seen:
            seen.add(name)
            todo.extend(imported_names(modules[name]))
    return False


@functools.cache
def rule_scripts():
    """{script stem: whether its rule asks for a GPU}, read from workflow/rules/*.smk."""
    rules = {}
    for smk in sorted((PROJECT_ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^\s*rule \w+:", smk.read_text(), flags=re.M)[1:]:
            script = re.search(r'script:\s*"\.\./scripts/(\w+)\.py"', block)
            if script:
                rules[script.group(1)] = bool(re.search(r"^\s+gpu=[1-9]", block, flags=re.M))
    return rules


def first_call(tree, names):
    """(line of the first top-level call of one of ``names``, its name), or (None, None)."""
    for node in tree.body:
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id in names):
            return node.lineno, node.value.func.id
    return None, None


def test_gpu_rules_are_the_training_and_cache_jobs():
    rules = rule_scripts()
    assert len(rules) >= 20
    assert {stem for stem, gpu in rules.items() if gpu} == {"train_model", "cache_features", "pretrain_base"}


@pytest.mark.parametrize("stem", sorted(rule_scripts()))
def test_script_sets_its_gpu_visibility_before_tensorflow_can_start(stem):
    gpu = rule_scripts()[stem]
    tree = ast.parse((SCRIPTS / f"{stem}.py").read_text())
    line, called = first_call(tree, {"cpu_job", "gpu_job"})
    modules = package_modules()
    needs_keras = reaches_framework(imported_names(tree) - {"job_env"}, modules)
    if gpu:
        assert called == "gpu_job", f"{stem}.py is a GPU rule's script: call gpu_job() before any astrotune import"
    elif needs_keras:
        assert called == "cpu_job", f"{stem}.py can start Keras in a CPU job: call cpu_job() before importing it"
    else:
        assert called is None, f"{stem}.py starts no framework; {called}() is noise"
        return
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
               and reaches_framework(imported_names(node), modules)]
    early = [node.lineno for node in imports if node.lineno < line]
    late = [node.lineno for node in imports if node.lineno > line]
    assert late and not early, f"{stem}.py: {called}() at line {line}, framework imports at {early + late}"


def test_cpu_job_hides_the_gpus_and_both_refuse_to_run_after_tensorflow(tmp_path):
    """In a fresh interpreter, as a rule script runs: cpu_job(), then TensorFlow lists no GPU; once
    TensorFlow is imported, gpu_job() refuses (its setting would come too late)."""
    code = f"""
import json, os, sys
sys.path.insert(0, {str(SCRIPTS)!r})
os.environ["CUDA_VISIBLE_DEVICES"] = "0"
from job_env import cpu_job, gpu_job
cpu_job()
import tensorflow as tf
result = {{"visible": os.environ["CUDA_VISIBLE_DEVICES"],
           "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}}
try:
    gpu_job()
    result["refused"] = None
except RuntimeError as err:
    result["refused"] = str(err)
print(json.dumps(result))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["visible"] == "" and result["gpus"] == []
    assert "before tensorflow" in result["refused"]


def test_gpu_job_lets_tensorflow_grow_its_gpu_memory(monkeypatch):
    for name in ("tensorflow", "keras", "jax", "torch"):  # as in a job's fresh process (other tests import them)
        monkeypatch.delitem(sys.modules, name, raising=False)
    environ = {}
    job_env.gpu_job(environ)
    assert environ == {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


@pytest.mark.parametrize("setting, mem_mb, budget", [
    ("auto", 32000, 8000),       # the SLURM profile's training job
    ("auto", None, 2048),        # a local run without mem_mb
    ("auto", 0, 2048),
    (4096, 32000, 4096),         # a number is taken as it is
    (512.5, None, 512.5),
])
def test_memory_budget_follows_the_jobs_mem_mb_when_auto(setting, mem_mb, budget):
    assert job_env.memory_budget_mb(setting, mem_mb) == budget


def test_resolve_memory_budget_reads_the_jobs_resources():
    """What train_model.py does first: the job's Snakemake resources decide the budget it trains with."""
    job = SimpleNamespace(config={"performance": {"memory_budget_mb": "auto"}},
                          resources=ResourceList(fromdict={"_cores": 8, "mem_mb": 16000, "tmpdir": "/tmp"}))
    assert job_env.resolve_memory_budget(job) == 4000
    assert job.config["performance"]["memory_budget_mb"] == 4000
    local = SimpleNamespace(config={"performance": {"memory_budget_mb": "auto"}},
                            resources=ResourceList(fromdict={"_cores": 2, "tmpdir": "/tmp"}))
    assert job_env.resolve_memory_budget(local) == 2048


def validated_performance(performance):
    config = copy.deepcopy(TINY_CONFIG) | {"performance": performance}
    validate(config, schema=str(SCHEMA))
    return config["performance"]


def test_schema_defaults_the_budget_to_auto_and_accepts_numbers():
    assert validated_performance({})["memory_budget_mb"] == "auto"
    assert validated_performance({"memory_budget_mb": 1500})["memory_budget_mb"] == 1500


@pytest.mark.parametrize("bad", [0, -5, "big", None])
def test_schema_rejects_other_budgets(bad):
    with pytest.raises(Exception, match="memory_budget_mb"):
        validated_performance({"memory_budget_mb": bad})


def test_profile_and_docs_give_the_training_memory_the_auto_budget_reads():
    profile = yaml.safe_load((PROJECT_ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    mem_mb = profile["set-resources"]["train_model"]["mem_mb"]
    assert f"{job_env.memory_budget_mb('auto', mem_mb):,.0f} MB" in (PROJECT_ROOT / "config" / "README.md").read_text()
