"""Figures of the study: accuracy vs trainable layers, validation-accuracy training curves."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from astrotune.io import atomic_path  # noqa: E402
from astrotune.reporting.results import over_seeds, seeds_replicated  # noqa: E402


def accuracy_vs_layers(results, arch, path):
    """Validation accuracy (left axis) and trainable parameters (right axis) vs trainable layers; with
    several training seeds, the mean accuracy over seeds with their standard deviation as error bars.

    Args:
        results: DataFrame of one architecture's runs with columns layers, val_accuracy, trainable_params
            (and seed, one row per run, when the study has several seeds).
    """
    results = over_seeds(results).sort_values("layers")
    fig, ax = plt.subplots(figsize=(6, 4))
    label = "validation accuracy (%)"
    if seeds_replicated(results):
        label += f", mean ± std over {results['n_seeds'].max()} seeds"
        ax.errorbar(results["layers"], 100 * results["val_accuracy_seed_mean"],
                    yerr=100 * results["val_accuracy_seed_std"], fmt="o-", capsize=3, color="tab:blue", label=label)
    else:
        ax.plot(results["layers"], 100 * results["val_accuracy"], "o-", color="tab:blue", label=label)
    ax.set_xlabel("trainable layers (last N of the base)")
    ax.set_ylabel(label, color="tab:blue")
    params = ax.twinx()
    params.plot(results["layers"], results["trainable_params"], "s--", color="tab:orange",
                label="trainable parameters")
    params.set_ylabel("trainable parameters", color="tab:orange")
    params.set_yscale("log")
    ax.set_title(f"{arch}: accuracy vs trainable layers")
    fig.tight_layout()
    _save(fig, path)


def training_curves(histories, arch, path):
    """Validation accuracy per epoch, one line per trainable-layer count.

    Args:
        histories: dict layers -> history DataFrame with columns epoch, val_accuracy.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for layers in sorted(histories):
        history = histories[layers]
        ax.plot(history["epoch"], 100 * history["val_accuracy"], marker=".", label=f"{layers} layers")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{arch}: training curves")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    _save(fig, path)


def confusion_matrices(metrics, title, path):
    """Counts and row-normalised confusion matrices, one pair of panels per evaluated subset.

    Args:
        metrics: a model's metrics JSON (subsets ``val``/``test`` with confusion_matrix, class_names).
    """
    import numpy as np

    subsets = [name for name in ("val", "test") if name in metrics]
    fig, axes = plt.subplots(len(subsets), 2, figsize=(9, 4 * len(subsets)), squeeze=False)
    for row, subset in zip(axes, subsets):
        counts = np.asarray(metrics[subset]["confusion_matrix"], dtype=float)
        names = metrics[subset]["class_names"]
        totals = counts.sum(axis=1, keepdims=True)
        normalised = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        for ax, values, kind, fmt in ((row[0], counts, "counts", "{:.0f}"),
                                      (row[1], normalised, "row-normalised", "{:.2f}")):
            image = ax.imshow(values, cmap="Blues", vmin=0, vmax=values.max() or 1)
            for (i, j), value in np.ndenumerate(values):
                ax.text(j, i, fmt.format(value), ha="center", va="center",
                        color="white" if value > 0.6 * (values.max() or 1) else "black", fontsize="small")
            ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
            ax.set_yticks(range(len(names)), names)
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")
            ax.set_title(f"{subset} ({int(counts.sum())} objects): {kind}", fontsize="medium")
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def explanation_grid(images, maps, captions, column_titles, map_name, path, explained=None):
    """Rows of models; per image three columns: original, map, map over the original.

    Args:
        images: (N, H, W, 3) uint8, the same for every row.
        maps: dict row label -> (N, H, W) maps in 0..1.
        captions: per image, a caption for the column header (e.g. its id and true class).
        column_titles: titles of the three columns, e.g. ("original", "Grad-CAM", "overlay").
        map_name: what the maps are, for the figure title.
        explained: dict row label -> per image, the name of the class the map explains.
    """
    rows, n = list(maps), len(images)
    fig, axes = plt.subplots(len(rows), 3 * n, figsize=(1.3 * 3 * n, 1.4 * len(rows) + 0.8), squeeze=False)
    for r, label in enumerate(rows):
        for i in range(n):
            panels = axes[r, 3 * i:3 * i + 3]
            panels[0].imshow(images[i])
            panels[1].imshow(maps[label][i], cmap="inferno", vmin=0, vmax=1)
            panels[2].imshow(images[i])
            panels[2].imshow(maps[label][i], cmap="inferno", vmin=0, vmax=1, alpha=0.5)
            if explained:
                panels[1].set_xlabel(f"for {explained[label][i]}", fontsize="x-small", labelpad=1)
            for c, ax in enumerate(panels):
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{captions[i]}\n{column_titles[c]}" if c == 0 else column_titles[c],
                                 fontsize="x-small")
        axes[r, 0].set_ylabel(label, fontsize="x-small", rotation=0, ha="right", va="center")
    fig.suptitle(f"{map_name}: rows are models, three columns per validation image")
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
