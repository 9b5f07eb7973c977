"""Which design classifies the 3,000 real SDSS cutouts best, chosen on validation balanced accuracy.

Each design is a study config (one snakemake run, its own results/<dataset>/), all on the same cutouts,
split (70:15:15, seed 42), balancing, augmentation and schedule:
- scratch: CompactCNN from random weights on the central 48 px (config/studies/sdss_real_cutouts.yaml);
- pretrained: CompactCNN pretrained on a synthetic sky rendered like the cutouts, then fine-tuned
  (sdss_real_cutouts_pretrained.yaml);
- deeper: ResNet50 (177 layers) from random weights on the same 48 px (sdss_real_cutouts_resnet50.yaml);
- full field: CompactCNN on the whole 128 px cutout (sdss_real_cutouts_full_field.yaml).
Every study picks its own model on validation balanced accuracy (tables.selection_metric). This script
prints each design's chosen model with its validation scores, then picks the design with the highest
validation balanced accuracy and prints the test scores of that design alone: the test split is read
once, for the design the validation chose.

Usage: .venv/bin/python benchmarks/real_cutouts_comparison.py [--collect] [--cores 2] [--design NAME ...]
(--collect reads finished studies without running snakemake).
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from astrotune.reporting.results import select_best

ROOT = Path(__file__).resolve().parents[1]
DESIGNS = {"scratch": "sdss_real_cutouts.yaml", "pretrained": "sdss_real_cutouts_pretrained.yaml",
           "deeper": "sdss_real_cutouts_resnet50.yaml", "full field": "sdss_real_cutouts_full_field.yaml"}


def run_study(config, cores):
    """Run one study's workflow to its end (what is up to date is not rerun)."""
    subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--cores", str(cores), "--configfile",
                    str(config)], cwd=ROOT, check=True)


def chosen_model(config):
    """The study's model chosen on validation balanced accuracy (a ``select_best`` row with ``arch``)."""
    dataset = yaml.safe_load(config.read_text())["dataset"]["name"]
    summary = pd.read_csv(ROOT / "results" / dataset / "metrics" / "summary.csv")
    best = select_best(summary, "balanced_accuracy").reset_index()
    return best.sort_values("val_balanced_accuracy_seed_mean", ascending=False, kind="stable").iloc[0]


def interval(row, subset):
    return (f"{row[f'{subset}_balanced_accuracy']:.3f} [{row[f'{subset}_balanced_ci_low']:.3f}, "
            f"{row[f'{subset}_balanced_ci_high']:.3f}]")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collect", action="store_true", help="read finished studies, run nothing")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--design", nargs="+", choices=list(DESIGNS), default=list(DESIGNS))
    args = parser.parse_args()
    rows = {}
    for design in args.design:
        config = ROOT / "config" / "studies" / DESIGNS[design]
        if not args.collect:
            run_study(config, args.cores)
        rows[design] = chosen_model(config)
    print("| design | chosen model | val balanced accuracy [95% CI] | val accuracy | val accuracy, 8-view TTA |")
    print("|---|---|---|---|---|")
    for design, row in rows.items():
        print(f"| {design} | {row['arch']} L{int(row['layers'])} ({row['weights_origin']}) | {interval(row, 'val')} "
              f"| {row['val_accuracy']:.3f} | {row['val_accuracy_tta']:.3f} |")
    winner = max(rows, key=lambda design: rows[design]["val_balanced_accuracy_seed_mean"])
    row = rows[winner]
    print(f"\nchosen on validation: {winner}; its test split, scored once: balanced accuracy {interval(row, 'test')}, "
          f"accuracy {row['test_accuracy']:.3f}, with 8-view TTA {row['test_accuracy_tta']:.3f}")


if __name__ == "__main__":
    main()
