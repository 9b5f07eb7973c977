"""Stratified, seeded train/val(/test) split of a packed data set."""

import pandas as pd
from sklearn.model_selection import train_test_split

from astrotune.errors import InputError


def stratified_split(ids, labels, val_fraction, test_fraction=0.0, seed=0, source="split"):
    """Assign every id to train, val or test, keeping class proportions.

    Returns:
        DataFrame with columns id, subset (train | val | test), sorted by id.
    """
    frame = pd.DataFrame({"id": list(ids), "label": list(labels)})
    counts = frame["label"].value_counts()
    if (counts < 2).any():
        rare = counts[counts < 2].index.tolist()
        raise InputError(source, f"labels {rare} have fewer than 2 objects; cannot stratify the split")
    try:
        n_test, n_val = round(test_fraction * len(frame)), round(val_fraction * len(frame))
        rest, test = _cut(frame, n_test, seed) if n_test else (frame, frame.iloc[:0])
        train, val = _cut(rest, n_val, seed)
    except ValueError as err:
        raise InputError(source, f"split.val_fraction/test_fraction: {err}") from err
    parts = [part.assign(subset=name) for name, part in (("train", train), ("val", val), ("test", test))]
    return pd.concat(parts)[["id", "subset"]].sort_values("id").reset_index(drop=True)


def _cut(frame, size, seed):
    return train_test_split(frame, test_size=size, stratify=frame["label"], random_state=seed)
