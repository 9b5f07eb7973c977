"""Packing throughput: JPEGs decoded at reduced size in the DCT domain against a full decode.

Writes ``--n`` JPEGs of ``--source-size`` px (real SDSS cutouts from ../shared/data upscaled, with
sky noise added so the JPEGs are as hard to decode as real 2048 px cutouts; generated sky when the
shared data is absent), then packs them twice at ``--image-size`` px with the same threads: once
with ``draft`` (DCT-domain reduction, then an exact Lanczos resize where needed) and once with a
full decode + Lanczos resize. Prints both throughputs, the pixel differences, and the ratio as the
last line (target: at least 3).

Usage: nice -n 15 .venv/bin/python benchmarks/pack_throughput.py [--n 24] [--threads 2]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from astrotune.data.manifest import write_manifest
from astrotune.data.pack import pack
from astrotune.data.store import read_dataset
from astrotune.io import sha256_file

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["GALAXY", "STAR", "QSO"]


def source_images(data, n, size, rng):
    """``n`` RGB uint8 arrays of ``size`` px: upscaled real cutouts plus sky noise, or generated sky."""
    cutouts = sorted((data / "sdss-dr16-cutouts-3k").rglob("*.jpg"))[:n] if data.is_dir() else []
    for i in range(n):
        if cutouts:
            base = np.asarray(Image.open(cutouts[i % len(cutouts)]).convert("RGB").resize(
                (size, size), Image.Resampling.BICUBIC), dtype=np.float32)
        else:
            yy, xx = np.mgrid[:size, :size]
            base = 20 + 200 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (2 * (size / 25) ** 2))
            base = np.repeat(base[..., None], 3, axis=-1)
        yield np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def write_inputs(folder, args):
    """The JPEGs and their manifest; returns the manifest path."""
    rng = np.random.default_rng(0)
    rows = []
    for i, pixels in enumerate(source_images(args.data, args.n, args.source_size, rng)):
        path = folder / "images" / f"o{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, "JPEG", quality=90)
        rows.append({"id": f"o{i:04d}", "ra": 0.0, "dec": 0.0, "class": CLASSES[i % 3], "status": "ok",
                     "path": f"images/o{i:04d}.jpg", "sha256": sha256_file(path)})
    write_manifest(rows, folder / "manifest.csv")
    return folder / "manifest.csv"


def timed_pack(manifest, folder, args, draft):
    """Seconds to pack, best of ``args.repeats``; returns (seconds, packed images)."""
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        pack([manifest], folder / "dataset.h5", folder / "skipped.csv", CLASSES, args.image_size, 0.0,
             threads=args.threads, draft=draft)
        best = min(best, time.perf_counter() - start)
    return best, read_dataset(folder / "dataset.h5").images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=24, help="number of JPEGs")
    parser.add_argument("--source-size", type=int, default=2048)
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = write_inputs(tmp, args)
        (tmp / "draft").mkdir()
        (tmp / "full").mkdir()
        full_s, full = timed_pack(manifest, tmp / "full", args, draft=False)
        draft_s, drafted = timed_pack(manifest, tmp / "draft", args, draft=True)

    difference = np.abs(full.astype(np.int16) - drafted.astype(np.int16))
    print(f"{args.n} JPEGs {args.source_size} px -> {args.image_size} px, {args.threads} thread(s), "
          f"best of {args.repeats}, HDF5 writing included")
    print(f"{'decoding':>26} {'seconds':>8} {'images/s':>9}")
    print(f"{'full decode + Lanczos':>26} {full_s:>8.2f} {args.n / full_s:>9.1f}")
    print(f"{'DCT draft (+ Lanczos)':>26} {draft_s:>8.2f} {args.n / draft_s:>9.1f}")
    print(f"difference from full decode: mean {difference.mean():.3f}, max {difference.max()} grey levels")
    print(f"ratio (DCT draft / full decode throughput, target >= 3): {full_s / draft_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
