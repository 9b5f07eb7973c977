"""Scale benchmark: a synthetic data set of Galaxy10 DECaLS's size through the real workflow, stage by
stage, each stage under a memory cap.

It writes a Galaxy10-layout HDF5 file (``--objects`` images of ``--size`` px, 10 classes, each class
with its own brightness so that a model has something to learn) into a copy of the project, then
runs one Snakemake target per stage, each under ``prlimit --as`` (the stage's cap on address space,
which TensorFlow's own reservations count against):

    pack -> split -> cache -> train (one cut, 2 epochs) -> evaluate -> explain -> embeddings

and prints, per stage, wall time, the peak RSS of its processes, images/s over the images the stage
handles, and last the largest peak RSS against its cap. Exits non-zero when a stage fails.

Usage (the full size: 17,736 images of 256 px, 3.5 GB):
    .venv/bin/python -u benchmarks/scale.py
    .venv/bin/python -u benchmarks/scale.py --objects 600 --size 64     # a quick run
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

PROJECT = Path(__file__).resolve().parents[1]
GB = 2**30
# A stage's processes report their own peak RSS to the runner through RUSAGE_CHILDREN.
RUNNER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
          "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")
CAPS_GB = {"pack": 4, "split": 2, "cache": 8, "train": 8, "evaluate": 8, "explain": 8, "embeddings": 8}
CLASSES = ["Disturbed Galaxies", "Merging Galaxies", "Round Smooth Galaxies", "In-between Round Smooth Galaxies",
           "Cigar Shaped Smooth Galaxies", "Barred Spiral Galaxies", "Unbarred Tight Spiral Galaxies",
           "Unbarred Loose Spiral Galaxies", "Edge-on Galaxies without Bulge", "Edge-on Galaxies with Bulge"]


def copy_project(workdir):
    """The tracked files of the project (the workflow and its config), without results."""
    files = subprocess.run(["git", "ls-files"], cwd=PROJECT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith(("Snakefile", "workflow/", "config/", "profiles/")):
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / name, workdir / name)
    return workdir


def write_galaxy10(path, n, size, seed=0, block=256):
    """A Galaxy10 DECaLS-layout file written block by block; returns its sha256."""
    from astrotune.io import sha256_file

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        images = h5.create_dataset("images", (n, size, size, 3), dtype=np.uint8, chunks=(1, size, size, 3))
        for start in range(0, n, block):
            part = labels[start:start + block]
            noise = rng.normal(0, 20, (len(part), size, size, 3))
            images[start:start + len(part)] = np.clip(20.0 * part[:, None, None, None] + 30 + noise, 0, 255)
        h5["ans"] = labels
        for name, values in (("ra", rng.uniform(0, 360, n)), ("dec", rng.uniform(-20, 60, n)),
                             ("redshift", np.full(n, 0.05)), ("pxscale", np.full(n, 0.262))):
            h5[name] = values
    return sha256_file(path)


def study_config(args, sha256):
    """The study: Galaxy10 source at full size, one architecture with one cut, 2 epochs."""
    return {
        "seed": 42,
        "dataset": {"name": "scale", "source": "galaxy10", "classes": CLASSES, "image_size": args.size},
        "galaxy10": {"variant": "decals", "sha256": sha256},
        "split": {"val_fraction": 0.1, "test_fraction": 0.1},
        "training": {"weights": "none", "epochs": 2, "batch_size": 32},
        "architectures": {args.arch: [args.layers]},
        "explain": {"images_per_class": 1},
        "unsupervised": {"enabled": True, "backbone": args.arch, "weights": "none"},
    }


def stages(args, n):
    """(stage, target, images handled) in workflow order."""
    model = f"results/scale/models/{args.arch}/L{args.layers}"
    evaluated = n - int(n * 0.8)  # validation and test rows
    return [("pack", "results/scale/dataset.h5", n), ("split", "results/scale/split.csv", n),
            ("cache", f"results/scale/features/{args.arch}/L{args.layers}.h5", n),
            ("train", f"{model}/model.keras", 2 * int(n * 0.8)),
            ("evaluate", f"results/scale/metrics/{args.arch}/L{args.layers}.json", evaluated),
            ("explain", "results/scale/figures/gradcam.png", 10),
            ("embeddings", "results/scale/tables/unsupervised.csv", n)]


def run_stage(workdir, target, cap_gb, cores):
    """Run one target under its cap; returns (seconds, peak RSS in bytes, return code, output tail)."""
    command = [sys.executable, "-c", RUNNER, "prlimit", f"--as={cap_gb * GB}", "--", sys.executable, "-m",
               "snakemake", target, "--cores", str(cores), "--configfile", "config/studies/scale.yaml"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peaks = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("PEAK_RSS_KB")]
    return seconds, (peaks[-1] if peaks else 0) * 1024, result.returncode, (result.stdout + result.stderr)[-3000:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=17736)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--arch", default="MobileNetV2")
    parser.add_argument("--layers", type=int, default=10, help="trainable last base layers of the one cut")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", help="keep the run here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="astrotune-scale-") as scratch:
        workdir = copy_project(Path(args.workdir or scratch))
        started = time.perf_counter()
        sha256 = write_galaxy10(workdir / "resources" / "galaxy10" / "Galaxy10_DECals.h5", args.objects, args.size)
        print(json.dumps({"stage": "write source", "objects": args.objects, "size": args.size,
                          "seconds": round(time.perf_counter() - started, 1)}), flush=True)
        (workdir / "config" / "studies" / "scale.yaml").write_text(yaml.safe_dump(study_config(args, sha256)))
        worst = 0.0
        for stage, target, images in stages(args, args.objects):
            seconds, peak, code, tail = run_stage(workdir, target, CAPS_GB[stage], args.cores)
            print(json.dumps({"stage": stage, "seconds": round(seconds, 1), "peak_rss_gb": round(peak / GB, 2),
                              "cap_gb": CAPS_GB[stage], "images_per_s": round(images / seconds, 1)}), flush=True)
            if code:
                print(f"scale: stage {stage} failed (exit {code}):\n{tail}", file=sys.stderr)
                return 1
            worst = max(worst, peak / GB / CAPS_GB[stage])
        print(f"scale: every stage within its cap; largest peak RSS {worst:.0%} of its cap")
    return 0


if __name__ == "__main__":
    sys.exit(main())
