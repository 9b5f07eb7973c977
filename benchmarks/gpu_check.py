"""GPU check: training throughput of full fine-tuning and of cached-suffix training, with and without
mixed precision and XLA, on any Keras backend; exits non-zero when a check fails.

For each architecture and each (precision, XLA) variant it builds the classifier as training does
(random weights), then
- full: every layer trainable, ``--steps`` timed training steps after one warm-up step;
- cached: the last ``--layers`` base layers trainable, the frozen prefix run once over the batch
  (``models.cut``), then the same number of steps of the suffix on the cached tensors;
and prints images/s of both, their ratio, the largest difference between the suffix's predictions
on cached tensors and the full model's on images, and whether two runs with the same seed end with
the same weights. The published anchor (TensorFlow ResNet-50, AMP and XLA, one A100, batch 256:
2,375 images/s) is printed beside the figures.

Checks (exit 1 when one fails): every loss finite; cached predictions equal the full model's
(1e-4 in float32, 2e-2 under mixed precision); two float32 runs without XLA with the same seed agree
exactly; the output layer runs in float32 under mixed precision.

Usage:
    KERAS_BACKEND=jax python benchmarks/gpu_check.py             # on a GPU: 224 px, batch 64
    python benchmarks/gpu_check.py --smoke                       # on a CPU: 32 px, CompactCNN, batch 4
"""

import argparse
import itertools
import json
import sys
import time

import numpy as np

ANCHOR = {"source": "TensorFlow ResNet-50 with AMP and XLA, one A100, batch 256", "images_per_s": 2375}


def build(arch, size, n_classes, layers, mixed, jit_compile, seed):
    """The classifier with its last ``layers`` base layers trainable, compiled as training compiles it."""
    import keras

    from astrotune.models.trainable import set_trainable_last_layers
    from astrotune.models.zoo import build_classifier
    from astrotune.training.compile import compile_classifier

    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    keras.utils.set_random_seed(seed)
    model, base = build_classifier(arch, n_classes, (size, size, 3), "none")
    set_trainable_last_layers(model, base, len(base.layers) if layers is None else layers)
    compile_classifier(model, keras.optimizers.Adam(1e-3), jit_compile)
    return model, base


def timed_steps(model, x, y, steps):
    """Images per second over ``steps`` training steps after one warm-up step, and the last loss."""
    loss = model.train_on_batch(x, y)
    started = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    elapsed = time.perf_counter() - started
    return steps * len(y) / elapsed, float(np.ravel(loss)[0])


def weights_after_steps(arch, size, n_classes, mixed, jit_compile, x, y, steps, seed):
    """Every weight of a fully trainable classifier after ``steps`` steps from ``seed``."""
    model, _ = build(arch, size, n_classes, None, mixed, jit_compile, seed)
    for _ in range(steps):
        model.train_on_batch(x, y)
    return [np.asarray(weight) for weight in model.get_weights()]


def check_variant(arch, args, mixed, xla):
    """One (architecture, precision, XLA) variant: its figures and its failed checks."""
    from astrotune import backend
    from astrotune.models.cut import model_input, prefix_outputs, split_classifier
    from astrotune.training.compile import compile_classifier

    backend.deterministic_ops(not xla)  # TensorFlow compiles nothing with XLA while op determinism is on
    rng = np.random.default_rng(args.seed)
    x = rng.integers(0, 256, (args.batch, args.size, args.size, 3)).astype("float32")
    y = np.eye(args.classes, dtype="float32")[rng.integers(0, args.classes, args.batch)]
    full, _ = build(arch, args.size, args.classes, None, mixed, xla, args.seed)
    full_rate, full_loss = timed_steps(full, x, y, args.steps)
    model, base = build(arch, args.size, args.classes, args.layers, mixed, xla, args.seed)
    split = split_classifier(model, len(base.layers) - args.layers)
    started = time.perf_counter()
    cached = model_input(prefix_outputs(split.prefix, x))
    cache_rate = len(x) / (time.perf_counter() - started)
    difference = float(np.max(np.abs(np.asarray(split.suffix.predict_on_batch(cached), dtype="float64")
                                     - np.asarray(model.predict_on_batch(x), dtype="float64"))))
    compile_classifier(split.suffix, model.optimizer, xla)
    cached_rate, cached_loss = timed_steps(split.suffix, cached, y, args.steps)
    agree = None  # --smoke checks it only where it is promised: float32 without XLA
    if not args.smoke or not (mixed or xla):
        agree = all(np.array_equal(a, b) for a, b in zip(
            *(weights_after_steps(arch, args.size, args.classes, mixed, xla, x, y, 2, args.seed) for _ in range(2))))
    output_dtype = str(model.layers[-1].compute_dtype)
    result = {"arch": arch, "size": args.size, "batch": args.batch, "mixed_precision": mixed, "xla": xla,
              "full_images_per_s": round(full_rate, 1), "cached_images_per_s": round(cached_rate, 1),
              "cached_over_full": round(cached_rate / full_rate, 2), "cache_images_per_s": round(cache_rate, 1),
              "max_prediction_difference": difference, "same_seed_same_weights": agree,
              "output_dtype": output_dtype, "anchor_images_per_s": ANCHOR["images_per_s"]}
    failed = []
    if not (np.isfinite(full_loss) and np.isfinite(cached_loss)):
        failed.append("a loss is not finite")
    if difference > (2e-2 if mixed else 1e-4):
        failed.append(f"cached predictions differ from the full model's by {difference:.2g}")
    if not mixed and not xla and agree is False:
        failed.append("two float32 runs with the same seed differ")
    if mixed and output_dtype != "float32":
        failed.append(f"the output layer computes in {output_dtype} under mixed precision")
    return result, failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["ResNet50", "DenseNet121"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--layers", type=int, default=20, help="trainable last base layers of the cached side")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for a CPU: CompactCNN, 32 px, batch 4")
    args = parser.parse_args(argv)
    if args.smoke:
        args.arch, args.size, args.batch, args.steps, args.layers = ["CompactCNN"], 32, 4, 1, 5
    from astrotune import backend

    print(json.dumps({"versions": backend.versions(), "gpu": backend.gpu_present(), "anchor": ANCHOR}), flush=True)
    failures = []
    for arch, mixed, xla in itertools.product(args.arch, (False, True), (False, True)):
        result, failed = check_variant(arch, args, mixed, xla)
        print(json.dumps(result | {"failed": failed}), flush=True)
        failures += [f"{arch} mixed_precision={mixed} xla={xla}: {reason}" for reason in failed]
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print("gpu_check: " + ("all checks passed" if not failures else f"{len(failures)} check(s) failed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
