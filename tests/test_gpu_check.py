"""benchmarks/gpu_check.py in its CPU mode: every (precision, XLA) variant runs and passes its checks."""

import json
import subprocess
import sys

from workflow_helpers import PROJECT_ROOT


def test_gpu_check_smoke_passes_on_the_cpu():
    result = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--smoke"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    header, variants = lines[0], lines[1:]
    assert header["versions"]["backend"] == "tensorflow" and header["anchor"]["images_per_s"] == 2375
    assert {(v["mixed_precision"], v["xla"]) for v in variants} == {(False, False), (False, True), (True, False),
                                                                     (True, True)}
    assert all(v["failed"] == [] and v["output_dtype"] == "float32" for v in variants)
    assert all(v["full_images_per_s"] > 0 and v["cached_images_per_s"] > 0 for v in variants)
    assert variants[0]["same_seed_same_weights"] is True and variants[0]["max_prediction_difference"] < 1e-4
    assert result.stdout.strip().endswith("gpu_check: all checks passed")
