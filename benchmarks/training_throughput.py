"""Training throughput (images per second) of a study's classifiers on this machine, full and on
cached tensors, per Keras backend side by side, for the study cost estimates in README.md.

Builds each classifier as training does (random weights), runs ``--warmup`` training steps, then
times ``--steps`` steps of ``--batch`` random images at ``--size`` pixels:
- full: every layer trainable, in wall-clock time and in the process's CPU time (on a shared
  machine the CPU-time rate says what an idle machine would do);
- cached: the last ``--layers`` base layers trainable, the suffix trained on the frozen prefix's
  tensors (computed once, as the feature cache does).
With several ``--backend`` values each backend runs in its own process (the backend is fixed when
Keras is imported) and the rows are printed together. Cost per image grows about with the number of
pixels, so a rate measured at a small size scales to the study's size by (size / study_size)**2.

Usage: nice -n 15 .venv/bin/python benchmarks/training_throughput.py --size 64 --arch DenseNet121 VGG16 \
    --backend tensorflow jax
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def throughput(arch, size, batch, steps, warmup, head):
    """(images per wall-clock second, images per CPU-second) of full training steps on random images."""
    import keras

    from astrotune.models.heads import HeadSettings
    from astrotune.models.zoo import build_classifier

    keras.utils.set_random_seed(0)
    model, _ = build_classifier(arch, 10, (size, size, 3), "none", head=HeadSettings.from_config(head))
    model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=False)
    x, y = random_batch(size, batch)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - started), steps * batch / (time.process_time() - cpu_started)


def cached_throughput(arch, size, batch, steps, warmup, layers):
    """Images per wall-clock second of the suffix after ``layers`` trainable layers on cached tensors."""
    import keras

    from astrotune.models.cut import model_input, prefix_outputs, split_classifier
    from astrotune.models.trainable import set_trainable_last_layers
    from astrotune.models.zoo import build_classifier
    from astrotune.training.compile import compile_classifier

    keras.utils.set_random_seed(0)
    model, base = build_classifier(arch, 10, (size, size, 3), "none")
    set_trainable_last_layers(model, base, layers)
    compile_classifier(model, keras.optimizers.Adam(1e-3))
    split = split_classifier(model, len(base.layers) - layers)
    compile_classifier(split.suffix, model.optimizer)
    x, y = random_batch(size, batch)
    cached = model_input(prefix_outputs(split.prefix, x))
    for _ in range(warmup):
        split.suffix.train_on_batch(cached, y)
    started = time.perf_counter()
    for _ in range(steps):
        split.suffix.train_on_batch(cached, y)
    return steps * batch / (time.perf_counter() - started)


def random_batch(size, batch):
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (batch, size, size, 3)).astype("float32"),
            np.eye(10, dtype="float32")[rng.integers(0, 10, batch)])


def measure(args):
    """One row per architecture on this process's backend."""
    from astrotune import backend

    for arch in args.arch:
        wall, cpu = throughput(arch, args.size, args.batch, args.steps, args.warmup, args.head)
        cached = cached_throughput(arch, args.size, args.batch, args.steps, args.warmup, args.layers)
        print(json.dumps({"backend": backend.name(), "arch": arch, "size": args.size, "batch": args.batch,
                          "images_per_s": round(wall, 2), "images_per_cpu_s": round(cpu, 2),
                          "cached_images_per_s": round(cached, 2), "cached_layers": args.layers,
                          "cached_over_full": round(cached / wall, 2)}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["DenseNet121"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--layers", type=int, default=10, help="trainable last base layers of the cached side")
    parser.add_argument("--head", type=json.loads, default={}, help='head settings as JSON, e.g. \'{"cbam": true}\'')
    parser.add_argument("--backend", nargs="+", help="run each of these Keras backends in its own process")
    args = parser.parse_args()
    if not args.backend:
        measure(args)
        return 0
    forwarded = [arg for arg in sys.argv[1:] if arg not in args.backend and arg != "--backend"]
    for name in args.backend:
        result = subprocess.run([sys.executable, __file__, *forwarded], env=os.environ | {"KERAS_BACKEND": name},
                                capture_output=True, text=True)
        rows = [line for line in result.stdout.splitlines() if line.startswith("{")]
        print("\n".join(rows) if result.returncode == 0 else
              json.dumps({"backend": name, "failed": result.stderr.strip().splitlines()[-1:]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
