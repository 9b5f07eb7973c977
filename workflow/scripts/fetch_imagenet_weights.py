"""Snakemake adapter (local rule): download an architecture's ImageNet weights for one input size into
KERAS_HOME (MobileNetV2 has a weight file per input side)."""

from job_env import cpu_job

cpu_job()  # a CPU job: TensorFlow, wherever its imports start it, sees no GPU

import json
import os
from pathlib import Path

os.environ["KERAS_HOME"] = os.path.abspath(snakemake.params.keras_home)

from astrotune.io import atomic_path, sha256_file  # noqa: E402
from astrotune.logs import rule_logging  # noqa: E402
from astrotune.models.zoo import fetch_imagenet_weights  # noqa: E402

with rule_logging(snakemake.log[0]):
    files = fetch_imagenet_weights(snakemake.wildcards.arch, snakemake.params.input_shape)
    record = {"arch": snakemake.wildcards.arch, "input_shape": list(snakemake.params.input_shape),
              "keras_home": os.environ["KERAS_HOME"],
              "files": {Path(f).name: sha256_file(f) for f in files}}
    with atomic_path(snakemake.output.record) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
