"""Predictions of a trained model and their classification metrics (scikit-learn).

Every image is predicted twice: as it is (view ``plain``) and as the mean over its 8 dihedral
views (test-time augmentation, view ``tta``); metrics are reported per subset for both.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix


VIEWS = ("plain", "tta")


def predictions_table(model, images, ids, labels, subset, class_names, view="plain", batch_size=64):
    """One row per image: id, subset, view, true and predicted label, and the class probabilities.

    Args:
        view: ``plain`` (the image as it is) or ``tta`` (mean over its 8 dihedral views).
    """
    from astrotune.models.augment import predict_tta

    if view not in VIEWS:
        raise ValueError(f"view {view!r} is not one of {', '.join(VIEWS)}")
    probabilities = (predict_tta(model, images, batch_size) if view == "tta"
                     else model.predict(images, batch_size=batch_size, verbose=0))
    table = pd.DataFrame({"id": ids, "subset": subset, "view": view, "label": labels,
                          "predicted": np.argmax(probabilities, axis=1)})
    for index, name in enumerate(class_names):
        table[f"p_{name}"] = probabilities[:, index]
    return table


def classification_metrics(true_labels, predicted_labels, class_names):
    """Accuracy, per-class and macro precision/recall/F1, and the confusion matrix."""
    labels = list(range(len(class_names)))
    report = classification_report(true_labels, predicted_labels, labels=labels, target_names=class_names,
                                   output_dict=True, zero_division=0)
    return {
        "n": int(len(true_labels)),
        "accuracy": float(accuracy_score(true_labels, predicted_labels)),
        "per_class": {name: report[name] for name in class_names},
        "macro": report["macro avg"],
        "confusion_matrix": confusion_matrix(true_labels, predicted_labels, labels=labels).tolist(),
        "class_names": list(class_names),
    }


def _by_subset_and_view(predictions):
    """(key, rows) per subset and view: keys ``val``, ``test`` (plain) and ``val_tta``, ``test_tta``."""
    for (subset, view), rows in predictions.groupby(["subset", "view"]):
        yield (subset if view == "plain" else f"{subset}_{view}"), rows


def subset_metrics(predictions, class_names):
    """Metrics per subset and view of a predictions table (keys as in ``_by_subset_and_view``)."""
    return {key: classification_metrics(rows["label"], rows["predicted"], class_names)
            for key, rows in _by_subset_and_view(predictions)}


def accuracy_intervals(predictions, n_bootstrap, confidence, seed):
    """Bootstrap confidence interval of the accuracy per subset and view of a predictions table.

    Returns:
        dict key -> :func:`astrotune.uncertainty.accuracy_interval` result.
    """
    from astrotune.uncertainty import accuracy_interval

    return {key: accuracy_interval(rows["label"], rows["predicted"], n_bootstrap, confidence, seed)
            for key, rows in _by_subset_and_view(predictions)}
