"""One architecture's full trainable-layer schedule with the frozen-prefix feature cache and without.

Same data, seed and epochs for both sweeps (random initial weights, CPU); the cache is computed
first, then every step trains without the cache and right after with it. Prints:
  1. both accuracy tables (validation accuracy and loss of the last epoch per step);
  2. input-pipeline images/s against what the training step consumes, for images and cached tensors;
  3. the wall-time ratio of the whole schedule (cache computation included) as the LAST line.

Per-epoch times are given after warm-up: the first epoch of each step (tracing, tf.data autotuning)
is left out of the "epochs after warm-up" figure.

A cached step that falls back to full training stops the script (its ratio would be meaningless).

Usage: .venv/bin/python benchmarks/sweep_cache.py [--arch DenseNet121] [--size 64] [--images 160]
       [--epochs 3] [--batch-size 32] [--layers 0 45]
The figures in the README: --size 512 --images 64 --epochs 8 (about 27 minutes on 2 cores), and the
same with --images 128 (about 53 minutes).
The peak memory of a streamed training is measured by benchmarks/streaming_memory.py.
"""

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from astrotune.data.store import PackedDataset, write_dataset

N_CLASSES = 3


def synthetic_problem(n, size, seed=0):
    """Three separable classes of noisy blobs (extended, compact, compact and blue)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r2 = (xx**2 + yy**2)[None]
    width = np.where(labels == 0, size / 6, size / 20)[:, None, None]
    blob = np.exp(-r2 / (2 * width**2))
    colour = np.where(labels[:, None] == 2, [0.5, 0.8, 1.0], [1.0, 0.8, 0.6])
    images = 20 + 200 * blob[..., None] * colour[:, None, None, :] + rng.normal(0, 12, (n, size, size, 3))
    return np.clip(images, 0, 255).astype("uint8"), labels


def write_problem(path, images, labels):
    n = len(labels)
    write_dataset(path, PackedDataset(images, labels, np.array([f"o{i}" for i in range(n)], dtype=object),
                                      np.full(n, np.nan), np.full(n, np.nan), ["GALAXY", "STAR", "QSO"]))


class FallbackLog(logging.Handler):
    """Collects ``astrotune.training.loop``'s messages saying a step trained the full model instead of the cache."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        if "training the full model" in record.getMessage():
            self.messages.append(record.getMessage())


def train_step(arch, layers, images, labels, train_rows, val_rows, settings, folder, features=None):
    """Train one step; returns (table row, wall seconds, seconds of the epochs after the first).

    Raises:
        SystemExit: a cached step fell back to full training (the ratio would be wrong).
    """
    from astrotune.training.loop import train

    fallbacks = FallbackLog()
    train_log = logging.getLogger("astrotune.training.loop")
    train_log.setLevel(logging.INFO)
    train_log.addHandler(fallbacks)
    started = time.perf_counter()
    _, history, _ = train(images, labels, train_rows, val_rows, N_CLASSES, arch, layers, settings,
                          folder / f"L{layers}", f"{arch}-{layers}", features=features)
    wall = time.perf_counter() - started
    train_log.removeHandler(fallbacks)
    if features and fallbacks.messages:
        raise SystemExit(f"cached L={layers} trained the full model: {fallbacks.messages}")
    last = history.iloc[-1]
    row = {"layers": layers, "val_accuracy": round(float(last["val_accuracy"]), 4),
           "val_loss": round(float(last["val_loss"]), 4), "epoch_seconds": list(history["seconds"])}
    print(f"  {'cached' if features else 'full'} L={layers}: {wall:.1f} s, val_accuracy {row['val_accuracy']}, "
          f"epoch seconds {row['epoch_seconds']}")
    return row, wall, float(history["seconds"][1:].sum())


def sweeps(arch, schedule, images, labels, train_rows, val_rows, settings, folder, features):
    """Both sweeps, step by step: each step trains without the cache, then with it, so a change in the
    host's speed during the run weighs on both sides alike.

    Returns:
        {"full": (table, wall seconds, seconds after warm-up), "cached": (...)}; the cached wall time
        leaves out the cache computation.
    """
    steps = {"full": [], "cached": []}
    for layers in schedule:
        for side, cache in (("full", None), ("cached", features)):
            steps[side].append(train_step(arch, layers, images, labels, train_rows, val_rows, settings,
                                          folder / side, cache))
    return {side: (pd.DataFrame([row for row, _, _ in done]), sum(wall for _, wall, _ in done),
                   sum(warm for _, _, warm in done)) for side, done in steps.items()}


