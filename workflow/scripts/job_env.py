"""What a rule's script process sees of its machine: set in the script's first lines, before anything
imports TensorFlow (which reads these variables when it first touches CUDA).

- ``cpu_job()``: rules that start Keras but are not GPU jobs (architecture summaries, ImageNet weight
  fetching, explanations, embeddings) see no GPU, so they never map a GPU's memory beside a training job.
- ``gpu_job()``: GPU rules (``resources: gpu=1``: ``train_model``, ``cache_features``) allocate GPU
  memory as they grow instead of mapping all of it when TensorFlow starts.
- ``memory_budget_mb()``: ``performance.memory_budget_mb`` for one job: ``auto`` is a quarter of the
  job's ``mem_mb`` resource (images, cached tensors and the frozen middle's outputs are each held
  under the budget, beside the model and TensorFlow), or 2048 MB when the job has no ``mem_mb``.

The rule scripts import this module by name: Snakemake puts a local script's folder on ``sys.path``.
"""

import os
import sys

AUTO_FRACTION = 0.25
NO_MEM_MB_BUDGET = 2048
GPU_FRAMEWORKS = ("tensorflow", "keras", "jax", "torch")


def _before_frameworks(name):
    loaded = [module for module in GPU_FRAMEWORKS if module in sys.modules]
    if loaded:
        raise RuntimeError(f"{name}() must run before {', '.join(loaded)} is imported: it would see the GPUs "
                           "as they were")


def cpu_job(environ=os.environ):
    """Hide every GPU from this process (CPU-only rules)."""
    _before_frameworks("cpu_job")
    environ["CUDA_VISIBLE_DEVICES"] = ""


def gpu_job(environ=os.environ):
    """Let TensorFlow (and JAX) take GPU memory as the job needs it, not all of it at start (GPU rules)."""
    _before_frameworks("gpu_job")
    environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"


def memory_budget_mb(setting, mem_mb):
    """The memory budget in MB for ``setting`` (``performance.memory_budget_mb``: a number or ``auto``) in
    a job given ``mem_mb`` MB (None or 0: the job has no mem_mb resource)."""
    if setting != "auto":
        return float(setting)
    return AUTO_FRACTION * mem_mb if mem_mb else float(NO_MEM_MB_BUDGET)


def resolve_memory_budget(snakemake):
    """Replace ``auto`` in the job's ``performance.memory_budget_mb`` by its value for the job's mem_mb."""
    performance = snakemake.config["performance"]
    performance["memory_budget_mb"] = memory_budget_mb(performance["memory_budget_mb"],
                                                       snakemake.resources.get("mem_mb"))
    return performance["memory_budget_mb"]
