"""Predictions of a trained model and their classification metrics (scikit-learn)."""

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix


def predictions_table(model, images, ids, labels, subset, class_names, batch_size=64):
    """One row per image: id, subset, true and predicted label, and the class probabilities."""
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    table = pd.DataFrame({"id": ids, "subset": subset, "label": labels,
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


def subset_metrics(predictions, class_names):
    """Metrics per subset (val, test) of a predictions table."""
    return {subset: classification_metrics(rows["label"], rows["predicted"], class_names)
            for subset, rows in predictions.groupby("subset")}


def accuracy_intervals(predictions, n_bootstrap, confidence, seed):
    """Bootstrap confidence interval of the accuracy per subset (val, test) of a predictions table.

    Returns:
        dict subset -> :func:`astrotune.uncertainty.accuracy_interval` result.
    """
    from astrotune.uncertainty import accuracy_interval

    return {subset: accuracy_interval(rows["label"], rows["predicted"], n_bootstrap, confidence, seed)
            for subset, rows in predictions.groupby("subset")}