def pipeline_rate(source, order, onehot, batch_size, views=None, repeats=3):
    """Images per second the input pipeline delivers (no model), after one warm-up pass."""
    from astrotune.data.pipeline import epoch_dataset

    rates = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        for _ in epoch_dataset(source, order, onehot, batch_size, views=views):
            pass
        rates.append(len(order) / (time.perf_counter() - started))
    return float(np.median(rates[1:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="DenseNet121")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--images", type=int, default=160, help="images (75%% train, 25%% validation)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="the study default")
    parser.add_argument("--layers", type=int, nargs="+", help="a shorter schedule for a quick check "
                                                                "(default: the architecture's Table 3 schedule)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sys.stdout.reconfigure(line_buffering=True)

    import keras

    from astrotune.data.pipeline import Rows, epoch_order, open_rows
    from astrotune.io import sha256_file
    from astrotune.models.paper import SCHEDULES
    from astrotune.training.feature_cache import CacheFile, CacheKey, compute_features, open_cache
    from astrotune.training.runtime import use_threads
    from astrotune.training.settings import TrainingSettings

    use_threads(2)
    keras.utils.disable_interactive_logging()
    schedule = args.layers or SCHEDULES[args.arch]
    settings = TrainingSettings(epochs=args.epochs, batch_size=args.batch_size, learning_rate=1e-3, seed=42)
    images, labels = synthetic_problem(args.images, args.size)
    n_train = int(0.75 * len(labels))
    train_rows, val_rows = np.arange(n_train), np.arange(n_train, len(labels))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_problem(tmp / "dataset.h5", images, labels)
        print(f"{args.arch}, schedule {schedule}, {args.images} images of {args.size} px "
              f"({n_train} train / {len(val_rows)} validation), {args.epochs} epochs, batch {args.batch_size}, "
              "seed 42, CPU")

        started = time.perf_counter()
        cache = tmp / f"L{max(schedule)}.h5"
        compute_features(tmp / "dataset.h5", cache, args.arch, max(schedule), settings)
        cache_seconds = time.perf_counter() - started
        results = sweeps(args.arch, schedule, images, labels, train_rows, val_rows, settings, tmp,
                         CacheFile(str(cache), sha256_file(tmp / "dataset.h5"), max(schedule)))
        (full, full_wall, full_warm), (cached, cached_wall, cached_warm) = results["full"], results["cached"]
        cached_wall += cache_seconds

        for name, table in (("without cache (full model on images)", full), ("with feature cache", cached)):
            print(f"\nAccuracy table, {name}:")
            print(table.drop(columns="epoch_seconds").to_string(index=False))
        same = (full["val_accuracy"] == cached["val_accuracy"]).all()
        print(f"\nvalidation accuracies identical: {same}; "
              f"largest val_loss difference {np.abs(full['val_loss'] - cached['val_loss']).max():.2e}")
        epochs_after = len(schedule) * (args.epochs - 1)
        print(f"epochs after warm-up ({epochs_after} per sweep): without cache {full_warm:.1f} s, "
              f"with cache {cached_warm:.2f} s, ratio {full_warm / cached_warm:.1f}x")

        onehot = np.eye(N_CLASSES)[labels]
        order = epoch_order(train_rows, settings.seed, 0)
        image_rate = pipeline_rate(Rows([images]), order, onehot, args.batch_size)
        full_step = n_train * epochs_after / full_warm
        key = CacheKey(sha256_file(tmp / "dataset.h5"), args.arch, max(schedule), "none", 42, False, "float32")
        h5 = open_cache(cache, key)
        names = [name for name in h5 if name.startswith("tensor_")]
        feature_rate = pipeline_rate(open_rows(h5, names, 2048, views=True), order, onehot, args.batch_size)
        cached_step = n_train * epochs_after / cached_warm
        print(f"input pipeline, images: {image_rate:.0f} images/s; the full model's training consumes "
              f"{full_step:.0f} images/s (input {image_rate / full_step:.0f}x faster)")
        print(f"input pipeline, cached tensors: {feature_rate:.0f} images/s; the suffix's training consumes "
              f"{cached_step:.0f} images/s (input {feature_rate / cached_step:.1f}x faster)")
        print(f"cache computation: {cache_seconds:.1f} s for {args.images} images "
              f"({cache.stat().st_size / 2**20:.1f} MB)")

        print(f"whole schedule wall time: without cache {full_wall:.1f} s, with cache {cached_wall:.1f} s "
              f"(cache computation included)")
        print(f"wall-time ratio (without cache / with cache, {len(schedule)} steps): {full_wall / cached_wall:.1f}x")


if __name__ == "__main__":
    main()
