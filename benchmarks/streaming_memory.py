"""Peak memory of training on a data set streamed because it exceeds the in-memory budget.

Three runs of the same training (CompactCNN, 1 epoch, batch 32, the same number of training and
validation steps), each in its own process, peak RSS read from /proc/self/status (VmHWM):
  1. the large data set, streamed from its HDF5 file under ``--budget-mb``;
  2. the same data set held in memory (budget above its size);
  3. the model's own needs: a data set of 256 images held in memory, its training rows repeated so
     that the run takes as many steps as the other two.
Prints the three peaks, then whether the streamed run stayed within the budget plus the model's own
needs as the LAST line.

Usage: .venv/bin/python benchmarks/streaming_memory.py [--images 12000] [--size 64] [--budget-mb 16]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sweep_cache import synthetic_problem, write_problem  # noqa: E402

N_VALIDATION = 64
SMALL = 128
CHILD = """
import json, sys
import h5py, numpy as np
from astrotune.training.settings import ExactSpeedups, PerformanceSettings
from astrotune.data.pipeline import open_rows
from astrotune.data.store import read_dataset
from astrotune.training.settings import TrainingSettings
from astrotune.training.loop import train
from astrotune.training.runtime import use_threads
path, budget, n_steps_rows, n_val = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
use_threads(2)
dataset = read_dataset(path, with_images=False)
images = open_rows(h5py.File(path, "r"), ["images"], budget)
n = len(dataset.labels)
train_rows = np.resize(np.arange(n - n_val), n_steps_rows)  # repeated rows: as many steps as the large run
settings = TrainingSettings(epochs=1, batch_size=32, seed=1)
train(images, dataset.labels, train_rows, np.arange(n - n_val, n), 3, "CompactCNN", 0, settings,
      sys.argv[5], "memory", performance=PerformanceSettings(ExactSpeedups(memory_budget_mb=budget)))
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a child would report its parent's peak.
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"streamed": images.streamed, "peak_rss_mb": int(hwm.split()[1]) / 1024}))
"""


def peak_memory(path, budget_mb, train_rows, checkpoint_dir):
    """Peak RSS (MB) of one training in a fresh process, and whether its images were streamed."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(budget_mb), str(train_rows),
                          str(N_VALIDATION), str(checkpoint_dir)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=12000, help="images of the large data set")
    parser.add_argument("--size", type=int, default=64, help="their side in pixels")
    parser.add_argument("--budget-mb", type=float, default=16.0, help="in-memory budget of the streamed run")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images, labels = synthetic_problem(args.images, args.size, seed=1)
        write_problem(tmp / "large.h5", images, labels)
        write_problem(tmp / "small.h5", images[:SMALL], labels[:SMALL])
        del images
        size_mb = args.images * args.size**2 * 3 / 2**20
        train_rows = args.images - N_VALIDATION
        streamed = peak_memory(tmp / "large.h5", args.budget_mb, train_rows, tmp / "streamed")
        if not streamed["streamed"]:
            raise SystemExit(f"the {size_mb:.0f} MB data set was not streamed under {args.budget_mb} MB")
        held = peak_memory(tmp / "large.h5", 1e6, train_rows, tmp / "held")
        own = peak_memory(tmp / "small.h5", 1e6, train_rows, tmp / "own")
        print(f"CompactCNN, 1 epoch, batch 32, {train_rows} training rows and {N_VALIDATION} validation rows "
              f"per run; large data set {args.images} images of {args.size} px ({size_mb:.0f} MB)")
        print(f"peak RSS streamed under a {args.budget_mb:.0f} MB budget: {streamed['peak_rss_mb']:.0f} MB")
        print(f"peak RSS with the same data held in memory: {held['peak_rss_mb']:.0f} MB")
        print(f"peak RSS of the model's own needs ({SMALL} images in memory, same steps): {own['peak_rss_mb']:.0f} MB")
        above = streamed["peak_rss_mb"] - own["peak_rss_mb"]
        print(f"streamed run above the model's own needs: {above:.0f} MB; within the {args.budget_mb:.0f} MB "
              f"budget: {above <= args.budget_mb}")


if __name__ == "__main__":
    main()
