"""Training throughput (images per second) of a study's classifiers on this machine, for the study
cost estimates in README.md.

Builds each classifier as training does (random weights, every layer trainable, the given head), runs
``--warmup`` training steps, then times ``--steps`` steps of ``--batch`` random images at ``--size``
pixels, in wall-clock time and in the process's CPU time. On a shared machine the CPU-time rate
(images per CPU-second, times the cores TensorFlow uses) says what an idle machine would do. Cost
per image grows about with the number of pixels, so a rate measured at a small size scales to the
study's size by (size / study_size)**2.

Usage: nice -n 15 .venv/bin/python benchmarks/training_throughput.py --size 64 --arch DenseNet121 VGG16
"""

import argparse
import json
import time

import numpy as np


def throughput(arch, size, batch, steps, warmup, head):
    """(images per wall-clock second, images per CPU-second) of training steps on random images."""
    import keras

    from astrotune.models.heads import HeadSettings
    from astrotune.models.zoo import build_classifier

    keras.utils.set_random_seed(0)
    model, _ = build_classifier(arch, 10, (size, size, 3), "none", head=HeadSettings.from_config(head))
    model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=False)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, size, size, 3)).astype("uint8")
    y = keras.utils.to_categorical(rng.integers(0, 10, batch), 10)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - started), steps * batch / (time.process_time() - cpu_started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["DenseNet121"])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--head", type=json.loads, default={}, help='head settings as JSON, e.g. \'{"cbam": true}\'')
    args = parser.parse_args()
    for arch in args.arch:
        wall, cpu = throughput(arch, args.size, args.batch, args.steps, args.warmup, args.head)
        print(json.dumps({"arch": arch, "size": args.size, "batch": args.batch, "images_per_s": round(wall, 2),
                          "images_per_cpu_s": round(cpu, 2)}), flush=True)


if __name__ == "__main__":
    main()
