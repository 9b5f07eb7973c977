"""Figures of the study: accuracy vs trainable layers, validation-accuracy training curves."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from astrotune.io import atomic_path  # noqa: E402


def accuracy_vs_layers(results, arch, path):
    """Validation accuracy (left axis) and trainable parameters (right axis) vs trainable layers.

    Args:
        results: DataFrame of one architecture with columns layers, val_accuracy, trainable_params.
    """
    results = results.sort_values("layers")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(results["layers"], 100 * results["val_accuracy"], "o-", color="tab:blue", label="validation accuracy")
    ax.set_xlabel("trainable layers (last N of the base)")
    ax.set_ylabel("validation accuracy (%)", color="tab:blue")
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


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
    plt.close(fig)
