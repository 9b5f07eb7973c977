"""One pretraining job: the whole base of an architecture trained on the pretraining source data set.

``run_pretraining`` first refuses a source that shares objects with the study's data set
(``data.overlap``), then trains the classifier with every base layer trainable with the study's
training code (``loop.train``: seeded, balanced, resumable from per-epoch checkpoints; validated per
epoch only with early stopping), recalibrates its BatchNorm statistics on the training images
(``training.precise_batchnorm``: fine-tuning runs the frozen base in inference mode, on these
statistics), scores it on the source's validation split and writes the base's weights file
(``.weights.h5``, what ``zoo.build_base`` loads for weights ``pretrained``), its metrics, history
and provenance, atomically.
"""

import hashlib
import json
from dataclasses import asdict, dataclass

import h5py
import numpy as np

from astrotune.data.overlap import check_packed_files
from astrotune.data.pipeline import streamed_rows
from astrotune.data.store import read_dataset
from astrotune.data.subsets import read_split, subset_indices
from astrotune.io import atomic_path, sha256_file
from astrotune.jobs.digest import dataset_digest
from astrotune.training.checkpoints import remove_checkpoints, training_fingerprint
from astrotune.training.loop import model_summary, train
from astrotune.training.precise_batchnorm import recalibrate_batchnorm


@dataclass(frozen=True)
class PretrainOutputs:
    """Where a pretraining job writes: the base's weights, its metrics, provenance and history."""

    weights: str
    metrics: str
    provenance: str
    history: str


def validation_metrics(model, images, labels, rows, class_names, batch_size):
    """Accuracy of ``model`` on ``rows`` of the source, its majority-class baseline and the class counts."""
    if not len(rows):
        return {"n": 0, "accuracy": None, "majority": None}
    probabilities = model.predict(images.take(rows)[0], batch_size=batch_size, verbose=0)
    truth = np.asarray(labels)[rows]
    counts = np.bincount(truth, minlength=len(class_names))
    return {"n": int(len(rows)), "accuracy": float(np.mean(np.argmax(probabilities, axis=1) == truth)),
            "majority": float(counts.max() / counts.sum()),
            "class_counts": {name: int(n) for name, n in zip(class_names, counts)}}


def run_pretraining(source_path, split_path, target_path, arch, layers, settings, performance, checkpoint_dir,
                    outputs, provenance):
    """Pretrain ``arch``'s whole base on the source data set and write ``outputs``.

    Args:
        source_path, split_path: the source's packed data set and split CSV.
        target_path: the study's packed data set (only its ids and positions are read).
        arch, layers: the architecture and its base's layer count (every layer trains).
        settings: ``settings.TrainingSettings`` of the pretraining run; performance: ``PerformanceSettings``.
        checkpoint_dir: per-epoch checkpoints (removed once the outputs are written).
        outputs: ``PretrainOutputs``.
        provenance: ``pretrain_plan.pretrain_provenance`` (source, seed, config hashes, names).
    """
    from astrotune.models.cut import find_base
    from astrotune.models.zoo import save_atomically
    from astrotune.training.runtime import library_versions

    overlap = check_packed_files(source_path, target_path, provenance)  # before any training
    dataset = read_dataset(source_path, with_images=False)
    images = streamed_rows(h5py.File(source_path, "r"), ["images"], source=source_path)
    split = read_split(split_path)
    rows = {subset: subset_indices(dataset, split, subset, split_path) for subset in ("train", "val")}
    dataset_sha256 = dataset_digest(source_path)
    # Validation during training would score BatchNorm statistics that still trail the weights (NASNetMobile
    # read 0.25 at its last epoch, 0.87 once recalibrated) and choose nothing unless early stopping is on;
    # the source's validation split is scored once, after the recalibration.
    validated = rows["val"] if settings.early_stopping.patience else None
    model, history, state = train(
        images, dataset.labels, rows["train"], validated, n_classes=len(dataset.class_names), arch=arch,
        layers=layers, settings=settings, checkpoint_dir=checkpoint_dir,
        fingerprint=training_fingerprint(dataset_sha256, split_path, arch, layers, settings),
        features=None, performance=performance)
    batches = (images.take(np.sort(chunk))[0].astype(np.float32)
               for chunk in np.array_split(rows["train"], np.ceil(len(rows["train"]) / settings.batch_size)))
    recalibrated = recalibrate_batchnorm(model, batches)
    save_atomically(find_base(model).save_weights, outputs.weights)
    weights_sha256 = sha256_file(outputs.weights)
    val = validation_metrics(model, images, dataset.labels, rows["val"], dataset.class_names, settings.batch_size)
    metrics = model_summary(model, arch, layers, settings, state) | {
        "source": provenance["source"], "class_names": dataset.class_names, "val": val,
        "batchnorm_recalibrated_on": {"batches": recalibrated, "images": int(len(rows["train"]))},
        "weights_sha256": weights_sha256}
    record = provenance | {
        "arch": arch, "layers": layers, "dataset_sha256": dataset_sha256, "weights_sha256": weights_sha256,
        "settings_hash": hashlib.sha256(json.dumps(asdict(settings), sort_keys=True, default=str).encode())
        .hexdigest()[:16],
        "overlap": {"shared": len(overlap.shared), "by_id": len(overlap.by_id), "by_position": len(overlap.by_position)},
        "n_objects": len(dataset), "n_train": int(len(rows["train"])), "n_val": int(len(rows["val"])),
        **library_versions()}
    with atomic_path(outputs.history) as tmp:
        history.to_csv(tmp, index=False)
    with atomic_path(outputs.metrics) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    with atomic_path(outputs.provenance) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    remove_checkpoints(checkpoint_dir)
    return metrics
